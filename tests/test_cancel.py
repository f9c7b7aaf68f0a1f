"""Cancellation: hclose cancels the blocking call a coroutine sits in, and every
later blocking call (sticky, even with deadline 0); hclose waits for exit."""

import socket

import pytest

import dill
from dill import CHRECV, CHSEND, Canceled, coroutine, go, hclose, msleep, now, yield_


def _fill(sock):
    """Fill a non-blocking socket's send buffer until it would block."""
    sock.setblocking(False)
    chunk = b"x" * 65536
    try:
        while True:
            sock.send(chunk)
    except BlockingIOError:
        pass


@pytest.fixture
def sockpair():
    a, b = socket.socketpair()
    yield a, b
    dill.fdclean(a)
    dill.fdclean(b)
    a.close()
    b.close()


# Each entry: name -> factory(resources) returning (first_call, second_call).
# first_call blocks until canceled; second_call would succeed or time out if
# not canceled (deadline 0), so only stickiness makes it raise Canceled.

def _blocking_calls(res):
    a, b = res["ch"]
    s1 = res["sock"][1]  # its send buffer is full and nothing was sent to it
    other = res["other"]
    bund = res["bundle"]
    return {
        "msleep": (lambda: msleep(-1), lambda: msleep(0)),
        "msleep_none": (lambda: msleep(None), lambda: msleep(now() + 1)),
        "chsend": (lambda: dill.chsend(a, 1), lambda: dill.chsend(a, 1, 0)),
        "chrecv": (lambda: dill.chrecv(a), lambda: dill.chrecv(a, 0)),
        "choose_recv": (lambda: dill.choose([(CHRECV, a)]),
                        lambda: dill.choose([(CHRECV, a)], 0)),
        "choose_send": (lambda: dill.choose([(CHSEND, a, 1)]),
                        lambda: dill.choose([], 0)),
        "bundle_wait": (lambda: dill.bundle_wait(bund), lambda: dill.bundle_wait(bund, 0)),
        "coroutine_wait": (lambda: other.wait(), lambda: other.wait(0)),
        "bundle_wait_coroutine": (lambda: dill.bundle_wait(other),
                                  lambda: dill.bundle_wait(other, 0)),
        "fdin": (lambda: dill.fdin(s1), lambda: dill.fdin(s1, 0)),
        "fdout": (lambda: dill.fdout(s1), lambda: dill.fdout(s1, 0)),
    }


@pytest.mark.parametrize("kind", [
    "msleep", "msleep_none", "chsend", "chrecv", "choose_recv", "choose_send",
    "bundle_wait", "coroutine_wait", "bundle_wait_coroutine", "fdin", "fdout",
])
def test_cancel_while_blocked_is_sticky(kind, sockpair):
    a, b = dill.chmake()
    forever = go(msleep, -1)
    bund = dill.bundle()
    bund.go(msleep, -1)
    _fill(sockpair[1])
    res = {"ch": (a, b), "sock": sockpair, "other": forever, "bundle": bund}
    first, second = _blocking_calls(res)[kind]
    log = []

    @coroutine
    def victim():
        log.append("blocking")
        try:
            first()
        except Canceled:
            log.append("canceled")
        else:
            log.append("returned")
        try:
            second()
        except Canceled:
            log.append("canceled again")
        except BaseException as e:  # pragma: no cover - reported by the assert
            log.append(repr(e))
        else:
            log.append("second returned")
        # and a third kind of call, also with deadline 0
        try:
            yield_()
        except Canceled:
            log.append("yield canceled")

    cr = go(victim())
    assert log == ["blocking"]
    msleep(now() + 5)
    assert log == ["blocking"]  # still blocked
    hclose(cr)
    # hclose returned only after the coroutine exited
    assert log == ["blocking", "canceled", "canceled again", "yield canceled"]
    # the other resources are untouched: nothing leaked into them
    assert not forever.finished and len(bund) == 1
    hclose(forever)
    hclose(bund)
    hclose(a)
    hclose(b)


def test_cancel_while_blocked_in_yield():
    # A coroutine in yield_ sits in the ready queue; as in libdill it may get
    # its yield back, but every later call raises Canceled.
    log = []

    @coroutine
    def victim():
        try:
            yield_()
            log.append("yield returned")
        except Canceled:
            log.append("yield canceled")
        for call in (yield_, lambda: msleep(0), lambda: go(lambda: None)):
            try:
                call()
            except Canceled:
                log.append("canceled")

    cr = go(victim())   # victim yields; root queued before it, resumes here
    hclose(cr)
    assert log[0] in ("yield returned", "yield canceled")
    assert log[1:] == ["canceled"] * 3


def test_cancel_while_blocked_in_go():
    # The victim's go() starts a child that blocks; the root then cancels the
    # victim before it resumes from go().  go() has already launched the child,
    # so it hands back the handle (as libdill) and later calls are canceled.
    log = []
    started = []

    @coroutine
    def child():
        started.append(1)
        try:
            msleep(-1)
        finally:
            log.append("child exit")

    @coroutine
    def victim():
        try:
            h = go(child())
        except Canceled:
            log.append("go canceled")
            return
        log.append("go returned")
        try:
            try:
                go(child())
            except Canceled:
                log.append("second go canceled")
            try:
                msleep(0)
            except Canceled:
                log.append("msleep canceled")
        finally:
            hclose(h)

    cr = go(victim())  # victim -> go(child) -> child blocks -> root (queued first)
    assert started == [1]
    hclose(cr)
    assert started == [1]  # the second go did not run its child
    assert log == ["go returned", "second go canceled", "msleep canceled", "child exit"]


def test_go_in_canceled_coroutine_does_not_run_child():
    ran = []

    @coroutine
    def victim():
        try:
            msleep(-1)
        except Canceled:
            pass
        with pytest.raises(Canceled):
            go(ran.append, 1)
        b = dill.bundle()
        with pytest.raises(Canceled):
            b.go(ran.append, 2)
        with pytest.raises(Canceled):
            dill.bundle_go(b, ran.append, 3)
        assert len(b) == 0
        hclose(b)
        ran.append("done")

    hclose(go(victim()))
    assert ran == ["done"]


def test_cancel_finished_coroutine_is_a_no_op():
    cr = go(lambda: "r")
    assert cr.finished
    hclose(cr)
    hclose(cr)  # closing twice is a no-op
    with pytest.raises(dill.BadHandle):
        cr.wait()


def test_cancel_coroutine_finished_while_parent_slept():
    # guide use case 1, first scenario
    log = []

    @coroutine
    def worker():
        try:
            msleep(now() + 5)
        except Canceled:
            log.append("canceled")
            return
        log.append("finished")

    cr = go(worker())
    msleep(now() + 20)
    assert cr.finished
    hclose(cr)
    assert log == ["finished"]


def test_canceled_coroutine_can_still_do_nonblocking_work():
    # chdone, hclose, now and non-blocking channel ops that need no waiting are
    # not cancellation points in libdill; chdone/hclose/now at least must work.
    a, b = dill.chmake()
    log = []

    @coroutine
    def victim():
        try:
            msleep(-1)
        except Canceled:
            pass
        dill.chdone(a)          # not a blocking call
        log.append(now() > 0)
        h = dill.chmake()       # creating handles works
        for e in h:
            hclose(e)
        log.append("cleanup done")

    cr = go(victim())
    hclose(cr)
    assert log == [True, "cleanup done"]
    with pytest.raises(dill.Done):
        dill.chrecv(b, 0)
    hclose(a)
    hclose(b)


def test_cancel_does_not_steal_a_received_value():
    # The receiver is woken with a value, then canceled before it runs: it keeps
    # the value (nothing lost), and only later calls fail.
    a, b = dill.chmake()
    got = []

    @coroutine
    def receiver():
        got.append(dill.chrecv(b))
        try:
            dill.chrecv(b, 0)
        except Canceled:
            got.append("canceled")

    cr = go(receiver())
    dill.chsend(a, "v")   # hands the value over; receiver is now ready
    hclose(cr)
    assert got == ["v", "canceled"]
    hclose(a)
    hclose(b)


def test_nested_three_deep_closed_from_root():
    log = []

    @coroutine
    def level(n):
        child = go(level(n + 1)) if n < 3 else None
        try:
            msleep(-1)
        except Canceled:
            log.append(f"canceled {n}")
            raise
        finally:
            if child is not None:
                hclose(child)
            log.append(f"exit {n}")

    root_child = go(level(1))
    msleep(now() + 5)
    assert log == []
    hclose(root_child)
    assert log == ["canceled 1", "canceled 2", "canceled 3", "exit 3", "exit 2", "exit 1"]


def test_hclose_is_not_interrupted_by_cancellation_of_the_closer():
    # A canceled coroutine's cleanup can still hclose a child that takes a few
    # scheduler passes to exit.
    log = []

    @coroutine
    def slow_exit():
        try:
            msleep(-1)
        except Canceled:
            log.append("child canceled")
        # cleanup blocking calls fail, but the coroutine still exits normally
        try:
            yield_()
        except Canceled:
            log.append("child cleanup")

    @coroutine
    def parent():
        c = go(slow_exit())
        try:
            msleep(-1)
        finally:
            hclose(c)
            log.append("parent closed child")

    p = go(parent())
    hclose(p)
    assert log == ["child canceled", "child cleanup", "parent closed child"]


def test_no_code_runs_after_hclose():
    ticks = []

    @coroutine
    def ticker():
        while True:
            ticks.append(1)
            yield_()

    cr = go(ticker())
    for _ in range(5):
        yield_()
    hclose(cr)
    n = len(ticks)
    for _ in range(5):
        yield_()
    msleep(now() + 2)
    assert len(ticks) == n


def test_coroutine_swallowing_canceled_still_cannot_block():
    # except Exception does not catch Canceled (a BaseException)
    log = []

    @coroutine
    def stubborn():
        for _ in range(3):
            try:
                msleep(-1)
            except Exception:  # pragma: no cover - must not catch Canceled
                log.append("wrong")
            except BaseException as e:
                log.append(type(e).__name__)

    hclose(go(stubborn()))
    assert log == ["Canceled"] * 3
    assert issubclass(Canceled, BaseException) and not issubclass(Canceled, Exception)
