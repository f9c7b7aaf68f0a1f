"""Deadlines: -1/None never, 0 only-if-immediate, past, future; argument checks."""

import pytest

import dill
from dill import CHRECV, TimedOut, chmake, coroutine, go, hclose, msleep, now


def _ops():
    """(name, call(deadline)) for every blocking call that cannot complete."""
    a, b = chmake()
    cr = go(msleep, -1)
    bund = dill.bundle()
    bund.go(msleep, -1)
    import socket
    s0, s1 = socket.socketpair()
    resources = (a, b, cr, bund, s0, s1)
    ops = [
        ("chsend", lambda d: dill.chsend(a, 1, d)),
        ("chrecv", lambda d: dill.chrecv(a, d)),
        ("choose", lambda d: dill.choose([(CHRECV, a)], d)),
        ("choose_empty", lambda d: dill.choose([], d)),
        ("bundle_wait", lambda d: dill.bundle_wait(bund, d)),
        ("coroutine_wait", lambda d: cr.wait(d)),
        ("method_recv", lambda d: a.recv(d)),
        ("method_send", lambda d: a.send(1, d)),
        ("bundle_method_wait", lambda d: bund.wait(d)),
        ("fdin", lambda d: dill.fdin(s0, d)),
    ]
    return ops, resources


def _release(resources):
    a, b, cr, bund, s0, s1 = resources
    for h in (a, b, cr, bund):
        hclose(h)
    for s in (s0, s1):
        dill.fdclean(s)
        s.close()


OP_NAMES = ["chsend", "chrecv", "choose", "choose_empty", "bundle_wait", "coroutine_wait",
            "method_recv", "method_send", "bundle_method_wait", "fdin"]


@pytest.mark.parametrize("name", OP_NAMES)
def test_deadline_zero_times_out_at_once(name):
    ops, res = _ops()
    op = dict(ops)[name]
    t0 = now()
    with pytest.raises(TimedOut):
        op(0)
    assert now() - t0 < 500
    _release(res)


@pytest.mark.parametrize("name", OP_NAMES)
def test_deadline_in_past_times_out(name):
    ops, res = _ops()
    op = dict(ops)[name]
    t0 = now()
    with pytest.raises(TimedOut):
        op(t0 - 1000)
    with pytest.raises(TimedOut):
        op(1)  # the earliest positive deadline
    assert now() - t0 < 500
    _release(res)


@pytest.mark.parametrize("name", OP_NAMES)
def test_deadline_in_future_times_out_at_it(name):
    ops, res = _ops()
    op = dict(ops)[name]
    deadline = now() + 15
    with pytest.raises(TimedOut):
        op(deadline)
    t = now()
    assert t >= deadline
    assert t - deadline < 1000
    _release(res)


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("never", [-1, None, -5, float("inf")])
def test_infinite_deadline_blocks_until_woken(name, never):
    # -1 / None / any negative / inf: no timeout.  Prove it by waking the call
    # with cancellation after a while longer than a short deadline would be.
    ops, res = _ops()
    op = dict(ops)[name]
    log = []

    @coroutine
    def blocked():
        try:
            op(never)
        except dill.Canceled:
            log.append("canceled")
        except BaseException as e:  # pragma: no cover
            log.append(repr(e))

    cr = go(blocked())
    msleep(now() + 10)
    assert log == []
    hclose(cr)
    assert log == ["canceled"]
    _release(res)


def test_deadline_is_keyword_or_positional():
    a, b = chmake()
    with pytest.raises(TimedOut):
        dill.chrecv(a, deadline=0)
    with pytest.raises(TimedOut):
        dill.chsend(a, 1, deadline=0)
    with pytest.raises(TimedOut):
        dill.choose([(CHRECV, a)], deadline=0)
    msleep(deadline=0)
    cr = go(msleep, now() + 30)
    with pytest.raises(TimedOut):
        cr.wait(deadline=0)
    with pytest.raises(TimedOut):
        dill.bundle_wait(cr, deadline=0)
    hclose(cr)
    for h in (a, b):
        hclose(h)


def test_msleep_deadlines():
    t0 = now()
    msleep(0)
    msleep(t0 - 100)
    msleep(1)
    assert now() - t0 < 500
    d = now() + 20
    assert msleep(d) is None  # returns at the deadline, no TimedOut
    assert now() >= d


def test_float_deadline_is_accepted_and_rounded_up():
    d = now() + 10.2
    msleep(d)
    assert now() >= d
    a, b = chmake()
    with pytest.raises(TimedOut):
        dill.chrecv(a, now() + 0.5)
    with pytest.raises(TimedOut):
        dill.chrecv(a, 0.0)
    hclose(a)
    hclose(b)


@pytest.mark.parametrize("bad", ["x", True, False, [1], object(), b"1", 1j])
def test_bad_deadline_type(bad):
    a, b = chmake()
    cr = go(lambda: None)
    bund = dill.bundle()
    calls = [
        lambda: msleep(bad),
        lambda: dill.chsend(a, 1, bad),
        lambda: dill.chrecv(a, bad),
        lambda: dill.choose([(CHRECV, a)], bad),
        lambda: dill.bundle_wait(bund, bad),
        lambda: cr.wait(bad),
        lambda: dill.fdin(0, bad),
        lambda: dill.fdout(1, bad),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="deadline"):
            call()
    # nothing broke: the runtime works afterwards
    with pytest.raises(TimedOut):
        dill.chrecv(a, 0)
    for h in (a, b, cr, bund):
        hclose(h)


def test_nan_deadline_is_value_error():
    a, b = chmake()
    with pytest.raises(ValueError, match="deadline"):
        dill.chrecv(a, float("nan"))
    with pytest.raises(ValueError, match="deadline"):
        msleep(float("nan"))
    hclose(a)
    hclose(b)


def test_now_is_monotonic_int_milliseconds():
    import time
    t0 = now()
    assert isinstance(t0, int) and t0 > 0
    time.sleep(0.02)
    t1 = now()
    assert 15 <= t1 - t0 < 1000
    assert now() >= t1


def test_fd_ready_wins_over_expired_deadline():
    # libdill fd.c: fdout(writable, 0) succeeds; fdin(idle, 0) times out.
    import socket
    s0, s1 = socket.socketpair()
    dill.fdout(s0, 0)
    dill.fdout(s0, now() - 100)
    with pytest.raises(TimedOut):
        dill.fdin(s0, 0)
    s1.send(b"A")
    dill.fdin(s0, 0)
    for s in (s0, s1):
        dill.fdclean(s)
        s.close()


def test_timers_fire_in_deadline_order_and_fifo_within_a_millisecond():
    """Sleepers sharing a deadline wake in the order they went to sleep,
    after every earlier deadline; canceled ones in between leave no gap."""
    from dill.testing import virtual_clock

    woke = []

    def sleeper(name, deadline):
        msleep(deadline)
        woke.append((name, now()))

    with virtual_clock():
        t0 = now()
        plan = [("a", 30), ("b", 10), ("c", 30), ("x", 30), ("d", 10), ("e", 20),
                ("y", 10), ("f", 30)]
        handles = {name: go(sleeper, name, t0 + d) for name, d in plan}
        hclose(handles.pop("x"))  # canceled mid-bucket: its entry is dead
        hclose(handles.pop("y"))
        msleep(t0 + 40)
        assert woke == [("b", t0 + 10), ("d", t0 + 10), ("e", t0 + 20),
                        ("a", t0 + 30), ("c", t0 + 30), ("f", t0 + 30)]
        for h in handles.values():
            hclose(h)
