"""The one wait primitive: wait records, dead entries, linear give-up, long deadlines."""

from __future__ import annotations

import os
import random
import threading

import pytest

import dill
from dill import (
    CHRECV, CHSEND, Canceled, Done, TimedOut, bundle, bundle_go, chmake, chrecv, chsend, choose,
    go, hclose, msleep, now,
)
from dill._wait import DEAD_MIN, WaitQueue


def _task_of(h):
    return h._task


# ------------------------------------------------------------- wait records


def test_wait_record_for_each_blocking_op():
    a, b = chmake()
    c, d = chmake()
    e, f = chmake()
    deadline = now() + 60_000
    hs = {
        "chrecv": go(chrecv, b, deadline),
        "chsend": go(chsend, c, 1, deadline),
        "choose": go(choose, [(CHRECV, f)], deadline),
        "msleep": go(msleep, deadline),
    }
    sleeper = go(msleep, -1)
    hs["wait"] = go(lambda: sleeper.wait(deadline))
    bd = bundle()
    bundle_go(bd, msleep, -1)
    hs["bundle_wait"] = go(lambda: bd.wait(deadline))
    r, w = os.pipe()
    hs["fdin"] = go(dill.fdin, r, deadline)
    try:
        start = now()
        for op, h in hs.items():
            t = _task_of(h)
            assert t.waiting, op
            assert t.op == op
            assert t.deadline == deadline
            assert start - 1000 <= t.since <= now()
        assert _task_of(hs["chrecv"]).obj is b
        assert _task_of(hs["chsend"]).obj is c
        assert _task_of(hs["wait"]).obj is sleeper
        assert _task_of(hs["bundle_wait"]).obj is bd
        assert _task_of(hs["fdin"]).obj == r
        assert _task_of(sleeper).op == "msleep" and _task_of(sleeper).deadline == -1
    finally:
        for h in hs.values():
            hclose(h)
        hclose(sleeper)
        hclose(bd)
        dill.fdclean(r)
        os.close(r)
        os.close(w)
        for end in (a, b, c, d, e, f):
            hclose(end)


def test_hclose_records_an_uncancelable_wait():
    seen = []

    def stubborn():
        try:
            msleep(-1)
        except Canceled:
            seen.append("canceled")
            dill.yield_()  # the closer is blocked in hclose meanwhile

    inner = go(stubborn)
    closer = go(hclose, inner)
    t = _task_of(closer)
    # closer ran hclose: it canceled `inner`, which is now ready; closer waits.
    assert t.op == "hclose" and t.obj is inner and t.waiting == 2
    hclose(closer)
    assert seen == ["canceled"] and inner.finished


# ----------------------------------------------------------- dead entries


def test_a_stale_entry_never_wakes_a_later_wait():
    """A receiver times out on one channel, then waits on another: a send on the
    first must not reach it (its leftover entry is dead)."""
    a1, b1 = chmake()
    a2, b2 = chmake()
    got = []

    def receiver():
        with pytest.raises(TimedOut):
            chrecv(b1, now() + 5)
        got.append(chrecv(b2, now() + 2000))

    h = go(receiver)
    msleep(now() + 30)  # it timed out on b1 and waits on b2 now
    with pytest.raises(TimedOut):
        chsend(a1, "wrong", 0)  # nobody live waits on b1
    chsend(a2, "right")
    h.wait()
    assert got == ["right"]
    for e in (a1, b1, a2, b2):
        hclose(e)


def test_choose_losing_clauses_leave_only_dead_entries():
    chans = [chmake() for _ in range(4)]

    def chooser():
        return choose([(CHRECV, b) for _, b in chans], now() + 2000)

    h = go(chooser)
    chsend(chans[2][0], "x")
    assert h.wait() == (2, "x")
    # the other three clauses' entries are dead: a send finds no receiver
    for i in (0, 1, 3):
        with pytest.raises(TimedOut):
            chsend(chans[i][0], "late", 0)
    for a, b in chans:
        hclose(a)
        hclose(b)


def test_timed_out_waiters_are_compacted_away():
    """Many receivers time out on one channel: the queue never holds a majority
    of dead entries for long (no unbounded growth, no O(n) search)."""
    a, b = chmake()
    gate_tx, gate_rx = chmake()
    n = 3000
    start = []
    bd = bundle()

    def recv_timeout(offset):
        with pytest.raises(Done):
            chrecv(gate_rx)  # every receiver is parked before any deadline runs
        with pytest.raises(TimedOut):
            chrecv(b, start[0] + offset)

    for i in range(n):
        bundle_go(bd, recv_timeout, (n - i) // 300)  # the newest expire first
    start.append(now() + 1000)
    dill.chdone(gate_tx)
    msleep(start[0] - 900)
    q = b._in.recvq
    assert len(q) == n
    bd.wait(now() + 10_000)
    assert len(q) <= 2 * DEAD_MIN + 2, len(q)
    # the channel still works
    h = go(chrecv, b)
    chsend(a, 7)
    assert h.wait() == 7
    for x in (bd, a, b, gate_tx, gate_rx):
        hclose(x)


@pytest.mark.parametrize("order", ["oldest", "newest", "random"])
def test_closing_blocked_receivers_in_any_order(order):
    a, b = chmake()
    hs = [go(chrecv, b) for _ in range(3000)]
    idx = list(range(len(hs)))
    if order == "newest":
        idx.reverse()
    elif order == "random":
        random.Random(7).shuffle(idx)
    for i in idx[:-1]:
        hclose(hs[i])
    q = b._in.recvq
    assert len(q) <= 2 * DEAD_MIN + 2 or len(q) - q.dead <= 1
    last = hs[idx[-1]]
    chsend(a, "only")
    assert last.wait() == "only"
    hclose(last)
    hclose(a)
    hclose(b)


def test_ended_waits_leave_no_entry_behind():
    """A channel's wait slot holds a lone waiter's entry itself: a timeout, a
    losing choose clause or a close empties the slot (no dead entry keeps the
    task alive), and a choose won in a queue leaves its dead count exact."""
    a, b = chmake()
    c, d = chmake()
    with pytest.raises(TimedOut):
        chrecv(b, now() + 5)
    assert b._in.recvq is None
    h = go(choose, [(CHRECV, b), (CHRECV, d)])
    assert b._in.recvq is not None and d._in.recvq is not None
    chsend(c, "d wins")
    assert h.wait() == (1, "d wins")
    assert b._in.recvq is None and d._in.recvq is None
    hclose(h)
    r = go(chrecv, b)
    hclose(a)  # b's receivers see Done
    with pytest.raises(Done):
        r.wait()
    assert b._in.recvq is None
    hclose(r)
    r1 = go(chrecv, d)
    h = go(choose, [(CHRECV, d)])  # the second waiter: now a WaitQueue
    q = d._in.recvq
    assert isinstance(q, WaitQueue) and len(q) == 2
    chsend(c, 1)
    chsend(c, 2)
    assert r1.wait() == 1 and h.wait() == (0, 2)
    assert len(q) == 0 and q.dead == 0
    for x in (r1, h, b, c, d):
        hclose(x)


def test_waitqueue_unit():
    q = WaitQueue()
    assert q.pop_live() is None and not q.has_live()
    hub = dill._hub.get_hub()
    t = hub.root
    q.park(t)
    # the root is not waiting: its entry is dead
    assert not q.has_live() and len(q) == 0


# ------------------------------------------------------ long deadlines


@pytest.mark.parametrize("ahead", [2**31, 2**40, 2**62])
def test_deadline_far_ahead_sleeps_in_poller(ahead):
    """The poller takes a C int of ms: a far deadline must cap the sleep, not crash."""
    r, w = os.pipe()
    t = threading.Timer(0.05, os.write, (w, b"x"))
    t.start()
    try:
        dill.fdin(r, now() + ahead)  # the hub sleeps in the poller with the far timer
        assert os.read(r, 1) == b"x"
        h = go(msleep, now() + ahead)
        msleep(now() + 10)  # the hub sleeps with both timers pending
        assert not h.finished
        hclose(h)
    finally:
        t.join()
        dill.fdclean(r)
        os.close(r)
        os.close(w)


def test_deadline_far_ahead_with_only_a_timer():
    done = []

    def waker():
        msleep(now() + 30)
        done.append(1)

    h = go(waker)
    with pytest.raises(TimedOut):
        chrecv(chmake()[1], now() + 60)  # root: the far timer of another is pending too
    far = go(msleep, now() + 2**62)
    h.wait()
    assert done == [1]
    hclose(far)
