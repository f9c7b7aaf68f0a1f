"""pytest-benchmark micro-benchmarks of dill's hot paths.

Not part of the test suite (pytest's testpaths is tests/).  Run, save, and
compare across commits:

    pytest bench/ --benchmark-only --benchmark-autosave
    pytest bench/ --benchmark-only --benchmark-compare        # vs the last save
    pytest bench/ --benchmark-only --benchmark-compare=0001 --benchmark-compare-fail=mean:10%

Each benchmark's figure is the time of one call of the benchmarked function;
its docstring says what that call does.
"""

import pytest

pytest.importorskip("pytest_benchmark")
dill = pytest.importorskip("dill")
if not hasattr(dill, "go"):
    pytest.skip("dill core not importable yet", allow_module_level=True)

from dill import (CHRECV, Done, bundle, bundle_wait, chdone, chmake,  # noqa: E402
                  chrecv, chsend, choose, coroutine, go, hclose, msleep, now,
                  yield_)
from dill.net import (brecv, bsend, ipaddr_local, tcp_accept,  # noqa: E402
                      tcp_connect, tcp_listen)


def _noop():
    pass


@coroutine
def _noop_call():
    pass


def _park():
    msleep(-1)


def _park_until(deadline):
    msleep(deadline)


def _until_done(ch):
    try:
        chrecv(ch)
    except Done:
        pass


def _echo(s, size):
    """Echo ``size``-byte messages on dill socket ``s`` until the peer closes
    (or the coroutine is canceled); then close ``s``."""
    try:
        while True:
            bsend(s, brecv(s, size))
    except Done:
        pass
    finally:
        hclose(s)


def _forever(fn, *args):
    while True:
        fn(*args)


@pytest.fixture
def background():
    """Start helper coroutines in a bundle, closed after the benchmark."""
    b = bundle()
    yield b.go
    hclose(b)


def test_go_finished(benchmark):
    """go() a no-op callable that finishes at once, then hclose() it."""
    benchmark(lambda: hclose(go(_noop)))


def test_go_coroutine_call(benchmark):
    """go(@coroutine call) that finishes at once, then hclose() it."""
    benchmark(lambda: hclose(go(_noop_call())))


def test_go_wait(benchmark):
    """go() a no-op callable, then wait() on its handle (spawn_handles)."""
    benchmark(lambda: go(_noop).wait())


def test_go_wait_10k_alive(benchmark):
    """go() 10,000 no-op callables keeping every handle, then wait() on each:
    the spawn_handles shape, where the garbage collector walks every live
    task record and handle (the cost of a task's size and of its slots)."""
    def run():
        handles = [go(_noop) for _ in range(10_000)]
        for h in handles:
            h.wait()
    benchmark.pedantic(run, rounds=10, warmup_rounds=1)


def test_bundle_go(benchmark):
    """b.go() a no-op into a long-lived bundle (it finishes at once)."""
    with bundle() as b:
        benchmark(b.go, _noop)


def test_go_park_hclose(benchmark):
    """go() a coroutine that parks in msleep(-1), then cancel it: hclose()."""
    benchmark(lambda: hclose(go(_park)))


def test_go_chrecv_hclose(benchmark):
    """go() a coroutine that parks in chrecv() on its own channel, then
    cancel it: hclose() (the cancel_wait and idle*_wait shape)."""
    _, theirs = chmake()
    benchmark(lambda: hclose(go(chrecv, theirs)))


def test_spawn_alive_100(benchmark):
    """100 coroutines in a bundle, each blocked on one gate until all have
    started; chdone() opens it, bundle_wait() joins (spawn_alive)."""
    def run():
        gate, theirs = chmake()
        with bundle() as b:
            for _ in range(100):
                b.go(_until_done, theirs)
            chdone(gate)
            bundle_wait(b)
    benchmark(run)


def test_go_timer_hclose(benchmark):
    """go() a coroutine sleeping on a timer 1 h away, then hclose() it
    (timer armed, then removed)."""
    benchmark(lambda: hclose(go(_park_until, now() + 3_600_000)))


def test_pingpong_roundtrip(benchmark, background):
    """chsend() then chrecv() against an echoing coroutine: one round trip,
    i.e. two rendezvous hand-offs."""
    a, b = chmake()
    background(lambda: _forever(lambda: chsend(b, chrecv(b))))
    benchmark(lambda: (chsend(a, 1), chrecv(a)))


def test_buffered_send_recv(benchmark):
    """chsend() into a 1-slot channel, chrecv() it back: no switch at all."""
    a, b = chmake(1)
    benchmark(lambda: (chsend(a, 1), chrecv(b)))


def test_choose_ready(benchmark):
    """choose() over 8 buffered channels, the last one ready (no switch)."""
    pairs = [chmake(1) for _ in range(8)]
    clauses = [(CHRECV, theirs) for _, theirs in pairs]
    last = pairs[-1][0]
    benchmark(lambda: (chsend(last, 1), choose(clauses)))


def test_choose_handoff(benchmark, background):
    """choose() over 8 rendezvous channels fed round-robin by a sender."""
    pairs = [chmake() for _ in range(8)]
    clauses = [(CHRECV, theirs) for _, theirs in pairs]
    ours = [o for o, _ in pairs]

    def feeder():
        while True:
            for ch in ours:
                chsend(ch, 1)
    background(feeder)
    benchmark(choose, clauses)


def test_msleep_past(benchmark):
    """msleep() with a deadline already passed."""
    benchmark(lambda: msleep(now() - 1))


def test_timers_1000(benchmark):
    """1000 coroutines each msleep(now() + 1), joined: about 1 ms of sleep
    plus the cost of 1000 timers (spawn, arm, fire, finish)."""
    def run():
        with bundle() as b:
            for _ in range(1000):
                b.go(_park_until, now() + 1)
            bundle_wait(b)
    benchmark(run)


def test_sleepers_start_1000(benchmark):
    """go() 1000 coroutines into a bundle, each sleeping 1 h (none due: the
    pass check reads the clock instead of ticking), then hclose() the bundle."""
    def run():
        b = bundle()
        deadline = now() + 3_600_000
        for _ in range(1000):
            b.go(_park_until, deadline)
        hclose(b)
    benchmark(run)


def test_tcp_echo_roundtrip(benchmark, background):
    """bsend() 64 bytes on loopback TCP, brecv() them back from an echoing
    coroutine: each side's receive waits for its fd (the echo hot path:
    brecv, the fd wait, the poller's dispatch)."""
    ls = tcp_listen(ipaddr_local("127.0.0.1", 0))
    client = tcp_connect(ipaddr_local("127.0.0.1", ls.addr.port), now() + 5000)
    server, _ = tcp_accept(ls, now() + 5000)
    msg = b"x" * 64
    background(_echo, server, 64)
    try:
        benchmark(lambda: (bsend(client, msg), brecv(client, 64)))
    finally:
        hclose(client)
        hclose(ls)


def test_yield_alone(benchmark):
    """yield_() with no other coroutine ready: one pass through the hub."""
    benchmark(yield_)


def test_yield_pair(benchmark, background):
    """yield_() with one other coroutine looping on yield_(): two yields."""
    background(lambda: _forever(yield_))
    benchmark(yield_)
