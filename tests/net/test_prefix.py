"""PREFIX: libdill's tests/prefix.c scenarios, limits, stacking without loss, errors."""

import errno

import pytest

import dill
from dill import BadHandle, Canceled, Done, NotSupported, TimedOut
from dill.net import (
    PREFIX_LITTLE_ENDIAN,
    brecv,
    bsend,
    ipc_pair,
    mrecv,
    mrecvl,
    msend,
    msendl,
    prefix_attach,
    prefix_detach,
)
from nethelpers import tcp_pair


def test_libdill_tcp_exchange():
    c, s = tcp_pair()

    def client(u):
        cs = prefix_attach(u, 8, 0)
        msend(cs, b"ABC", -1)
        assert mrecv(cs, -1) == b"GHI"
        msend(cs, b"DEF", -1)
        u = prefix_detach(cs)
        u.close()

    cr = dill.go(client, c)
    ss = prefix_attach(s, 8, 0)
    assert mrecv(ss, -1) == b"ABC"
    msend(ss, b"GHI", -1)
    assert mrecv(ss, -1) == b"DEF"
    u = prefix_detach(ss)
    u.close()
    dill.bundle_wait(cr, -1)
    cr.close()


def test_libdill_ipc_little_endian_skip_and_detach():
    a, b = ipc_pair()

    def client(u):
        s = prefix_attach(u, 3, PREFIX_LITTLE_ENDIAN)
        msend(s, b"First", -1)
        msend(s, b"Second", -1)
        msend(s, b"Third", -1)
        u = prefix_detach(s)
        u.close()

    cr = dill.go(client, b)
    s = prefix_attach(a, 3, PREFIX_LITTLE_ENDIAN)
    assert mrecv(s, -1) == b"First"
    assert mrecvl(s, None, -1) == 6       # skip "Second"
    assert mrecv(s, -1) == b"Third"
    cr.wait()
    cr.close()
    prefix_detach(s).close()


def test_wire_format_big_and_little():
    a, b = ipc_pair()
    pa = prefix_attach(a, 2)
    msend(pa, b"xyz")
    assert brecv(b, 5) == b"\x00\x03xyz"
    pa = prefix_attach(prefix_detach(pa), 4, PREFIX_LITTLE_ENDIAN)
    msendl(pa, [b"a", bytearray(b"b"), memoryview(b"c")])
    assert brecv(b, 7) == b"\x03\x00\x00\x00abc"
    pa.close()
    b.close()


def test_reverse_direction_after_peer_detached():
    a, b = ipc_pair()
    pa, pb = prefix_attach(a), prefix_attach(b)
    msend(pa, b"Red")
    msend(pa, b"Blue")
    ua = prefix_detach(pa)
    assert mrecv(pb) == b"Red"
    assert mrecv(pb) == b"Blue"
    ua.close()
    with pytest.raises(Done):
        mrecv(pb)
    with pytest.raises(Done):   # sticky
        mrecv(pb)
    pb.close()


def test_stack_unstack_loses_no_byte():
    a, b = ipc_pair()
    pa = prefix_attach(a)
    for i in range(50):
        msend(pa, b"m%d" % i)
    a = prefix_detach(pa)
    bsend(a, b"RAWTAIL")
    pb = prefix_attach(b)
    # the receiver reads in big chunks: everything arrived at once
    for i in range(20):
        assert mrecv(pb) == b"m%d" % i
    b = prefix_detach(pb)           # 30 messages + raw bytes pushed back
    pb = prefix_attach(b, 8)
    for i in range(20, 50):
        assert mrecv(pb) == b"m%d" % i
    b = prefix_detach(pb)
    assert brecv(b, 7, 0) == b"RAWTAIL"
    a.close()
    b.close()


def test_max_size_refused_without_allocating_and_sticky():
    a, b = ipc_pair()
    pb = prefix_attach(b, max_size=1000)
    # announce 2**60 bytes: must fail at once, not try to read/allocate them
    bsend(a, (1 << 60).to_bytes(8, "big") + b"xx")
    with pytest.raises(OSError) as ei:
        mrecv(pb, dill.now() + 1000)
    assert ei.value.errno == errno.EMSGSIZE
    with pytest.raises(ConnectionResetError):
        mrecv(pb, 0)
    # the send direction is unaffected
    msend(pb, b"still ok")
    assert brecv(a, 16) == b"\x00" * 7 + b"\x08still ok"
    with pytest.raises(ConnectionResetError):
        prefix_detach(pb)          # a failed socket: detach closes the stack
    with pytest.raises(BadHandle):
        mrecv(pb)
    a.close()


def test_exactly_max_size_ok():
    a, b = ipc_pair()
    pa, pb = prefix_attach(a), prefix_attach(b, max_size=5)
    msend(pa, b"12345")
    assert mrecv(pb) == b"12345"
    pa.close(), pb.close()


def test_too_big_for_header_refused_before_writing():
    a, b = ipc_pair()
    pa = prefix_attach(a, 1)
    with pytest.raises(OSError) as ei:
        msend(pa, b"x" * 256)
    assert ei.value.errno == errno.EMSGSIZE
    msend(pa, b"x" * 255)            # the socket is still usable
    assert brecv(b, 1) == b"\xff"     # nothing of the refused message went out
    assert brecv(b, 255) == b"x" * 255
    pa.close(), b.close()


def test_timeout_mid_message_loses_nothing():
    a, b = ipc_pair()
    pb = prefix_attach(b)
    bsend(a, b"\x00\x00\x00")
    with pytest.raises(TimedOut):
        mrecv(pb, dill.now() + 20)
    bsend(a, b"\x00\x00\x00\x00\x05AB")
    with pytest.raises(TimedOut):
        mrecv(pb, 0)
    bsend(a, b"CDE")
    assert mrecv(pb, 0) == b"ABCDE"   # deadline 0, data there: succeeds
    a.close(), pb.close()


def test_truncated_message_is_eproto():
    a, b = ipc_pair()
    pb = prefix_attach(b)
    bsend(a, b"\x00\x00\x00\x00\x00\x00\x00\x09abc")
    a.done()
    with pytest.raises(OSError) as ei:
        mrecv(pb)
    assert ei.value.errno == errno.EPROTO
    with pytest.raises(ConnectionResetError):
        mrecv(pb)
    a.close(), pb.close()


def test_reset_mid_message():
    c, s = tcp_pair()
    ps = prefix_attach(s)
    bsend(c, b"\x00\x00\x00\x00\x00\x00\x01\x00abc")
    c.close()      # hard close: RST
    with pytest.raises((ConnectionResetError, OSError)):
        mrecv(ps, dill.now() + 2000)
    ps.close()


def test_cancel_blocked_mrecv_and_msend():
    a, b = ipc_pair()
    pa, pb = prefix_attach(a), prefix_attach(b)   # pa sends to pb, nobody reads pa / sends to pb
    got = []

    c, d = ipc_pair()
    pd = prefix_attach(d)

    def receiver():
        try:
            mrecv(pd, -1)
        except Canceled:
            got.append("recv canceled")
            raise

    def sender():
        try:
            while True:
                msend(pa, b"x" * 65536, -1)
        except Canceled:
            got.append("send canceled")
            raise

    r = dill.go(receiver)
    s = dill.go(sender)
    dill.msleep(dill.now() + 20)
    r.close()
    s.close()
    assert sorted(got) == ["recv canceled", "send canceled"]
    pa.close(), pb.close(), c.close(), pd.close()


def test_ebusy_two_receivers():
    a, b = ipc_pair()
    pb = prefix_attach(b)
    cr = dill.go(mrecv, pb, -1)
    with pytest.raises(OSError) as ei:
        mrecv(pb, 0)
    assert ei.value.errno == errno.EBUSY
    with pytest.raises(OSError) as ei:
        prefix_detach(pb)
    assert ei.value.errno == errno.EBUSY
    msend(prefix_attach(a), b"hi")
    assert cr.wait() == b"hi"
    cr.close()
    pb.close()


def test_hclose_closes_whole_stack():
    a, b = ipc_pair()
    pb = prefix_attach(b)
    dill.hclose(pb)
    assert b.closed
    with pytest.raises(BadHandle):
        mrecv(pb)
    a.close()


def test_attach_errors():
    a, b = ipc_pair()
    with pytest.raises(ValueError):
        prefix_attach(a, 0)
    p = prefix_attach(a)
    with pytest.raises(NotSupported):
        prefix_attach(p)              # not a bytestream
    with pytest.raises(NotSupported):
        bsend(p, b"x")
    with pytest.raises(TypeError):
        prefix_attach(42)
    with pytest.raises(TypeError):
        prefix_detach(a)
    p.close(), b.close()


def test_big_message_and_many_small():
    a, b = ipc_pair()
    pa, pb = prefix_attach(a), prefix_attach(b)
    big = bytes(range(256)) * 4096     # 1 MiB
    cr = dill.go(msend, pa, big, -1)
    assert mrecv(pb) == big
    cr.wait(), cr.close()

    def many():
        for i in range(2000):
            msend(pa, b"%d" % i)

    cr = dill.go(many)
    for i in range(2000):
        assert mrecv(pb) == b"%d" % i
    cr.wait(), cr.close()
    pa.close(), pb.close()


def test_server_keeps_serving_after_one_bad_peer():
    """A peer sending garbage fails only its own socket."""
    from dill.net import tcp_listen, tcp_accept, tcp_connect, tcp_close
    from nethelpers import local4
    ls = tcp_listen(local4())
    results = []

    def handler(s):
        p = prefix_attach(s, max_size=100)
        try:
            while True:
                msend(p, mrecv(p, dill.now() + 2000), dill.now() + 2000)
        except Done:
            results.append("done")
            tcp_close(prefix_detach(p), dill.now() + 1000)
        except OSError as e:
            results.append(e.errno)
        finally:
            p.close()

    def server():
        with dill.bundle() as b:
            for _ in range(2):
                s, _ = tcp_accept(ls, -1)
                b.go(handler, s)
            dill.bundle_wait(b, dill.now() + 3000)

    srv = dill.go(server)
    bad = tcp_connect(ls.addr, -1)
    bsend(bad, b"\xff" * 8)
    good = prefix_attach(tcp_connect(ls.addr, -1))
    msend(good, b"hello")
    assert mrecv(good, dill.now() + 2000) == b"hello"
    good.done()
    with pytest.raises(Done):
        mrecv(good, dill.now() + 2000)
    srv.wait()
    srv.close()
    assert sorted(map(str, results)) == sorted(map(str, [errno.EMSGSIZE, "done"]))
    bad.close(), good.close(), ls.close()
