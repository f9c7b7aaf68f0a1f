"""dill: the workloads written the way SPEC.md (libdill's guide) writes them."""

import time

from dill import (CHRECV, Done, bundle, bundle_wait, chdone, chmake, chrecv,
                  chsend, choose, go, hclose, msleep, now, yield_)

from bench.common import (ECHO_SIZE, PARK_SECONDS, late_since, rss_bytes,
                          timer_delays_ms)

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


def _wait_own_channel():
    _, theirs = chmake()          # the frame keeps both ends open
    chrecv(theirs)


def _sleep_long():
    msleep(now() + PARK_SECONDS * 1000)


PARK = {"wait": _wait_own_channel, "sleep": _sleep_long}


def _until_done(ch):
    try:
        chrecv(ch)
    except Done:
        pass


def _bundle_of(n, fn, *args, then=None):
    """Seconds to go() ``fn(*args)`` n times into a bundle, call ``then()``
    if given, and wait for the bundle."""
    t0 = time.perf_counter()
    with bundle() as b:
        for _ in range(n):
            b.go(fn, *args)       # go() runs each until it blocks or returns
        if then is not None:
            then()
        bundle_wait(b)
    return time.perf_counter() - t0


def bench_spawn(n):
    return _bundle_of(n, _noop)


def bench_spawn_handles(n):
    t0 = time.perf_counter()
    handles = [go(_noop) for _ in range(n)]
    for h in handles:
        h.wait()
    return time.perf_counter() - t0


def bench_spawn_alive(n):
    gate, theirs = chmake()
    return _bundle_of(n, _until_done, theirs, then=lambda: chdone(gate))


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
    return _bundle_of(10, _yielder, n)


def bench_timers(n):
    lateness = []

    def sleeper(ms):
        # msleep takes a deadline in whole ms of monotonic time (checked
        # below): the first whole ms at or after t0 + ms, so that dill, like
        # the others, is asked to wake no earlier than ms after t0.
        t0_ns = time.monotonic_ns()
        msleep(-(-t0_ns // 1_000_000) + ms)
        lateness.append(late_since(t0_ns / 1e9, ms / 1e3))

    if abs(now() - time.monotonic_ns() // 1_000_000) > 1:
        raise RuntimeError("dill.now() is no longer time.monotonic_ns() in "
                           "ms: update bench_timers' deadline")
    t0 = time.perf_counter()
    with bundle() as b:
        for ms in timer_delays_ms(n):
            b.go(sleeper, ms)
        bundle_wait(b)
    return time.perf_counter() - t0, sum(lateness) / n


def _start_parked(n, shape):
    b = bundle()
    for _ in range(n):
        b.go(PARK[shape])         # go() runs each until it parks
    return b


def bench_cancel(n, shape):
    b = _start_parked(n, shape)
    t0 = time.perf_counter()
    hclose(b)
    return time.perf_counter() - t0


def bench_idle(n, shape):
    before = rss_bytes()
    _start_parked(n, shape)
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

