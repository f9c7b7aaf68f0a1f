"""Every green wait records what it waits on (SPEC-TOOLS section 1), seen with
``dill.tree()``; locks name their owner; every green timeout is at least as long
as asked."""

from __future__ import annotations

import time as real_time

import pytest

import dill
from dill import go, hclose
from dill._hub import get_hub
from dill.green import queue as gq
from dill.green import thread as gthread
from dill.green import threading as gt
from dill.green import time as gtime
from dill.green._sync import deadline_in

pytestmark = pytest.mark.timeout(30)


def blocked_on(fn, *args):
    """Start ``fn(*args)`` in a coroutine; return its (op, obj repr, deadline) and handle."""
    h = go(fn, *args)
    (info,) = [c for c in dill.tree().children if c.state == "blocked"]
    return (info.op, info.obj, info.deadline), h


def test_each_primitive_names_its_wait():
    lock, rlock, sem, ev = gt.Lock(), gt.RLock(), gt.Semaphore(0), gt.Event()
    cond = gt.Condition()
    q, sq, full = gq.Queue(), gq.SimpleQueue(), gq.Queue(1)
    full.put(0)
    lock.acquire()
    rlock.acquire()
    thread = gt.Thread(target=ev.wait)
    thread.start()
    cases = [
        (lock.acquire, (), "lock", lock),
        (rlock.acquire, (), "lock", rlock),
        (sem.acquire, (), "semaphore", sem),
        (ev.wait, (), "event", ev),
        (lambda: cond.acquire() and cond.wait(), (), "condition", cond),
        (q.get, (), "queue.get", q),
        (sq.get, (), "queue.get", sq),
        (full.put, (1,), "queue.put", full),
        (thread.join, (), "join", thread),
        (gtime.sleep, (5,), "sleep", None),
    ]
    try:
        for fn, args, op, obj in cases:
            (got_op, got_obj, deadline), h = blocked_on(fn, *args)
            expected = repr(obj)
            hclose(h)
            assert got_op == op
            if obj is None:
                assert got_obj is None
            else:
                assert expected.startswith(got_obj.rstrip("."))  # the tree shortens it
            assert deadline is None if op != "sleep" else deadline > dill.now()
    finally:
        ev.set()
        thread.join()
    q.put(1)
    assert q.get(timeout=1) == 1


def test_locks_name_their_owner():
    lock, rlock = gt.Lock(), gt.RLock()
    assert lock._owner is None and rlock._owner is None
    lock.acquire()
    rlock.acquire()
    assert lock._owner is rlock._owner is get_hub().root  # the root code holds both
    got = []

    def waiter():
        got.append(lock.acquire())
        got.append(lock._owner is get_hub().current)

    h = go(waiter)
    lock.release()  # handed straight to the waiter, which becomes the owner
    h.wait()
    assert got == [True, True]
    rlock.release()
    assert rlock._owner is None


@pytest.mark.parametrize("secs", [0.0001, 0.0015, 0.01])
def test_green_timeouts_last_at_least_the_timeout(secs):
    lock = gt.Lock()
    lock.acquire()
    cond = gt.Condition(gt.Lock())
    waits = [
        lambda: lock.acquire(timeout=secs),
        lambda: gt.Event().wait(secs),
        lambda: gt.Semaphore(0).acquire(timeout=secs),
        lambda: cond.acquire() and cond.wait(secs) or cond.release(),
        lambda: _empty(gq.SimpleQueue(), secs),
        lambda: gtime.sleep(secs),
    ]
    for wait in waits:
        t0 = real_time.monotonic()
        wait()
        assert real_time.monotonic() - t0 >= secs


def _empty(q, secs):
    with pytest.raises(gq.Empty):
        q.get(timeout=secs)


def test_deadline_in_is_the_one_conversion():
    assert deadline_in(None) == -1 and deadline_in(float("inf")) == -1
    assert deadline_in(0) == 0 and deadline_in(-3) == 0 and deadline_in(-float("inf")) == 0
    before = dill.now()
    d = deadline_in(0.0001)
    after = dill.now()
    assert before < d <= after + 2  # 0.1 ms from now, rounded up to a whole ms
    assert deadline_in(2) >= before + 2000
    with pytest.raises(ValueError):
        deadline_in(float("nan"))
    with pytest.raises(TypeError):
        deadline_in("1")
    for bad, exc in [("1", TypeError), (-2, ValueError), (1e300, OverflowError),
                     (float("nan"), ValueError)]:
        with pytest.raises(exc):
            gthread.allocate_lock().acquire(timeout=bad)
