"""dill.green.threading / dill.green.thread / dill.green.time, without patching."""

from __future__ import annotations

import sys
import threading as real_threading
import time as real_time

import pytest

import dill
from dill import Canceled, go, hclose, msleep, now
from dill.green import thread as gthread
from dill.green import threading as gt
from dill.green import time as gtime

pytestmark = pytest.mark.timeout(60)


def spawn(fn, *args):
    return go(fn, *args)


def canceled_at(fn, settle=0.01):
    """Run fn in a coroutine, close it while it blocks; return what it raised."""
    out = []

    def body():
        try:
            fn()
            out.append("returned")
        except Canceled:
            out.append("canceled")

    h = go(body)
    gtime.sleep(settle)
    hclose(h)
    return out


# ----------------------------------------------------------------- Lock


@pytest.mark.parametrize("cls", [gt.Lock, gt.RLock])
def test_lock_excludes_and_wakes_fifo(cls):
    lock = cls()
    order = []

    def worker(i):
        with lock:
            order.append(("in", i))
            gtime.sleep(0.002)
            order.append(("out", i))

    hs = [go(worker, i) for i in range(4)]
    for h in hs:
        h.wait()
    assert order == [(k, i) for i in range(4) for k in ("in", "out")]


def test_lock_nonblocking_and_timeouts():
    lock = gt.Lock()
    assert lock.acquire()
    assert lock.locked()
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0) is False
    t0 = real_time.monotonic()
    assert lock.acquire(timeout=0.02) is False
    assert real_time.monotonic() - t0 >= 0.02
    t0 = real_time.monotonic()
    assert lock.acquire(True, 0.0001) is False  # sub-millisecond: rounded up, no spin
    assert real_time.monotonic() - t0 >= 0.0001
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()


def test_lock_bad_arguments():
    lock = gt.Lock()
    with pytest.raises(ValueError):
        lock.acquire(False, 1)
    with pytest.raises(ValueError):
        lock.acquire(timeout=-2)
    with pytest.raises(TypeError):
        lock.acquire(timeout="1")
    with pytest.raises(OverflowError):
        lock.acquire(timeout=1e300)
    assert not lock.locked()


def test_lock_release_from_other_coroutine_hands_over():
    lock = gt.Lock()
    lock.acquire()
    got = []
    h = go(lambda: got.append(lock.acquire(timeout=1)))
    assert got == []
    lock.release()
    h.wait()
    assert got == [True] and lock.locked()
    lock.release()


@pytest.mark.parametrize("cls", [gt.Lock, gt.RLock, gt.Semaphore])
def test_canceled_acquire(cls):
    lock = cls() if cls is not gt.Semaphore else cls(1)
    lock.acquire()
    assert canceled_at(lock.acquire) == ["canceled"]
    lock.release()
    # the lock still works, and is free
    assert lock.acquire(False)
    lock.release()


@pytest.mark.parametrize("cls", [gt.Lock, gt.RLock, gt.Semaphore])
def test_acquire_that_can_succeed_succeeds_when_canceled(cls):
    lock = cls()
    res = []

    def body():
        try:
            msleep(-1)
        except Canceled:
            res.append(lock.acquire())
            lock.release()
            try:
                gt.Lock().acquire()
                blocker = gt.Lock()
                blocker.acquire()
                blocker.acquire()
            except Canceled:
                res.append("canceled")

    h = go(body)
    hclose(h)
    assert res == [True, "canceled"]


def test_timeout_removes_waiter():
    lock = gt.Lock()
    lock.acquire()
    assert lock.acquire(timeout=0.005) is False
    got = []
    h = go(lambda: got.append(lock.acquire()))
    lock.release()
    h.wait()
    assert got == [True]


def test_rlock_reentrant_and_ownership():
    r = gt.RLock()
    assert r.acquire() and r.acquire()
    errs = []

    def other():
        try:
            r.release()
        except RuntimeError as e:
            errs.append(e)
        errs.append(r.acquire(False))

    go(other).wait()
    assert len(errs) == 2 and errs[1] is False
    r.release()
    r.release()
    with pytest.raises(RuntimeError):
        r.release()
    assert "unlocked" in repr(r)


# ------------------------------------------------------------ Condition


def test_condition_wait_notify():
    cond = gt.Condition()
    items = []
    got = []

    def consumer():
        with cond:
            while not items:
                cond.wait()
            got.append(items.pop())

    hs = [go(consumer) for _ in range(3)]
    for i in range(3):
        with cond:
            items.append(i)
            cond.notify()
        gtime.sleep(0)
    for h in hs:
        h.wait()
    assert sorted(got) == [0, 1, 2]


def test_condition_wait_timeout_and_errors():
    cond = gt.Condition(gt.Lock())
    with pytest.raises(RuntimeError):
        cond.wait()
    with pytest.raises(RuntimeError):
        cond.notify()
    with cond:
        assert cond.wait(0) is False
        assert cond.wait(-1) is False
        t0 = real_time.monotonic()
        assert cond.wait(0.01) is False
        assert real_time.monotonic() - t0 >= 0.01
        assert cond.wait_for(lambda: False, 0.005) is False
        assert cond.wait_for(lambda: 7) == 7
        with pytest.raises(TypeError):
            cond.wait("x")


@pytest.mark.parametrize("lockcls", [gt.Lock, gt.RLock])
def test_condition_canceled_reacquires_lock(lockcls):
    lock = lockcls()
    cond = gt.Condition(lock)
    state = []

    def waiter():
        with cond:
            try:
                cond.wait()
            except Canceled:
                state.append(("canceled", lock.locked() if lockcls is gt.Lock
                              else lock._is_owned()))
                raise

    h = go(waiter)
    # Hold the lock while the waiter is canceled: it must wait for it, uninterrupted.
    lock.acquire()
    closer = go(hclose, h)
    gtime.sleep(0.005)
    assert state == []
    lock.release()
    closer.wait()
    assert state == [("canceled", True)]
    assert not lock.locked() if lockcls is gt.Lock else lock._owner is None


def test_condition_canceled_before_wait():
    cond = gt.Condition()

    def body():
        try:
            msleep(-1)
        except Canceled:
            with cond:
                cond.wait()

    h = go(body)
    hclose(h)  # Canceled raised inside `with cond` - lock released again
    assert cond.acquire(False)
    cond.release()


def test_notify_skips_timed_out_waiters():
    cond = gt.Condition()
    got = []

    def short():
        with cond:
            got.append(("short", cond.wait(0.001)))

    def long():
        with cond:
            got.append(("long", cond.wait(1)))

    h1 = go(short)
    h2 = go(long)
    gtime.sleep(0.01)
    with cond:
        cond.notify()
    h1.wait()
    h2.wait()
    assert got == [("short", False), ("long", True)]


# ------------------------------------------------------------ Semaphore


def test_semaphore():
    s = gt.BoundedSemaphore(2)
    assert s.acquire() and s.acquire()
    assert s.acquire(False) is False
    assert s.acquire(timeout=0.002) is False
    assert s.acquire(timeout=0) is False
    assert s.acquire(timeout=-1) is False
    got = []
    h = go(lambda: got.append(s.acquire()))
    s.release()
    h.wait()
    assert got == [True]
    s.release(2)
    with pytest.raises(ValueError):
        s.release()
    with pytest.raises(ValueError):
        gt.Semaphore(-1)
    with pytest.raises(ValueError):
        s.acquire(False, 1)
    with pytest.raises(ValueError):
        s.release(0)
    u = gt.Semaphore(0)
    u.release(3)
    assert u._value == 3


# ----------------------------------------------------------------- Event


def test_event():
    e = gt.Event()
    assert e.wait(0) is False
    assert e.wait(-1) is False
    assert e.wait(0.002) is False
    got = []
    hs = [go(lambda: got.append(e.wait())) for _ in range(3)]
    e.set()
    for h in hs:
        h.wait()
    assert got == [True] * 3 and e.is_set()
    e.clear()
    assert not e.is_set()
    assert canceled_at(e.wait) == ["canceled"]
    e.set()

    def body():
        try:
            msleep(-1)
        except Canceled:
            got.append(e.wait())  # set: succeeds at once even canceled

    h = go(body)
    hclose(h)
    assert got[-1] is True


# --------------------------------------------------------------- Barrier


def test_barrier():
    b = gt.Barrier(3)
    got = []
    hs = [go(lambda: got.append(b.wait())) for _ in range(3)]
    for h in hs:
        h.wait()
    assert sorted(got) == [0, 1, 2]
    with pytest.raises(gt.BrokenBarrierError):
        b.wait(0.002)  # times out alone: breaks it
    assert b.broken
    b.reset()


def test_barrier_cancel_breaks_it():
    b = gt.Barrier(3)
    res = []

    def party():
        try:
            b.wait()
        except gt.BrokenBarrierError:
            res.append("broken")

    h = go(party)
    assert canceled_at(b.wait) == ["canceled"]
    h.wait()
    assert res == ["broken"] and b.broken


# ---------------------------------------------------------------- Thread


def test_thread_basics():
    out = []
    t = gt.Thread(target=lambda x, y=0: out.append((x, y, gt.current_thread())),
                  args=(1,), kwargs={"y": 2}, name="w")
    assert repr(t) == "<Thread(w, initial)>"
    assert t not in real_threading._dangling  # CPython's test cleanup waits on that set
    t.start()
    t.join()
    assert out == [(1, 2, t)]
    assert not t.is_alive() and t.ident is not None
    assert t.native_id == real_threading.get_native_id()
    with pytest.raises(RuntimeError):
        t.start()
    with pytest.raises(RuntimeError):
        gt.Thread().join()
    t2 = gt.Thread(target=lambda: gtime.sleep(0.02))
    t2.start()
    assert t2.is_alive() and t2 in gt.enumerate()
    t2.join(0.001)
    assert t2.is_alive()
    t2.join(0)
    t2.join(-1)
    assert t2.is_alive()
    with pytest.raises(RuntimeError):
        t2.daemon = True
    t2.join()
    assert not t2.is_alive() and t2 not in gt.enumerate()
    assert "Thread-" in gt.Thread(target=len).name and "(len)" in gt.Thread(target=len).name


def test_thread_subclass_and_self_join():
    res = []

    class T(gt.Thread):
        def run(self):
            try:
                self.join()
            except RuntimeError as e:
                res.append(str(e))
            res.append(gt.current_thread() is self)

    t = T()
    t.start()
    t.join()
    assert res == ["cannot join current thread", True]


def test_thread_exception_goes_to_excepthook(monkeypatch):
    seen = []
    monkeypatch.setattr(gt, "excepthook", lambda a: seen.append((a.exc_type, a.thread)))
    t = gt.Thread(target=lambda: 1 / 0)
    t.start()
    t.join()
    assert seen == [(ZeroDivisionError, t)]
    # As in the stdlib, SystemExit reaches the hook too (the default hook ignores it).
    t = gt.Thread(target=sys.exit)
    t.start()
    t.join()
    assert seen[1:] == [(SystemExit, t)]


def test_thread_not_tied_to_starter():
    done = []
    threads = []

    def starter():
        t = gt.Thread(target=lambda: (gtime.sleep(0.01), done.append(1)))
        threads.append(t)
        t.start()
        msleep(-1)

    h = go(starter)
    hclose(h)
    threads[0].join()
    assert done == [1]


def test_join_canceled_and_thread_closed():
    ev = gt.Event()
    t = gt.Thread(target=ev.wait)
    t.start()
    assert canceled_at(t.join) == ["canceled"]
    gthread.close_threads()  # what interpreter exit does to daemons: silent end
    assert not t.is_alive() and gthread._count() == 0
    ev.set()


def test_keyboard_interrupt_of_a_thread_reaches_start_which_still_started_it():
    from dill._hub import get_hub

    # What a signal handler does with a KeyboardInterrupt raised in a thread.
    t = gt.Thread(target=lambda: get_hub().interrupt_root(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        t.start()
    t.join()  # started all the same: the interrupt came after
    assert not t.is_alive()


def test_timer():
    got = []
    t = gt.Timer(0.005, got.append, args=[1])
    t.start()
    t.join()
    assert got == [1]
    t = gt.Timer(10, got.append, args=[2])
    t.start()
    t.cancel()
    t.join()
    assert got == [1]


def test_current_thread_ident_local():
    assert gt.current_thread() is real_threading.main_thread()
    assert gt.main_thread() is real_threading.main_thread()
    assert gt.get_ident() == real_threading.get_ident()
    idents = []
    loc = gt.local()
    loc.x = "main"
    seen = []

    def body(i):
        idents.append(gt.get_ident())
        seen.append(getattr(loc, "x", None))
        loc.x = i
        gtime.sleep(0.001)
        seen.append(loc.x)

    hs = [go(body, i) for i in range(3)]
    for h in hs:
        h.wait()
    assert len(set(idents)) == 3 and real_threading.get_ident() not in idents
    assert seen[:3] == [None] * 3 and sorted(seen[3:]) == [0, 1, 2]
    assert loc.x == "main"
    assert isinstance(go(gt.current_thread).wait(), gt.Thread)


def test_local_subclass_init_runs_per_coroutine():
    class L(gt.local):
        def __init__(self, v):
            self.v = v
            self.n = 0

    loc = L(5)
    loc.n = 9
    assert go(lambda: (loc.v, loc.n)).wait() == (5, 0)
    assert loc.n == 9
    with pytest.raises(TypeError):
        gt.local(1)


def test_local_across_os_threads():
    loc = gt.local()
    loc.x = 1
    out = []
    t = real_threading.Thread(target=lambda: out.append(hasattr(loc, "x")))
    t.start()
    t.join()
    assert out == [False]


def test_module_surface():
    for name in real_threading.__all__:
        assert hasattr(gt, name), name
    assert gt.TIMEOUT_MAX == real_threading.TIMEOUT_MAX
    assert gt.ThreadError is real_threading.ThreadError
    assert gt.active_count() == len(gt.enumerate())
    for name in ("allocate_lock", "start_new_thread", "get_ident", "LockType", "RLock",
                 "TIMEOUT_MAX", "error", "stack_size", "_local"):
        assert hasattr(gthread, name), name


def test_start_new_thread():
    got = []
    ident = gthread.start_new_thread(lambda a: (gtime.sleep(0.002), got.append(a)), (4,))
    assert isinstance(ident, int) and gthread._count() == 1
    gtime.sleep(0.02)
    assert got == [4] and gthread._count() == 0
    with pytest.raises(TypeError):
        gthread.start_new_thread(len, [1])
    lock = gthread.allocate_lock()
    assert isinstance(lock, gthread.LockType)


def test_cross_os_thread_wakeups():
    lock = gt.Lock()
    ev = gt.Event()
    lock.acquire()
    out = []

    def os_thread():
        ev.wait()             # set by a coroutine of the main thread
        out.append(lock.acquire(timeout=5))  # released by the main thread
        lock.release()

    t = real_threading.Thread(target=os_thread)
    t.start()
    gtime.sleep(0.01)
    ev.set()
    gtime.sleep(0.01)
    lock.release()
    dill.to_thread(t.join) if hasattr(dill, "to_thread") else t.join()
    assert out == [True]


def test_waiter_of_another_os_thread_that_gave_up_gets_nothing():
    lock = gt.Lock()
    sem = gt.Semaphore(0)
    lock.acquire()
    out = []

    def os_thread():
        out.append(lock.acquire(timeout=0.01))
        out.append(sem.acquire(timeout=0.01))

    t = real_threading.Thread(target=os_thread)
    t.start()
    t.join()
    assert out == [False, False]
    lock.release()  # its dead entry comes first: skipped, the lock is free
    sem.release()
    assert lock.acquire(False) and sem.acquire(False)
    lock.release()


# ------------------------------------------------------------------ time


def test_time_sleep():
    t0 = real_time.monotonic()
    gtime.sleep(0.0001)
    gtime.sleep(0.01)
    assert real_time.monotonic() - t0 >= 0.0101
    gtime.sleep(0)
    gtime.sleep(False)  # bool is an int: 0
    for bad, exc in [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError),
                     (2**70, OverflowError)]:
        with pytest.raises(exc):
            gtime.sleep(bad)
    assert gtime.monotonic is real_time.monotonic and gtime.time is real_time.time


def test_time_sleep_only_blocks_caller_and_cancels():
    ticks = []
    h = go(lambda: [ticks.append(gtime.sleep(0.001)) for _ in range(5)])
    gtime.sleep(0.05)
    h.wait()
    assert len(ticks) == 5
    assert canceled_at(lambda: gtime.sleep(10)) == ["canceled"]
    assert canceled_at(lambda: [gtime.sleep(0) for _ in iter(int, 1)]) == ["canceled"]


def test_ten_thousand_threads_sleep_all_at_once():
    n0 = real_threading.active_count()
    asleep = [0, 0]  # now, most at once

    def sleeper():
        asleep[0] += 1
        asleep[1] = max(asleep)
        gtime.sleep(1)
        asleep[0] -= 1

    t0 = real_time.monotonic()
    ts = [gt.Thread(target=sleeper) for _ in range(10_000)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = real_time.monotonic() - t0
    assert asleep == [0, 10_000]  # every one slept while all the others did
    # Structure, not speed: in about a second on a quiet machine; one after
    # another they would take 10,000 s.
    assert 1.0 <= elapsed < 60
    assert real_threading.active_count() == n0  # no OS thread was started
