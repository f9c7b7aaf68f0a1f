"""gevent, with its own primitives and no monkey-patching."""

import time

import gevent
from gevent.queue import Channel
from gevent.server import StreamServer

from bench.common import rss_bytes, timer_delays_ms

PARK_SECONDS = 24 * 3600


def _noop():
    pass


def bench_spawn(n):
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(_noop) for _ in range(n)])
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
        t = time.perf_counter()
        gevent.sleep(ms / 1e3)
        lateness.append(time.perf_counter() - t - ms / 1e3)

    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(sleeper, ms) for ms in timer_delays_ms(n)])
    return time.perf_counter() - t0, sum(lateness) / n


def _park_all(n):
    gs = [gevent.spawn(gevent.sleep, PARK_SECONDS) for _ in range(n)]
    gevent.sleep(0)               # let every one of them start and park
    return gs


def bench_cancel(n):
    gs = _park_all(n)
    t0 = time.perf_counter()
    gevent.killall(gs, block=True)
    return time.perf_counter() - t0


def bench_idle(n):
    before = rss_bytes()
    _park_all(n)
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
