"""Raw greenlet: what a greenlet runtime costs with nothing on top.

A minimal hub (a ready deque, a heapq of timers, an epoll poller) and direct
``switch`` hand-offs.  No cancellation semantics, no error handling, no
greenlet reuse: only what each workload needs to run.  A runtime that reuses
greenlets, or switches from task to task without passing through the hub
loop, can beat it; everything else it does is overhead on top of this.
"""

import heapq
import itertools
import select
import socket
import time
from collections import deque

from greenlet import GreenletExit, getcurrent, greenlet

from bench.common import (PARK_SECONDS, clock, late_since, rss_bytes,
                          timer_delays_ms)


class Hub:
    """Runs ready greenlets FIFO; between passes fires timers and polls fds."""

    def __init__(self):
        self.ready = deque()        # (greenlet, args) to switch to
        self.timers = []            # heap of (when, seq, greenlet)
        self.seq = itertools.count()
        self.ep = select.epoll()
        self.fd_waiters = {}        # registered fd -> waiting greenlet or None
        self.g = greenlet(self.loop)

    def spawn(self, fn, *args):
        g = greenlet(fn, parent=self.g)
        self.ready.append((g, args))
        return g

    def park(self):
        """Block the current greenlet until something switches back to it."""
        return self.g.switch()

    def yield_(self):
        self.ready.append((getcurrent(), ()))
        self.g.switch()

    def sleep(self, seconds):
        heapq.heappush(self.timers, (time.monotonic() + seconds,
                                     next(self.seq), getcurrent()))
        self.g.switch()

    def register(self, fd):
        """Watch ``fd`` for readability for as long as it is open."""
        self.ep.register(fd, select.EPOLLIN)
        self.fd_waiters[fd] = None

    def unregister(self, fd):
        self.ep.unregister(fd)
        del self.fd_waiters[fd]

    def wait_readable(self, fd):
        self.fd_waiters[fd] = getcurrent()
        self.g.switch()

    def loop(self):
        ready, timers, fd_waiters = self.ready, self.timers, self.fd_waiters
        poll, now, heappop = self.ep.poll, time.monotonic, heapq.heappop
        while True:
            for _ in range(len(ready)):     # one pass: what was ready
                g, args = ready.popleft()
                g.switch(*args)
            timeout = -1
            if timers:
                t = now()
                while timers and timers[0][0] <= t:
                    ready.append((heappop(timers)[2], ()))
                if timers:
                    timeout = timers[0][0] - t
            if ready:
                timeout = 0
            if fd_waiters:
                for fd, _ in poll(timeout):
                    g = fd_waiters[fd]
                    if g is not None:
                        fd_waiters[fd] = None
                        ready.append((g, ()))
            elif timeout > 0:
                time.sleep(timeout)
            elif timeout < 0:
                raise RuntimeError("deadlock: nothing can ever run again")

    def run(self, main, *args):
        """Run ``main`` in a greenlet; return its result when it returns."""
        root = getcurrent()
        self.spawn(lambda: root.switch(main(*args)))
        return self.g.switch()


HUB = Hub()


class Channel:
    """A rendezvous channel; a sender hands its value straight to a waiting
    receiver with a direct ``switch``.  Receivers may be ``choose`` waiters."""

    def __init__(self):
        self.senders = deque()      # (greenlet, value)
        self.receivers = deque()    # (waiter, index); waiter = [greenlet|None]

    def send(self, value):
        receivers = self.receivers
        while receivers:
            waiter, index = receivers.popleft()
            g = waiter[0]
            if g is not None:           # skip waiters another channel served
                waiter[0] = None
                HUB.ready.append((getcurrent(), ()))
                g.switch((index, value))
                return
        self.senders.append((getcurrent(), value))
        HUB.park()

    def recv(self):
        return choose([self])[1]


def choose(channels):
    """Receive from the first of ``channels`` that has (or gets) a sender;
    return ``(index, value)``."""
    for i, ch in enumerate(channels):
        if ch.senders:
            g, value = ch.senders.popleft()
            HUB.ready.append((g, ()))
            return i, value
    waiter = [getcurrent()]
    for i, ch in enumerate(channels):
        ch.receivers.append((waiter, i))
    return HUB.park()


def _noop():
    pass


def _sleep_long():
    HUB.sleep(PARK_SECONDS)


PARK = {"wait": HUB.park, "sleep": _sleep_long}


def _start_parked(n, park):
    gs = [HUB.spawn(park) for _ in range(n)]
    HUB.yield_()                     # let every one of them run and park
    return gs


def _join(gs):
    for g in gs:                     # wait until each one is dead
        while not g.dead:
            HUB.yield_()


def bench_spawn(n):
    """No groups here: spawn all, join each (also the handles shape)."""
    def main():
        t0 = time.perf_counter()
        _join([HUB.spawn(_noop) for _ in range(n)])
        return time.perf_counter() - t0
    return HUB.run(main)


bench_spawn_handles = bench_spawn


def bench_spawn_alive(n):
    """Each parks with a bare switch; all are readied once all started."""
    def main():
        t0 = time.perf_counter()
        gs = _start_parked(n, HUB.park)
        HUB.ready.extend((g, ()) for g in gs)
        _join(gs)
        return time.perf_counter() - t0
    return HUB.run(main)


def bench_pingpong(n):
    def pong(a, b):
        while True:
            b.send(a.recv())

    def main():
        a, b = Channel(), Channel()
        HUB.spawn(pong, a, b)
        t0 = time.perf_counter()
        for i in range(n):
            a.send(i)
            b.recv()
        return time.perf_counter() - t0
    return HUB.run(main)


def bench_yield(n):
    def worker():
        for _ in range(n):
            HUB.yield_()

    def main():
        t0 = time.perf_counter()
        gs = [HUB.spawn(worker) for _ in range(10)]
        while not all(g.dead for g in gs):
            HUB.yield_()
        return time.perf_counter() - t0
    return HUB.run(main)


def bench_timers(n):
    lateness = []

    def sleeper(ms):
        t0 = clock()
        HUB.sleep(ms / 1e3)
        lateness.append(late_since(t0, ms / 1e3))

    def main():
        t0 = time.perf_counter()
        for ms in timer_delays_ms(n):
            HUB.spawn(sleeper, ms)
        while len(lateness) < n:
            HUB.sleep(0.001)
        return time.perf_counter() - t0, sum(lateness) / n
    return HUB.run(main)


def bench_cancel(n, shape):
    def main():
        gs = _start_parked(n, PARK[shape])
        me = getcurrent()
        t0 = time.perf_counter()
        for g in gs:
            g.parent = me            # so that its death switches back here
            g.throw(GreenletExit)
        return time.perf_counter() - t0
    return HUB.run(main)


def bench_idle(n, shape):
    def main():
        before = rss_bytes()
        gs = _start_parked(n, PARK[shape])  # held: an unreferenced greenlet dies
        delta = rss_bytes() - before
        del gs
        return delta
    return HUB.run(main)


def bench_choose(n):
    def feeder(chans):
        for i in range(n):
            chans[i & 7].send(i)

    def main():
        chans = [Channel() for _ in range(8)]
        HUB.spawn(feeder, chans)
        t0 = time.perf_counter()
        for _ in range(n):
            choose(chans)
        return time.perf_counter() - t0
    return HUB.run(main)


def bench_echo(ready):
    """Serve TCP echo forever; call ``ready(port)`` once listening."""
    def handle(conn):
        fd = conn.fileno()
        HUB.register(fd)
        while True:
            try:
                data = conn.recv(65536)
            except BlockingIOError:
                HUB.wait_readable(fd)
                continue
            if not data:
                break
            conn.send(data)          # 64 bytes always fit the send buffer
        HUB.unregister(fd)
        conn.close()

    def main():
        ls = socket.create_server(("127.0.0.1", 0), backlog=128)
        ls.setblocking(False)
        HUB.register(ls.fileno())
        ready(ls.getsockname()[1])
        while True:
            try:
                conn, _ = ls.accept()
            except BlockingIOError:
                HUB.wait_readable(ls.fileno())
                continue
            conn.setblocking(False)
            HUB.spawn(handle, conn)
    HUB.run(main)
