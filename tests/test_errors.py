"""Errors: classes and errno, failures surfacing once, unraisable reports,
KeyboardInterrupt delivery, deadlock detection."""

import errno
import gc
import sys
import warnings

import pytest

import dill
from dill import Canceled, coroutine, go, hclose, msleep, now

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup


@pytest.mark.parametrize("cls, base, code", [
    (dill.Canceled, BaseException, errno.ECANCELED),
    (dill.TimedOut, TimeoutError, errno.ETIMEDOUT),
    (dill.Done, BrokenPipeError, errno.EPIPE),
    (dill.BadHandle, OSError, errno.EBADF),
    (dill.NotSupported, OSError, errno.ENOTSUP),
])
def test_error_classes(cls, base, code):
    assert issubclass(cls, base)
    e = cls()
    assert e.errno == code
    assert str(e)  # has a message
    assert cls.__name__ in dill.__all__


def test_canceled_is_not_an_exception():
    assert not issubclass(Canceled, Exception)


def test_oserror_subclasses_have_strerror_message():
    e = dill.TimedOut()
    assert e.strerror and e.errno == errno.ETIMEDOUT
    e = dill.BadHandle("custom")
    assert e.errno == errno.EBADF and "custom" in str(e)


def test_done_index_defaults_to_none():
    assert dill.Done().index is None


def test_hclose_non_handle_is_type_error():
    for bad in (None, 3, "h", object()):
        with pytest.raises(TypeError):
            hclose(bad)


# ------------------------------------------------- failures at the join point

class Boom(Exception):
    pass


@coroutine
def fail_after(ms, msg="boom"):
    if ms:
        msleep(now() + ms)
    raise Boom(msg)


def test_failure_raised_by_wait_once():
    cr = go(fail_after(2))
    with pytest.raises(Boom, match="boom"):
        cr.wait()
    assert cr.wait() is None  # observed: not raised again
    hclose(cr)  # nor by hclose


def test_failure_raised_by_hclose_once():
    cr = go(fail_after(0))
    assert cr.finished
    with pytest.raises(Boom):
        hclose(cr)
    assert cr.closed
    hclose(cr)  # closing twice: no-op, no second raise


def test_failure_raised_by_bundle_wait_on_coroutine_once():
    cr = go(fail_after(2))
    with pytest.raises(Boom):
        dill.bundle_wait(cr)
    dill.bundle_wait(cr)
    hclose(cr)


def test_bundle_failures_raised_as_exception_group_once():
    b = dill.bundle()
    b.go(fail_after(2, "one"))
    b.go(fail_after(4, "two"))
    b.go(msleep, now() + 6)
    with pytest.raises(ExceptionGroup) as ei:
        dill.bundle_wait(b)
    msgs = sorted(str(e) for e in ei.value.exceptions)
    assert msgs == ["one", "two"]
    assert all(isinstance(e, Boom) for e in ei.value.exceptions)
    dill.bundle_wait(b)  # not again
    hclose(b)  # not again


def test_bundle_failures_raised_by_hclose():
    b = dill.bundle()
    b.go(fail_after(0, "early"))
    b.go(msleep, -1)  # canceled by hclose: Canceled is not a failure
    with pytest.raises(ExceptionGroup) as ei:
        hclose(b)
    assert [str(e) for e in ei.value.exceptions] == ["early"]
    assert b.closed


def test_with_bundle_raises_failures_on_exit():
    with pytest.raises(ExceptionGroup):
        with dill.bundle() as b:
            b.go(fail_after(0))


def test_failure_during_cancellation_is_reported():
    @coroutine
    def bad_cleanup():
        try:
            msleep(-1)
        finally:
            raise Boom("in cleanup")

    cr = go(bad_cleanup())
    with pytest.raises(Boom, match="in cleanup"):
        hclose(cr)


def test_bundle_timeout_keeps_failures_for_later():
    b = dill.bundle()
    b.go(fail_after(0, "kept"))
    b.go(msleep, -1)
    with pytest.raises(dill.TimedOut):
        dill.bundle_wait(b, now() + 2)
    with pytest.raises(ExceptionGroup) as ei:
        hclose(b)
    assert [str(e) for e in ei.value.exceptions] == ["kept"]


def test_unobserved_failure_reported_through_unraisablehook(unraisable):
    cr = go(fail_after(0, "nobody looked"))
    del cr
    gc.collect()
    excs = unraisable.excs()
    assert len(excs) == 1
    assert isinstance(excs[0], Boom) and str(excs[0]) == "nobody looked"


def test_unobserved_bundle_failure_reported(unraisable):
    b = dill.bundle()
    b.go(fail_after(0, "in bundle"))
    del b
    gc.collect()
    assert len(unraisable) == 1
    eg = unraisable.excs()[0]
    assert isinstance(eg, ExceptionGroup)
    assert [str(e) for e in eg.exceptions] == ["in bundle"]


def test_observed_failure_not_reported_again(unraisable):
    cr = go(fail_after(0))
    with pytest.raises(Boom):
        cr.wait()
    del cr
    gc.collect()
    assert unraisable == []


def test_gc_of_running_coroutine_handle_warns_and_later_failure_is_reported(unraisable):
    a, b = dill.chmake()

    @coroutine
    def orphan():
        dill.chrecv(b)
        raise Boom("orphan failed")

    cr = go(orphan())
    with pytest.warns(ResourceWarning, match="garbage-collected"):
        del cr
        gc.collect()
    assert unraisable == []
    dill.chsend(a, "go")  # the orphan runs on and fails: nobody can observe it
    msleep(now() + 2)
    excs = unraisable.excs()
    assert len(excs) == 1 and str(excs[0]) == "orphan failed"
    hclose(a)
    hclose(b)


def test_gc_of_running_bundle_warns():
    a, b = dill.chmake()
    bund = dill.bundle()
    bund.go(dill.chrecv, b)
    with pytest.warns(ResourceWarning):
        del bund
        gc.collect()
    dill.chsend(a, 1)  # let the orphan finish
    msleep(now() + 1)
    hclose(a)
    hclose(b)


def test_gc_of_finished_coroutine_handle_is_silent(unraisable):
    cr = go(lambda: 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del cr
        gc.collect()
    assert unraisable == []


# ------------------------------------------------- KeyboardInterrupt & friends

def test_keyboard_interrupt_in_coroutine_reaches_root():
    @coroutine
    def interrupter():
        msleep(now() + 5)
        raise KeyboardInterrupt

    cr = go(interrupter())
    with pytest.raises(KeyboardInterrupt):
        msleep(now() + 5000)
    hclose(cr)
    # the runtime is usable afterwards
    msleep(now() + 1)


def test_keyboard_interrupt_raised_inside_go_reaches_root_at_next_block():
    @coroutine
    def interrupter():
        raise KeyboardInterrupt

    cr = go(interrupter())  # raised inside the child while root is in go()
    with pytest.raises(KeyboardInterrupt):
        dill.yield_()
    hclose(cr)
    dill.yield_()


def test_system_exit_in_coroutine_reaches_root():
    @coroutine
    def exiter():
        msleep(now() + 2)
        raise SystemExit(3)

    cr = go(exiter())
    a, b = dill.chmake()
    with pytest.raises(SystemExit) as ei:
        dill.chrecv(a)
    assert ei.value.code == 3
    # the channel registration of the interrupted receive was removed
    with pytest.raises(dill.TimedOut):
        dill.chsend(b, "x", 0)
    hclose(cr)
    hclose(a)
    hclose(b)


def test_keyboard_interrupt_while_root_in_hclose():
    @coroutine
    def interrupt_on_cancel():
        try:
            msleep(-1)
        except Canceled:
            raise KeyboardInterrupt

    cr = go(interrupt_on_cancel())
    with pytest.raises(KeyboardInterrupt):
        hclose(cr)
    assert cr.finished


# --------------------------------------------------------------- deadlock

def test_deadlock_detected_in_root_chrecv():
    a, b = dill.chmake()
    with pytest.raises(RuntimeError, match="deadlock"):
        dill.chrecv(a)
    # the runtime is usable afterwards and the channel is clean
    with pytest.raises(dill.TimedOut):
        dill.chsend(b, 1, 0)
    hclose(a)
    hclose(b)


def test_deadlock_detected_with_coroutines_blocked_too():
    a, b = dill.chmake()
    cr = go(dill.chrecv, a)  # blocked forever too
    with pytest.raises(RuntimeError, match="deadlock"):
        cr.wait()
    with pytest.raises(RuntimeError, match="deadlock"):
        msleep(-1)
    with pytest.raises(RuntimeError, match="deadlock"):
        dill.bundle_wait(cr, None)
    hclose(cr)
    hclose(a)
    hclose(b)


def test_no_deadlock_reported_while_a_timer_can_wake():
    a, b = dill.chmake()

    @coroutine
    def late():
        msleep(now() + 10)
        dill.chsend(b, "late")

    cr = go(late())
    assert dill.chrecv(a) == "late"
    hclose(cr)
    hclose(a)
    hclose(b)


def test_no_deadlock_reported_while_an_fd_can_wake():
    import socket
    import threading
    s0, s1 = socket.socketpair()
    t = threading.Timer(0.02, lambda: s1.send(b"x"))
    t.start()
    dill.fdin(s0)  # nothing but the fd can wake the root
    assert s0.recv(1) == b"x"
    t.join()
    for s in (s0, s1):
        dill.fdclean(s)
        s.close()


def test_runtime_usable_after_errors():
    a, b = dill.chmake()
    for bad in (lambda: dill.chsend(a, 1, "x"), lambda: dill.choose([(7, a)]),
                lambda: dill.chmake(-1), lambda: go(3), lambda: hclose(3)):
        with pytest.raises((TypeError, ValueError)):
            bad()
    cr = go(dill.chsend, a, "ok")
    assert dill.chrecv(b) == "ok"
    hclose(cr)
    hclose(a)
    hclose(b)
