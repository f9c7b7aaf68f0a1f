"""dill: the workloads written the way SPEC.md (libdill's guide) writes them."""

import time

from dill import (CHRECV, Done, bundle, bundle_wait, chmake, chrecv,
                  chsend, choose, go, hclose, msleep, now, yield_)

from bench.common import ECHO_SIZE, rss_bytes, timer_delays_ms

SKIP = {}
try:                        # SPEC-NET: importable from dill (or dill.net)
    from dill import brecv, bsend, ipaddr_local, tcp_accept, tcp_listen
except ImportError:
    try:
        from dill.net import brecv, bsend, ipaddr_local, tcp_accept, tcp_listen
    except ImportError:
        SKIP["echo"] = "dill.tcp_listen missing (socket layer not in yet)"


def _noop():
    pass


def _park():
    msleep(-1)                    # sleep until canceled


def bench_spawn(n):
    t0 = time.perf_counter()
    with bundle() as b:
        for _ in range(n):
            b.go(_noop)
        bundle_wait(b)
    return time.perf_counter() - t0


def _pong(ch):
    while True:
        chsend(ch, chrecv(ch))


def bench_pingpong(n):
    a, b = chmake()
    with go(_pong, b):
        t0 = time.perf_counter()
        for i in range(n):
            chsend(a, i)
            chrecv(a)
        return time.perf_counter() - t0


def _yielder(n):
    for _ in range(n):
        yield_()


def bench_yield(n):
    t0 = time.perf_counter()
    with bundle() as b:
        for _ in range(10):
            b.go(_yielder, n)
        bundle_wait(b)
    return time.perf_counter() - t0


def bench_timers(n):
    lateness = []

    def sleeper(ms):
        # Lateness is measured against the deadline dill was given, on
        # dill's own clock (monotonic ns // 1e6, checked below): ``now()``
        # is whole ms, so ``now() + ms`` may lie up to 1 ms short of "ms
        # from this instant", and measuring from perf_counter() would
        # credit dill with up to 1 ms it did not earn.
        deadline = now() + ms
        msleep(deadline)
        lateness.append(time.monotonic_ns() / 1e9 - deadline / 1e3)

    if abs(now() - time.monotonic_ns() // 1_000_000) > 1:
        raise RuntimeError("dill.now() is no longer time.monotonic_ns() in "
                           "ms: update bench_timers' lateness measurement")
    t0 = time.perf_counter()
    with bundle() as b:
        for ms in timer_delays_ms(n):
            b.go(sleeper, ms)
        bundle_wait(b)
    return time.perf_counter() - t0, sum(lateness) / n


def bench_cancel(n):
    b = bundle()
    for _ in range(n):
        b.go(_park)               # go() runs each until it parks
    t0 = time.perf_counter()
    hclose(b)
    return time.perf_counter() - t0


def bench_idle(n):
    before = rss_bytes()
    b = bundle()
    for _ in range(n):
        b.go(_park)
    return rss_bytes() - before


def _feeder(chans, n):
    for i in range(n):
        chsend(chans[i & 7], i)


def bench_choose(n):
    pairs = [chmake() for _ in range(8)]
    clauses = [(CHRECV, theirs) for _, theirs in pairs]
    with go(_feeder, [ours for ours, _ in pairs], n):
        t0 = time.perf_counter()
        for _ in range(n):
            choose(clauses)
        return time.perf_counter() - t0


def _echo_conn(s):
    try:
        while True:
            bsend(s, brecv(s, ECHO_SIZE))
    except (Done, ConnectionResetError):
        pass
    finally:
        hclose(s)


def bench_echo(ready):
    """Serve TCP echo forever; call ``ready(port)`` once listening."""
    ls = tcp_listen(ipaddr_local("127.0.0.1", 0))
    ready(ls.addr.port)
    with bundle() as b:
        while True:
            s, _ = tcp_accept(ls)
            b.go(_echo_conn, s)

