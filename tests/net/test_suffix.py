"""SUFFIX: libdill's tests/suffix.c scenarios, chunked reads, limits, no byte lost."""

import errno

import pytest

import dill
from dill import BadHandle, Canceled, Done, NotSupported, TimedOut
from dill.net import (
    ByteStream,
    brecv,
    bsend,
    ipc_pair,
    mrecv,
    mrecvl,
    msend,
    suffix_attach,
    suffix_detach,
)
from nethelpers import tcp_pair


def test_libdill_tcp_exchange():
    c, s = tcp_pair()

    def client(u):
        cs = suffix_attach(u, b"\r\n")
        msend(cs, b"ABC", -1)
        assert mrecv(cs, -1) == b"GHI"
        msend(cs, b"DEF", -1)
        suffix_detach(cs, -1).close()

    cr = dill.go(client, c)
    ss = suffix_attach(s, b"\r\n")
    assert mrecv(ss, -1) == b"ABC"
    msend(ss, b"GHI", -1)
    assert mrecv(ss, -1) == b"DEF"
    suffix_detach(ss, -1).close()
    dill.bundle_wait(cr, -1)
    cr.close()


def test_libdill_ipc_long_delimiter_skip_and_reverse():
    a, b = ipc_pair()
    delim = b"1234567890"

    def client(u):
        s = suffix_attach(u, delim)
        for m in (b"First", b"Second", b"Third"):
            msend(s, m, -1)
        u = suffix_detach(s, -1)
        s = suffix_attach(u, delim)
        assert mrecv(s, -1) == b"Red"
        assert mrecv(s, -1) == b"Blue"
        suffix_detach(s, -1).close()

    cr = dill.go(client, b)
    s = suffix_attach(a, delim)
    assert mrecv(s, -1) == b"First"
    assert mrecvl(s, None, -1) == 6
    assert mrecv(s, -1) == b"Third"
    msend(s, b"Red", -1)
    msend(s, b"Blue", -1)
    cr.wait()
    cr.close()
    suffix_detach(s, -1).close()


def test_delimiter_split_across_reads():
    a, b = ipc_pair()
    sb = suffix_attach(b, b"<END>")
    for piece in (b"hel", b"lo<E", b"N", b"D><", b"END>tail"):
        bsend(a, piece)
        dill.yield_()
    assert mrecv(sb) == b"hello"
    assert mrecv(sb) == b""
    u = suffix_detach(sb)
    assert brecv(u, 4) == b"tail"
    a.close(), u.close()


def test_reads_in_chunks_and_detach_pushes_surplus_back():
    a, b = ipc_pair()
    bsend(a, b"".join(b"line%d\n" % i for i in range(1000)) + b"raw bytes")
    calls = []

    class Counting(ByteStream):
        def brecv_some(self, n, deadline=-1):
            calls.append(n)
            return b.brecv_some(n, deadline)

        def unrecv(self, data):
            b.unrecv(data)

    sb = suffix_attach(Counting(), b"\n")
    for i in range(500):
        assert mrecv(sb) == b"line%d" % i
    assert len(calls) < 10          # chunks, not a syscall per byte
    suffix_detach(sb)
    sb = suffix_attach(b, b"\n")
    for i in range(500, 1000):
        assert mrecv(sb) == b"line%d" % i
    u = suffix_detach(sb)
    assert brecv(u, 9, 0) == b"raw bytes"
    a.close(), u.close()


def test_message_containing_delimiter_refused():
    a, b = ipc_pair()
    sa = suffix_attach(a, b"\r\n")
    with pytest.raises(ValueError):
        msend(sa, b"a\r\nb")
    msend(sa, b"ends with \r")          # "...\r\r\n": the first CRLF is the delimiter: fine
    assert brecv(b, 13) == b"ends with \r\r\n"
    sx = suffix_attach(suffix_detach(sa), b"aa")
    with pytest.raises(ValueError):
        msend(sx, b"xa")                 # "xa"+"aa" parses as "x"
    msend(sx, b"xb")
    assert brecv(b, 4) == b"xbaa"
    sx.close(), b.close()


def test_max_size_accumulated():
    a, b = ipc_pair()
    sb = suffix_attach(b, b"\n", max_size=10)
    bsend(a, b"0123456789\n")
    assert mrecv(sb) == b"0123456789"
    bsend(a, b"0123456789A\n")
    with pytest.raises(OSError) as ei:
        mrecv(sb)
    assert ei.value.errno == errno.EMSGSIZE
    with pytest.raises(ConnectionResetError):
        mrecv(sb)
    a.close(), sb.close()


def test_endless_line_fails_without_buffering_it_all():
    a, b = ipc_pair()
    sb = suffix_attach(b, b"\n", max_size=1000)

    def flood():
        try:
            while True:
                bsend(a, b"x" * 4096, -1)
        except (Canceled, OSError):
            pass

    cr = dill.go(flood)
    with pytest.raises(OSError) as ei:
        mrecv(sb, dill.now() + 2000)
    assert ei.value.errno == errno.EMSGSIZE
    assert len(sb._rx) <= 1000 + 1
    cr.close()
    a.close(), sb.close()


def test_timeout_keeps_partial_line():
    a, b = ipc_pair()
    sb = suffix_attach(b)
    bsend(a, b"partial")
    with pytest.raises(TimedOut):
        mrecv(sb, dill.now() + 20)
    bsend(a, b" line\r\n")
    assert mrecv(sb, 0) == b"partial line"
    a.close(), sb.close()


def test_truncated_and_done():
    a, b = ipc_pair()
    sb = suffix_attach(b)
    bsend(a, b"one\r\nunfinished")
    a.done()
    assert mrecv(sb) == b"one"
    with pytest.raises(OSError) as ei:
        mrecv(sb)
    assert ei.value.errno == errno.EPROTO
    a.close(), sb.close()
    a, b = ipc_pair()
    sb = suffix_attach(b)
    a.done()
    with pytest.raises(Done):
        mrecv(sb)
    a.close(), sb.close()


def test_cancel_blocked_mrecv():
    a, b = ipc_pair()
    sb = suffix_attach(b)
    seen = []

    def rx():
        try:
            mrecv(sb, -1)
        except Canceled:
            seen.append(1)
            raise

    cr = dill.go(rx)
    dill.yield_()
    cr.close()
    assert seen == [1]
    bsend(a, b"after\r\n")
    assert mrecv(sb, dill.now() + 1000) == b"after"
    a.close(), sb.close()


def test_attach_errors_and_hclose():
    a, b = ipc_pair()
    with pytest.raises(ValueError):
        suffix_attach(a, b"")
    s = suffix_attach(a)
    with pytest.raises(NotSupported):
        suffix_attach(s)
    s.close()
    assert a.closed
    with pytest.raises(BadHandle):
        msend(s, b"x")
    with pytest.raises(BadHandle):
        suffix_attach(a)
    b.close()
