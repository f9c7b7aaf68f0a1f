"""fdin / fdout / fdclean (libdill tests/fd.c)."""

import errno
import os
import socket
import tempfile

import pytest

import dill
from dill import Canceled, TimedOut, coroutine, fdclean, fdin, fdout, go, hclose, msleep, now


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    for s in (a, b):
        if s.fileno() >= 0:
            fdclean(s)
            s.close()


def _unused_fd():
    """A descriptor number that is not open (and not the poller's own fd)."""
    for fd in range(1000, 900, -1):
        try:
            os.fstat(fd)
        except OSError:
            return fd
    raise RuntimeError("no unused fd found")  # pragma: no cover


def test_invalid_fd_is_badhandle():
    fd = _unused_fd()
    with pytest.raises(dill.BadHandle) as ei:
        fdin(fd, -1)
    assert ei.value.errno == errno.EBADF
    with pytest.raises(dill.BadHandle):
        fdout(fd, -1)
    with pytest.raises(dill.BadHandle):
        fdin(-1, 0)
    fdclean(fd)


def test_regular_file_is_not_supported():
    with tempfile.TemporaryFile() as f:
        with pytest.raises(dill.NotSupported):
            fdin(f, 0)
        fdclean(f)


def test_non_fd_is_type_error():
    for bad in ("3", None, object(), 1.5):
        with pytest.raises(TypeError):
            fdin(bad, 0)


def test_writable_and_not_readable(pair):
    a, b = pair
    fdout(a, 0)
    with pytest.raises(TimedOut):
        fdin(a, 0)
    fdout(a, -1)
    fdout(a, now() + 100)
    fdout(a.fileno(), None)  # int fds work too


def test_fdin_times_out_at_deadline(pair):
    a, b = pair
    deadline = now() + 20
    with pytest.raises(TimedOut):
        fdin(a, deadline)
    assert now() >= deadline


def test_cancel_blocked_fdin_is_sticky(pair):
    a, b = pair
    log = []

    @coroutine
    def cancel():
        with pytest.raises(Canceled):
            fdin(a, -1)
        with pytest.raises(Canceled):
            fdin(a, -1)
        with pytest.raises(Canceled):
            fdout(a, 0)  # even though a is writable
        log.append("ok")

    cr = go(cancel())
    hclose(cr)
    assert log == ["ok"]
    # the fd slot was released: another wait on it works
    b.send(b"A")
    fdin(a, 0)


def test_data_makes_fd_readable(pair):
    a, b = pair
    b.send(b"A")
    fdin(a, -1)
    assert a.recv(1) == b"A"


def test_interleaved_deadlines(pair):
    a, b = pair
    start = now()

    @coroutine
    def trigger():
        msleep(start + 10)
        a.send(b"A")

    cr = go(trigger())
    fdin(b, start + 5000)
    assert now() - start >= 10
    assert b.recv(1) == b"A"
    hclose(cr)


def test_peer_close_reported(pair):
    a, b = pair
    b.send(b"ABC")
    fdclean(b)
    b.close()
    msleep(now() + 5)
    fdin(a, -1)
    fdout(a, -1)
    assert a.recv(16) == b"ABC"
    fdin(a, -1)
    assert a.recv(16) == b""


def test_fd_removed_from_pollset_after_timeout():
    r, w = os.pipe()
    try:
        with pytest.raises(TimedOut):
            fdin(r, now() + 5)
        os.write(w, b"abc")
        msleep(now() + 10)  # no spurious wake-up, no crash
        fdin(r, 0)
        assert os.read(r, 3) == b"abc"
        fdclean(r)
        fdclean(w)
    finally:
        os.close(r)
        os.close(w)


def test_two_waiters_same_direction_second_is_ebusy(pair):
    a, b = pair
    log = []

    @coroutine
    def first():
        fdin(a)
        log.append("first woke")

    cr = go(first())
    with pytest.raises(OSError) as ei:
        fdin(a, 0)
    assert ei.value.errno == errno.EBUSY
    # fdclean while a coroutine waits is EBUSY too
    with pytest.raises(OSError) as ei:
        fdclean(a)
    assert ei.value.errno == errno.EBUSY
    # the other direction is independent
    fdout(a, 0)
    b.send(b"x")
    cr.wait(now() + 5000)
    assert log == ["first woke"]
    hclose(cr)


def test_fd_reuse_after_fdclean_and_close():
    for _ in range(3):
        a, b = socket.socketpair()
        b.send(b"x")
        fdin(a, 0)
        with pytest.raises(TimedOut):
            fdin(b, 0)
        fdclean(a)
        fdclean(b)
        a.close()
        b.close()


def test_fdout_waits_for_buffer_space(pair):
    a, b = pair
    a.setblocking(False)
    try:
        while True:
            a.send(b"x" * 65536)
    except BlockingIOError:
        pass
    with pytest.raises(TimedOut):
        fdout(a, 0)

    @coroutine
    def drain():
        msleep(now() + 5)
        b.setblocking(False)
        try:
            while True:
                b.recv(65536)
        except BlockingIOError:
            pass

    cr = go(drain())
    fdout(a, now() + 5000)
    hclose(cr)


def test_ready_fd_not_starved_by_yield_loop(pair):
    # Fairness: a coroutine looping on yield_ delays a ready fd by at most
    # about one scheduler pass (libdill: up to a second).
    a, b = pair
    state = {"spins_after_ready": 0, "ready": False, "woke": False}

    @coroutine
    def waiter():
        fdin(a)
        state["woke"] = True

    @coroutine
    def spinner():
        for i in range(200_000):
            if state["woke"]:
                return i
            if i == 100:
                b.send(b"x")
                state["ready"] = True
            elif state["ready"]:
                state["spins_after_ready"] += 1
            dill.yield_()
        return None

    w = go(waiter())
    s = go(spinner())
    assert s.wait() is not None
    assert state["woke"]
    assert state["spins_after_ready"] <= 3
    hclose(w)
    hclose(s)
