"""No leaks: go/hclose, channel and bundle loops leave memory flat and no
greenlets beyond the bounded idle worker pool.  (Bookkeeping checks use dill's
internals: dill._hub.IDLE_MAX, the hub's timer heap.)"""

import gc
import tracemalloc

import greenlet
import pytest

import dill
from dill import _hub, bundle, chmake, chrecv, go, hclose, msleep, now, yield_

N = 100_000


def _greenlets():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet))


def _body():
    yield_()


def _traced_growth(cycle, n):
    """Bytes of traced memory still allocated after a second batch of n cycles."""
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(n):
            cycle()
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(n):
            cycle()
        gc.collect()
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return second - first


def test_100k_go_hclose_cycles_leave_no_greenlets():
    base = _greenlets()
    for _ in range(N):
        hclose(go(_body))
    for _ in range(N // 10):
        hclose(go(msleep, -1))  # canceled while blocked
    assert _greenlets() <= base + 2


def _in_fresh_thread(fn):
    """Run fn() on a new OS thread (a fresh hub); re-raise its exception."""
    import threading
    out = {}

    def main():
        try:
            out["result"] = fn()
        except BaseException as e:  # pragma: no cover - re-raised below
            out["error"] = e

    t = threading.Thread(target=main)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    return out.get("result")


@pytest.fixture
def small_pool(monkeypatch):
    """A small idle-worker pool, so bursts beyond it stay cheap to test."""
    monkeypatch.setattr(_hub, "IDLE_MAX", 300)
    monkeypatch.setattr(_hub, "IDLE_KEEP", 40)
    monkeypatch.setattr(_hub, "IDLE_TRIM", 16)


def test_idle_pool_is_trimmed_while_the_hub_sleeps(small_pool):
    b = bundle()
    for _ in range(250):
        b.go(msleep, -1)
    hclose(b)
    hub = _hub.get_hub()
    assert len(hub.idle) >= 200  # the burst's workers wait for reuse
    msleep(now() + 20)  # idle time: the hub trims between polls
    assert len(hub.idle) == _hub.IDLE_KEEP


def test_trimming_does_not_delay_a_due_timer(small_pool):
    b = bundle()
    for _ in range(250):
        b.go(msleep, -1)
    hclose(b)
    start = now()
    msleep(now() + 5)
    assert now() - start < 200
    assert len(_hub.get_hub().idle) < 250


def test_idle_worker_pool_is_bounded(small_pool):
    msleep(now() + 1)  # see test_idle_pool_overflow_on_fresh_hub for the other case
    base = _greenlets()
    n = _hub.IDLE_MAX + 500
    crs = [go(msleep, -1) for _ in range(n)]
    assert _greenlets() >= n  # each running coroutine has a greenlet
    for cr in crs:
        hclose(cr)
    after = _greenlets()
    assert after <= base + _hub.IDLE_MAX + 2
    assert len(_hub.get_hub().idle) <= _hub.IDLE_MAX


def test_idle_pool_overflow_on_fresh_hub(small_pool):
    # On a fresh hub whose root never slept (the hub's loop greenlet has not
    # started yet), the first worker that exits with the idle pool full must
    # not break the scheduler.
    def scenario():
        crs = [go(msleep, -1) for _ in range(_hub.IDLE_MAX + 1)]
        for cr in crs:
            hclose(cr)
        b = bundle()
        for _ in range(_hub.IDLE_MAX + 1):
            b.go(msleep, -1)
        hclose(b)
        msleep(now() + 1)
        return len(_hub.get_hub().idle)

    assert _in_fresh_thread(scenario) == _hub.IDLE_MAX


def test_closed_coroutine_holds_no_greenlet():
    cr = go(msleep, -1)
    assert cr._task.greenlet is not None
    hclose(cr)
    assert cr._task.greenlet is None
    cr = go(lambda: None)
    assert cr._task.greenlet is None  # finished: released at once
    hclose(cr)


def test_go_hclose_memory_flat():
    def cycle():
        hclose(go(_body))

    for _ in range(1000):  # warm up the pool
        cycle()
    assert _traced_growth(cycle, 20_000) < 100_000


def test_100k_channels_memory_flat():
    for _ in range(N):
        a, b = chmake()
        hclose(a)
        hclose(b)

    def cycle():
        a, b = chmake(1)
        dill.chsend(a, "x", 0)
        hclose(a)
        hclose(b)

    assert _traced_growth(cycle, 20_000) < 100_000


def test_100k_bundles_memory_flat():
    for _ in range(N // 2):
        b = bundle()
        b.go(_body)
        hclose(b)

    def cycle():
        b = bundle()
        b.go(msleep, -1)
        hclose(b)

    assert _traced_growth(cycle, 10_000) < 100_000


def test_failed_coroutines_do_not_accumulate():
    def boom():
        raise ValueError("x")

    def cycle():
        cr = go(boom)
        try:
            hclose(cr)
        except ValueError:
            pass

    assert _traced_growth(cycle, 10_000) < 100_000


def test_timer_heap_does_not_grow_with_abandoned_deadlines():
    hub = _hub.get_hub()
    a, b = chmake()
    far = now() + 10_000_000
    for _ in range(20_000):
        # a wait with a far deadline that ends early (canceled) leaves a dead
        # timer entry behind; the heap must be compacted.
        hclose(go(chrecv, a, far))
    assert hub.ntimers <= 2 * _hub.DEAD_TIMERS_MAX + 10
    hclose(a)
    hclose(b)


def test_dead_timer_count_stays_exact_across_sweeps():
    """Sleepers that still wait when the heap is swept keep their entries; woken
    later (canceled), each entry is dead and must be counted once.  A count
    that falls behind makes the blocking detector take dead entries for armed
    timers (a computing root reported as starving coroutines)."""
    hub = _hub.get_hub()
    uncounted = hub.ntimers - hub.dead_timers
    far = now() + 10_000_000
    with bundle() as keep:
        for _ in range(100):
            keep.go(msleep, far)             # live through the sweeps below
        entries_before = hub.ntimers
        for _ in range(3 * _hub.DEAD_TIMERS_MAX):
            hclose(go(msleep, far))          # dead entries: a sweep happens
        assert hub.ntimers < entries_before + 3 * _hub.DEAD_TIMERS_MAX
    # The 100 were woken by the cancel, after the sweep: all entries are dead.
    assert not any(t.waiting and t.epoch == e for _, t, e in hub.armed_timers())
    assert hub.ntimers - hub.dead_timers <= uncounted


def test_fd_state_released_by_fdclean():
    import socket
    hub = _hub.get_hub()
    before = len(hub.fdwaits)
    for _ in range(200):
        s0, s1 = socket.socketpair()
        dill.fdout(s0, 0)
        try:
            dill.fdin(s0, 0)
        except dill.TimedOut:
            pass
        dill.fdclean(s0)
        dill.fdclean(s1)
        s0.close()
        s1.close()
    assert len(hub.fdwaits) == before


def test_threads_that_used_fd_waits_leak_no_file_descriptors():
    # Each thread's hub owns a poller (an epoll fd on Linux); when the thread
    # ends, its hub's OS resources must be released.
    import os
    import socket
    import threading

    s0, s1 = socket.socketpair()
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):  # pragma: no cover - non-Linux
        import pytest
        pytest.skip("needs /proc/self/fd")

    def thread_main():
        dill.fdout(s0, 0)
        dill.fdclean(s0)
        msleep(now() + 1)

    def run_threads(n):
        for _ in range(n):
            t = threading.Thread(target=thread_main)
            t.start()
            t.join(10)

    run_threads(2)  # warm-up
    gc.collect()
    before = len(os.listdir(fd_dir))
    run_threads(20)
    gc.collect()
    after = len(os.listdir(fd_dir))
    s0.close()
    s1.close()
    assert after - before < 5, f"{after - before} fds leaked by 20 finished threads"


def _until_done(ch):
    try:
        chrecv(ch)
    except dill.Done:
        pass


def test_bundle_groups_are_unlisted_when_their_bundles_end():
    """hub.groups lists a bundle's group while the bundle is open or a member
    runs (the tools find bundle members there): closed, collected, or
    collected with a member still running, until that member exits."""
    hub = _hub.get_hub()
    before = len(hub.groups)
    for _ in range(100):
        with bundle() as b:
            b.go(yield_)
            assert b._group in hub.groups
    for _ in range(100):
        b = bundle()
        b.go(len, ())
        del b  # collected, nothing running: unlisted at once
    assert len(hub.groups) == before
    ch, theirs = chmake()
    b = bundle()
    b.go(_until_done, theirs)
    with pytest.warns(ResourceWarning):
        del b
        gc.collect()
    assert len(hub.groups) == before + 1  # its member still runs, and shows
    assert [t.op for t in hub.all_tasks() if t.fn is _until_done] == ["chrecv"]
    dill.chdone(ch)
    yield_()  # the member sees Done and exits: its group is unlisted
    assert len(hub.groups) == before
    assert not [t for t in hub.all_tasks() if t.fn is _until_done]
    hclose(ch)
    hclose(theirs)


def test_a_parked_worker_keeps_no_failure_alive():
    """Once a bundle's failure was raised and dropped, nothing keeps it: not
    the worker greenlet that ran the member, parked in the idle pool."""
    import weakref

    class Boom(Exception):
        pass

    refs = []

    def fail():
        e = Boom()
        refs.append(weakref.ref(e))
        raise e

    b = bundle()
    b.go(fail)
    try:
        hclose(b)
    except Exception as group:  # the ExceptionGroup of the member's failure
        assert isinstance(group.exceptions[0], Boom)
    else:
        pytest.fail("hclose did not raise the member's failure")
    gc.collect()
    assert refs[0]() is None
