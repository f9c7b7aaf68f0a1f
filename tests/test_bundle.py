"""Bundles: bundle(), bundle_go, bundle_wait, hclose (libdill tests/bundle.c)."""

import pytest

import dill
from dill import Canceled, bundle, bundle_go, bundle_wait, coroutine, go, hclose, msleep, now


@coroutine
def worker1():
    pass


@coroutine
def worker2(log=None):
    try:
        msleep(now() + 100_000)
    except Canceled:
        if log is not None:
            log.append("canceled")
        raise
    raise AssertionError("worker2 was not canceled")  # pragma: no cover


@coroutine
def worker3(ms, log=None):
    msleep(now() + ms)  # must not be canceled
    if log is not None:
        log.append(ms)


def test_empty_bundle_close():
    b = bundle()
    assert isinstance(b, dill.Bundle) and isinstance(b, dill.Handle)
    assert len(b) == 0
    assert hclose(b) is None


def test_bundle_go_returns_none_and_immediate_close():
    b = bundle()
    assert bundle_go(b, worker1()) is None
    hclose(b)


def test_finished_member_then_close():
    ran = []

    @coroutine
    def member():
        ran.append("ran")

    b = bundle()
    bundle_go(b, member())
    msleep(now() + 5)
    assert ran == ["ran"] and len(b) == 0  # it finished and left the bundle
    assert hclose(b) is None
    assert b.closed and ran == ["ran"]


def test_close_cancels_member():
    log = []
    b = bundle()
    bundle_go(b, worker2(log))
    msleep(now() + 5)
    assert len(b) == 1
    hclose(b)
    assert log == ["canceled"]
    assert len(b) == 0


def test_members_finish_on_their_own():
    log = []
    b = bundle()
    bundle_go(b, worker3(5, log))
    bundle_go(b, worker3(5, log))
    msleep(now() + 20)
    hclose(b)
    assert log == [5, 5]


def test_close_cancels_all_members():
    log = []
    b = bundle()
    bundle_go(b, worker2(log))
    bundle_go(b, worker2(log))
    b.go(worker2.func, log)  # method form with a plain function and arguments
    msleep(now() + 5)
    assert len(b) == 3
    hclose(b)
    assert log == ["canceled"] * 3


def test_close_cancels_members_concurrently():
    # hclose(b) cancels every member before waiting for any of them: a
    # coroutine outside the bundle that runs while the closer waits finds no
    # member still receiving (libdill cancels one at a time).
    a, c = dill.chmake()
    log = []

    @coroutine
    def member(i):
        try:
            dill.chrecv(c)
        except Canceled:
            log.append(("canceled", i))
            raise

    @coroutine
    def probe():
        dill.yield_()  # queued before the members are canceled
        try:
            dill.chsend(a, "probe", 0)
            log.append("a member was still receiving")
        except dill.TimedOut:
            log.append("all canceled")

    b = bundle()
    for i in range(3):
        b.go(member(i))
    p = go(probe())
    hclose(b)
    assert log[0] == "all canceled"
    assert sorted(log[1:]) == [("canceled", 0), ("canceled", 1), ("canceled", 2)]
    hclose(p)
    hclose(a)
    hclose(c)


def test_bundle_wait_empty_returns_at_once_even_with_deadline_zero():
    b = bundle()
    assert bundle_wait(b, -1) is None
    assert bundle_wait(b, 0) is None
    assert bundle_wait(b) is None
    hclose(b)


def test_bundle_wait_on_go_handle():
    log = []
    cr = go(worker3(10, log))
    assert bundle_wait(cr, -1) is None
    assert log == [10]
    hclose(cr)


def test_bundle_reusable_after_wait():
    log = []
    b = bundle()
    bundle_go(b, worker3(5, log))
    bundle_go(b, worker3(10, log))
    bundle_wait(b, -1)
    assert log == [5, 10]
    bundle_go(b, worker1())
    hclose(b)


def test_bundle_wait_before_deadline():
    cr = go(worker3(5))
    t0 = now()
    bundle_wait(cr, now() + 1000)
    assert now() - t0 < 500
    hclose(cr)


def test_bundle_wait_timeout_leaves_members_running_then_close():
    log = []
    cr = go(worker2(log))
    t0 = now()
    with pytest.raises(dill.TimedOut):
        bundle_wait(cr, now() + 20)
    assert now() - t0 >= 20
    assert not cr.finished and log == []
    hclose(cr)
    assert log == ["canceled"]


def test_bundle_wait_timeout_on_bundle():
    log = []
    b = bundle()
    b.go(worker3(5, log))
    b.go(worker2(log))
    with pytest.raises(dill.TimedOut):
        bundle_wait(b, now() + 20)
    assert log == [5] and len(b) == 1
    with pytest.raises(dill.TimedOut):
        b.wait(0)
    hclose(b)
    assert log == [5, "canceled"]


def test_many_waiters_on_one_bundle():
    b = bundle()
    b.go(worker3(10))
    woke = []

    @coroutine
    def waiter(i):
        bundle_wait(b)
        woke.append(i)

    ws = [go(waiter(i)) for i in range(5)]
    bundle_wait(b)
    msleep(now() + 5)
    assert sorted(woke) == list(range(5))
    for w in ws:
        hclose(w)
    hclose(b)


def test_waiter_that_times_out_does_not_break_other_waiters():
    b = bundle()
    b.go(worker3(20))
    woke = []

    @coroutine
    def waiter(deadline):
        try:
            bundle_wait(b, deadline)
            woke.append("ok")
        except dill.TimedOut:
            woke.append("timeout")

    w1 = go(waiter(now() + 2))
    w2 = go(waiter(-1))
    w1.wait()
    w2.wait()
    assert woke == ["timeout", "ok"]
    hclose(w1)
    hclose(w2)
    hclose(b)


def test_with_bundle_closes_on_exit():
    log = []
    with bundle() as b:
        b.go(worker2(log))
        b.go(worker2(log))
        msleep(now() + 2)
    assert b.closed and log == ["canceled", "canceled"]


def test_with_bundle_closes_on_exception():
    log = []
    with pytest.raises(ZeroDivisionError):
        with bundle() as b:
            b.go(worker2(log))
            1 / 0
    assert b.closed and log == ["canceled"]


def test_closed_bundle_rejects_use():
    b = bundle()
    hclose(b)
    hclose(b)  # no-op
    with pytest.raises(dill.BadHandle):
        bundle_go(b, worker1())
    with pytest.raises(dill.BadHandle):
        b.go(worker1())
    with pytest.raises(dill.BadHandle):
        bundle_wait(b)
    with pytest.raises(dill.BadHandle):
        b.wait(0)
    assert "closed" in repr(b)


def test_bundle_go_on_wrong_handles():
    a, c = dill.chmake()
    with pytest.raises(dill.NotSupported):
        bundle_go(a, worker1())
    with pytest.raises(TypeError):
        bundle_go(42, worker1())
    with pytest.raises(dill.NotSupported):
        bundle_wait(a)
    with pytest.raises(TypeError):
        bundle_wait("b")
    hclose(a)
    with pytest.raises(dill.BadHandle):
        bundle_wait(a)
    hclose(c)


def test_member_cannot_close_its_own_bundle():
    b = bundle()
    errs = []

    @coroutine
    def member():
        try:
            hclose(b)
        except RuntimeError as e:
            errs.append(e)
        try:
            bundle_wait(b)
        except RuntimeError as e:
            errs.append(e)

    b.go(member())
    assert len(errs) == 2
    assert not b.closed
    hclose(b)


def test_bundle_members_see_structured_exit():
    # after hclose(b) returns, no member code runs again
    ticks = []

    @coroutine
    def ticker():
        while True:
            ticks.append(1)
            dill.yield_()

    b = bundle()
    for _ in range(3):
        b.go(ticker())
    for _ in range(3):
        dill.yield_()
    hclose(b)
    n = len(ticks)
    msleep(now() + 2)
    assert len(ticks) == n
