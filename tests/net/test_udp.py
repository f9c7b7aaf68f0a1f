"""UDP: libdill's tests/udp.c plus remote filtering, deadlines, cancel, IPv6."""

import errno
import socket

import pytest

import dill
from dill import Canceled, Done, NotSupported, TimedOut
from dill.net import (
    IPAddr,
    brecv,
    bsend,
    ipaddr_local,
    mrecv,
    mrecvl,
    msend,
    msendl,
    udp_open,
    udp_recv,
    udp_recvl,
    udp_send,
    udp_sendl,
)
from nethelpers import Elapsed, needs_ipv6


def _retry_recv(fn):
    for _ in range(50):
        try:
            return fn()
        except TimedOut:
            continue
    raise AssertionError("no datagram")


def test_udp_scenario():
    s1 = udp_open(ipaddr_local("127.0.0.1", 0), None)
    a1 = s1.addr
    assert a1.port > 0
    s2 = udp_open(ipaddr_local("127.0.0.1", 0), a1)
    a2 = s2.addr

    def one():
        udp_send(s1, a2, b"ABC")
        return mrecv(s2, dill.now() + 100)

    assert _retry_recv(one) == b"ABC"

    def two():
        msend(s2, b"DEF", -1)
        return udp_recv(s1, dill.now() + 100)

    addr, data = _retry_recv(two)
    assert data == b"DEF" and addr == a2
    dill.hclose(s1)
    dill.hclose(s2)


def test_remote_filter_drops_other_sources():
    s1 = udp_open(ipaddr_local("127.0.0.1", 0))
    other = udp_open(ipaddr_local("127.0.0.1", 0))
    s2 = udp_open(ipaddr_local("127.0.0.1", 0), s1.addr)
    udp_send(other, s2.addr, b"intruder")
    udp_send(s1, s2.addr, b"friend")
    assert mrecv(s2, dill.now() + 1000) == b"friend"
    udp_send(other, s2.addr, b"intruder")
    with pytest.raises(TimedOut):
        mrecv(s2, dill.now() + 30)
    for s in (s1, other, s2):
        s.close()


def test_gather_scatter_and_sizes():
    s1 = udp_open(ipaddr_local("127.0.0.1", 0))
    s2 = udp_open(ipaddr_local("127.0.0.1", 0), s1.addr)
    msendl(s2, [b"ab", b"cd"], -1)
    a, b = bytearray(3), bytearray(3)
    addr, size = udp_recvl(s1, [a, b], dill.now() + 1000)
    assert size == 4 and a == b"abc" and b[:1] == b"d" and addr == s2.addr
    udp_sendl(s1, s2.addr, [b"x", b"yz"])
    assert mrecvl(s2, [bytearray(10)], dill.now() + 1000) == 3
    udp_sendl(s1, s2.addr, [b"0123456789"])
    with pytest.raises(OSError) as ei:
        mrecvl(s2, [bytearray(4)], dill.now() + 1000)
    assert ei.value.errno == errno.EMSGSIZE
    big = bytes(60000)
    udp_send(s1, s2.addr, big)
    assert mrecv(s2, dill.now() + 1000) == big
    udp_send(s1, s2.addr, b"")
    assert mrecv(s2, dill.now() + 1000) == b""
    s1.close()
    s2.close()


def test_errors_and_kinds():
    s = udp_open(ipaddr_local("127.0.0.1", 0))
    with pytest.raises(ValueError):
        msend(s, b"x")  # no remote
    with pytest.raises(ValueError):
        udp_send(s, None, b"x")
    with pytest.raises(NotSupported):
        bsend(s, b"x")
    with pytest.raises(NotSupported):
        brecv(s, 1)
    with pytest.raises(OSError) as ei:
        udp_send(s, s.addr, bytes(70000))
    assert ei.value.errno == errno.EMSGSIZE
    # EMSGSIZE is not sticky
    udp_send(s, s.addr, b"ok")
    assert udp_recv(s, dill.now() + 1000)[1] == b"ok"
    with pytest.raises(ValueError):
        udp_open(ipaddr_local("127.0.0.1", 0), IPAddr("::1", 5))
    s.close()


def test_deadlines_busy_cancel():
    s = udp_open(ipaddr_local("127.0.0.1", 0))
    with pytest.raises(TimedOut):
        udp_recv(s, 0)
    with Elapsed() as t:
        with pytest.raises(TimedOut):
            udp_recv(s, dill.now() + 30)
    assert 20 <= t.ms < 250
    out = []

    def rcv():
        try:
            return udp_recv(s, -1)
        except Canceled:
            out.append("canceled")
            raise

    cr = dill.go(rcv)
    with pytest.raises(OSError) as ei:
        udp_recv(s, 0)
    assert ei.value.errno == errno.EBUSY
    dill.hclose(cr)
    assert out == ["canceled"]
    # a waiting receiver gets the datagram
    cr = dill.go(udp_recv, s, -1)
    udp_send(s, s.addr, b"self")
    assert cr.wait() == (s.addr, b"self")
    dill.hclose(cr)
    s.close()


def test_any_address_ephemeral():
    s = udp_open(None, None)
    assert s.addr.port > 0
    s.close()


@needs_ipv6
def test_ipv6():
    s1 = udp_open(ipaddr_local("::1", 0))
    s2 = udp_open(ipaddr_local("::1", 0), s1.addr)
    msend(s2, b"six")
    addr, data = udp_recv(s1, dill.now() + 1000)
    assert data == b"six" and addr == s2.addr and addr.family == socket.AF_INET6
    s1.close()
    s2.close()
