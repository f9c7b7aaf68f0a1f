"""The base interfaces (dill.net._base): generic brecv/brecvl built on brecv_some and
unrecv, the per-direction state helpers, dispatch and NotSupported."""

import errno

import pytest

import dill
from dill import BadHandle, Done, NotSupported, TimedOut
from dill.net import (
    ByteStream,
    MessageSocket,
    brecv,
    brecvl,
    bsend,
    bsendl,
    mrecv,
    mrecvl,
    msend,
    msendl,
)
from dill.net._base import BUSY, CLOSED, DONE, RESET


class MemStream(ByteStream):
    """A scripted bytestream: ``feed`` chunks; when empty, brecv_some times out (or
    raises Done after ``end()``)."""

    def __init__(self):
        ByteStream.__init__(self)
        self.chunks = []
        self.sent = []
        self.eof = False

    def feed(self, b):
        self.chunks.append(b)

    def end(self):
        self.eof = True

    def brecv_some(self, n, deadline=-1):
        self._in_check()
        if not self.chunks:
            if self.eof:
                raise Done()
            raise TimedOut()
        c = self.chunks.pop(0)
        if len(c) > n:
            self.chunks.insert(0, c[n:])
            c = c[:n]
        return c

    def unrecv(self, data):
        if data:
            self.chunks.insert(0, bytes(data))

    def bsendl(self, buffers, deadline=-1):
        self._out_acquire()
        try:
            for b in buffers:
                self.sent.append(bytes(b))
        finally:
            self._out_release()

    def done(self, deadline=-1):
        self._out_check()
        self._out_fail(DONE)


class MemMsg(MessageSocket):
    def __init__(self):
        MessageSocket.__init__(self)
        self.q = []

    def msendl(self, buffers, deadline=-1):
        self._out_check()
        self.q.append(b"".join(bytes(b) for b in buffers))

    def mrecv(self, deadline=-1):
        self._in_check()
        if not self.q:
            raise TimedOut()
        return self.q.pop(0)


def test_generic_brecv_assembles_and_pushes_back():
    s = MemStream()
    s.feed(b"AB")
    s.feed(b"CD")
    s.feed(b"E")
    assert brecv(s, 4) == b"ABCD"
    with pytest.raises(TimedOut):
        brecv(s, 3)  # only "E" there: pushed back
    s.feed(b"FG")
    assert brecv(s, 3) == b"EFG"
    assert brecv(s, 0) == b""
    with pytest.raises(ValueError):
        brecv(s, -1)


def test_generic_brecv_done_midway_loses_nothing():
    s = MemStream()
    s.feed(b"xy")
    s.end()
    with pytest.raises(Done):
        brecv(s, 5)
    assert brecv(s, 2) == b"xy"


def test_generic_brecvl():
    s = MemStream()
    s.feed(b"ABCDEFGHIJ")
    a, b = bytearray(3), bytearray(3)
    brecvl(s, [a, 3, b])
    assert (a, b) == (b"ABC", b"GHI")
    s.feed(b"12")
    with pytest.raises(TimedOut):
        brecvl(s, [bytearray(1), bytearray(5)])
    assert brecv(s, 3) == b"J12"
    with pytest.raises(TypeError):
        brecvl(s, [b"readonly"])


def test_bsend_and_bsendl_dispatch():
    s = MemStream()
    bsend(s, b"abc")
    bsendl(s, [b"d", bytearray(b"e")])
    assert s.sent == [b"abc", b"d", b"e"]


def test_wrong_kind_is_notsupported():
    s = MemStream()
    m = MemMsg()
    for fn, args in ((msend, (s, b"x")), (mrecv, (s,)), (msendl, (s, [b"x"])),
                     (mrecvl, (s, [bytearray(1)])), (bsend, (m, b"x")), (brecv, (m, 1)),
                     (bsendl, (m, [b"x"])), (brecvl, (m, [bytearray(1)]))):
        with pytest.raises(NotSupported) as ei:
            fn(*args)
        assert ei.value.errno == errno.ENOTSUP
    with pytest.raises(TypeError):
        brecv("not a socket", 1)


def test_message_generic_helpers():
    m = MemMsg()
    msend(m, b"hello")
    msendl(m, [b"wor", b"ld"])
    assert mrecv(m) == b"hello"
    a, b = bytearray(3), bytearray(5)
    assert mrecvl(m, [a, b]) == 5
    assert a == b"wor" and b[:2] == b"ld"
    msend(m, b"toolong")
    with pytest.raises(OSError) as ei:
        mrecvl(m, [bytearray(2)])
    assert ei.value.errno == errno.EMSGSIZE
    msend(m, b"dropme")
    assert mrecvl(m, None) == 6


def test_state_helpers():
    s = MemStream()
    s._in_acquire()
    with pytest.raises(OSError) as ei:
        s._in_acquire()
    assert ei.value.errno == errno.EBUSY
    s._in_release()
    s._in_acquire()
    s._in_fail()  # sticky reset while busy
    s._in_release()  # does not clear a sticky state
    with pytest.raises(ConnectionResetError):
        s._in_check()
    # other direction unaffected
    bsend(s, b"ok")
    s.done()
    with pytest.raises(Done):
        bsend(s, b"x")
    with pytest.raises(Done):
        s.done()
    s.close()
    with pytest.raises(BadHandle):
        brecv(s, 1)
    with pytest.raises(BadHandle):
        bsend(s, b"x")
    s._in_fail()  # never overrides CLOSED
    assert s._inb is CLOSED
    assert BUSY is not RESET


def test_close_via_hclose():
    s = MemStream()
    dill.hclose(s)
    assert s.closed
    dill.hclose(s)  # closing twice is a no-op
