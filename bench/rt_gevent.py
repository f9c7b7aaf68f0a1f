"""gevent, with its own primitives and no monkey-patching."""

import time

import gevent
from gevent.event import Event
from gevent.queue import Channel
from gevent.server import StreamServer

from bench.common import (PARK_SECONDS, clock, late_since, rss_bytes,
                          timer_delays_ms)


def _noop():
    pass


def _wait_own_event():
    Event().wait()


def _sleep_long():
    gevent.sleep(PARK_SECONDS)


PARK = {"wait": _wait_own_event, "sleep": _sleep_long}


def _start_parked(n, park):
    gs = [gevent.spawn(park) for _ in range(n)]
    gevent.sleep(0)               # let every one of them start and park
    return gs


def bench_spawn(n):
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(_noop) for _ in range(n)])
    return time.perf_counter() - t0


def bench_spawn_handles(n):
    t0 = time.perf_counter()
    for g in [gevent.spawn(_noop) for _ in range(n)]:
        g.join()
    return time.perf_counter() - t0


def bench_spawn_alive(n):
    gate = Event()
    t0 = time.perf_counter()
    gs = _start_parked(n, gate.wait)
    gate.set()
    gevent.joinall(gs)
    return time.perf_counter() - t0


def _pong(a, b):
    while True:
        b.put(a.get())


def bench_pingpong(n):
    a, b = Channel(), Channel()
    gevent.spawn(_pong, a, b)
    t0 = time.perf_counter()
    for i in range(n):
        a.put(i)
        b.get()
    return time.perf_counter() - t0


def _yielder(n):
    for _ in range(n):
        gevent.sleep(0)


def bench_yield(n):
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(_yielder, n) for _ in range(10)])
    return time.perf_counter() - t0


def bench_timers(n):
    lateness = []

    def sleeper(ms):
        t0 = clock()
        gevent.sleep(ms / 1e3)
        lateness.append(late_since(t0, ms / 1e3))

    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(sleeper, ms) for ms in timer_delays_ms(n)])
    return time.perf_counter() - t0, sum(lateness) / n


def bench_cancel(n, shape):
    gs = _start_parked(n, PARK[shape])
    t0 = time.perf_counter()
    gevent.killall(gs, block=True)
    return time.perf_counter() - t0


def bench_idle(n, shape):
    before = rss_bytes()
    _start_parked(n, PARK[shape])
    return rss_bytes() - before


def _forward(i, ch, out):
    while True:
        out.put((i, ch.get()))


def bench_choose(n):
    """gevent has no select over queues: fan the 8 channels in to one."""
    chans, out = [Channel() for _ in range(8)], Channel()
    forwarders = [gevent.spawn(_forward, i, ch, out) for i, ch in enumerate(chans)]

    def feeder():
        for i in range(n):
            chans[i & 7].put(i)
    gevent.spawn(feeder)
    t0 = time.perf_counter()
    for _ in range(n):
        out.get()
    elapsed = time.perf_counter() - t0
    gevent.killall(forwarders)
    return elapsed


def _echo_conn(sock, _addr):
    while True:
        data = sock.recv(65536)
        if not data:
            break
        sock.sendall(data)


def bench_echo(ready):
    """Serve TCP echo forever; call ``ready(port)`` once listening."""
    server = StreamServer(("127.0.0.1", 0), _echo_conn)
    server.start()
    ready(server.server_port)
    server.serve_forever()
