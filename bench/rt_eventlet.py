"""eventlet, with its own primitives and no monkey-patching."""

import time
import warnings

with warnings.catch_warnings():           # "Eventlet is deprecated"
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet.event import Event
    from eventlet.queue import LightQueue

from bench.common import (PARK_SECONDS, clock, late_since, rss_bytes,
                          timer_delays_ms)


def _noop():
    pass


def _wait_own_event():
    Event().wait()


def _sleep_long():
    eventlet.sleep(PARK_SECONDS)


PARK = {"wait": _wait_own_event, "sleep": _sleep_long}


def _start_parked(n, park):
    gts = [eventlet.spawn(park) for _ in range(n)]
    eventlet.sleep(0)             # let every one of them start and park
    return gts


def _joinall(gts):
    for gt in gts:
        gt.wait()


def bench_spawn(n):
    """The group shape: eventlet's group is a GreenPool."""
    t0 = time.perf_counter()
    pool = eventlet.GreenPool(n)
    for _ in range(n):
        pool.spawn(_noop)
    pool.waitall()
    return time.perf_counter() - t0


def bench_spawn_handles(n):
    t0 = time.perf_counter()
    _joinall([eventlet.spawn(_noop) for _ in range(n)])
    return time.perf_counter() - t0


def bench_spawn_alive(n):
    gate = Event()
    t0 = time.perf_counter()
    gts = _start_parked(n, gate.wait)
    gate.send()
    _joinall(gts)
    return time.perf_counter() - t0


def _pong(a, b):
    while True:
        b.put(a.get())


def bench_pingpong(n):
    a, b = LightQueue(0), LightQueue(0)       # maxsize 0: a channel
    eventlet.spawn(_pong, a, b)
    t0 = time.perf_counter()
    for i in range(n):
        a.put(i)
        b.get()
    return time.perf_counter() - t0


def _yielder(n):
    for _ in range(n):
        eventlet.sleep(0)


def bench_yield(n):
    t0 = time.perf_counter()
    _joinall([eventlet.spawn(_yielder, n) for _ in range(10)])
    return time.perf_counter() - t0


def bench_timers(n):
    lateness = []

    def sleeper(ms):
        t0 = clock()
        eventlet.sleep(ms / 1e3)
        lateness.append(late_since(t0, ms / 1e3))

    t0 = time.perf_counter()
    _joinall([eventlet.spawn(sleeper, ms) for ms in timer_delays_ms(n)])
    return time.perf_counter() - t0, sum(lateness) / n


def bench_cancel(n, shape):
    gts = _start_parked(n, PARK[shape])
    t0 = time.perf_counter()
    for gt in gts:
        gt.kill()                 # kill() returns once it has exited
    return time.perf_counter() - t0


def bench_idle(n, shape):
    before = rss_bytes()
    _start_parked(n, PARK[shape])
    return rss_bytes() - before


def _forward(i, q, out):
    while True:
        out.put((i, q.get()))


def bench_choose(n):
    """eventlet has no select over queues: fan the 8 queues in to one."""
    chans, out = [LightQueue(0) for _ in range(8)], LightQueue(0)
    forwarders = [eventlet.spawn(_forward, i, q, out) for i, q in enumerate(chans)]

    def feeder():
        for i in range(n):
            chans[i & 7].put(i)
    eventlet.spawn(feeder)
    t0 = time.perf_counter()
    for _ in range(n):
        out.get()
    elapsed = time.perf_counter() - t0
    for gt in forwarders:
        gt.kill()
    return elapsed


def _echo_conn(sock, _addr):
    while True:
        data = sock.recv(65536)
        if not data:
            break
        sock.sendall(data)


def bench_echo(ready):
    """Serve TCP echo forever; call ``ready(port)`` once listening."""
    server = eventlet.listen(("127.0.0.1", 0))
    ready(server.getsockname()[1])
    eventlet.serve(server, _echo_conn, concurrency=1000)
