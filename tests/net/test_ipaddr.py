"""Addresses: libdill's tests/ipaddr.c plus the Python-side details and DNS
through a (patched) socket.getaddrinfo in a worker thread."""

import errno
import pickle
import socket
import threading
import time

import pytest

import dill
from dill import Canceled, TimedOut
from dill.net import (
    IPADDR_IPV4,
    IPADDR_IPV6,
    IPADDR_PREF_IPV4,
    IPADDR_PREF_IPV6,
    IPAddr,
    ipaddr_equal,
    ipaddr_local,
    ipaddr_remote,
    ipaddr_remotes,
)
from nethelpers import Elapsed


def test_local_ipv4_literal():
    a = ipaddr_local("1.2.3.4", 5555, 0)
    assert a.family == socket.AF_INET
    assert a.port == 5555
    assert str(a) == "1.2.3.4"
    assert a.packed == bytes([1, 2, 3, 4])
    assert a.sockaddr == ("1.2.3.4", 5555)
    assert "5555" in repr(a) and "1.2.3.4" in repr(a)


def test_local_ipv6_literal():
    a = ipaddr_local("::1", 5555, 0)
    assert a.family == socket.AF_INET6
    assert a.port == 5555
    assert str(a) == "::1"
    assert a.sockaddr[:2] == ("::1", 5555)
    assert len(a.sockaddr) == 4


def test_equal():
    a = ipaddr_local("1.2.3.4", 5555)
    assert a == ipaddr_local("1.2.3.4", 5555)
    assert a != ipaddr_local("1.2.3.5", 5555)
    assert a != ipaddr_local("1.2.3.4", 5556)
    assert ipaddr_equal(a, ipaddr_local("1.2.3.4", 5556), True)
    assert not ipaddr_equal(a, ipaddr_local("1.2.3.4", 5556))
    b = ipaddr_local("::1:2:3:4", 5555)
    assert b == ipaddr_local("::1:2:3:4", 5555)
    assert b != ipaddr_local("::4:3:2:1", 5555)
    assert b != ipaddr_local("::1:2:3:4", 5556)
    assert ipaddr_equal(b, ipaddr_local("::1:2:3:4", 5556), ignore_port=True)
    assert a != b
    assert ipaddr_local("::ffff:1.2.3.4", 5555) != a
    assert a != ("1.2.3.4", 5555)


def test_hash_with_port_pickle():
    a = ipaddr_local("10.0.0.1", 80)
    assert len({a, ipaddr_local("10.0.0.1", 80), a.with_port(81)}) == 2
    b = a.with_port(443)
    assert b.port == 443 and a.port == 80 and str(b) == "10.0.0.1"
    assert pickle.loads(pickle.dumps(b)) == b
    assert IPAddr("::0001", 1) == IPAddr("::1", 1)  # canonical form
    assert str(IPAddr("0:0::1")) == "::1"


def test_any_address():
    assert str(ipaddr_local(None, 80)) == "0.0.0.0"
    assert str(ipaddr_local(None, 80, IPADDR_IPV4)) == "0.0.0.0"
    assert str(ipaddr_local(None, 80, IPADDR_IPV6)) == "::"
    assert str(ipaddr_local(None, 80, IPADDR_PREF_IPV6)) == "::"


def test_bad_arguments():
    with pytest.raises(ValueError):
        ipaddr_local(None, 70000)
    with pytest.raises(ValueError):
        ipaddr_local("1.2.3.4", -1)
    with pytest.raises(ValueError):
        ipaddr_local("1.2.3.4", 80, 9)
    with pytest.raises(TypeError):
        ipaddr_local("1.2.3.4", "80")
    with pytest.raises(OSError) as ei:
        ipaddr_local("no-such-interface-xyz", 80)
    assert ei.value.errno == errno.ENODEV
    # strict mode: a literal of the other family is not a literal
    with pytest.raises(OSError) as ei:
        ipaddr_local("1.2.3.4", 80, IPADDR_IPV6)
    assert ei.value.errno == errno.ENODEV
    with pytest.raises(ValueError):
        IPAddr("1.2.3.999", 1)


def test_local_interface_name():
    a = ipaddr_local("lo", 1234, IPADDR_IPV4)
    assert str(a) == "127.0.0.1" and a.port == 1234


def test_remote_literals():
    a = ipaddr_remote("127.0.0.1", 80, 0, -1)
    assert a == IPAddr("127.0.0.1", 80)
    assert ipaddr_remote("::1", 80, IPADDR_PREF_IPV4, -1) == IPAddr("::1", 80)
    with pytest.raises(OSError) as ei:
        ipaddr_remote("127.0.0.1", 80, IPADDR_IPV6, -1)
    assert ei.value.errno == errno.EADDRNOTAVAIL
    assert ipaddr_remotes("127.0.0.1", 80, IPADDR_IPV6, 10, -1) == []
    assert ipaddr_remotes("127.0.0.1", 80, IPADDR_IPV4, 10, -1) == [IPAddr("127.0.0.1", 80)]


def _fake_gai(table, delay=0.0, calls=None):
    def gai(host, port, family=0, type=0, proto=0, flags=0):
        if calls is not None:
            calls.append((host, family, threading.current_thread().name))
        if delay:
            time.sleep(delay)
        out = []
        for a in table.get(host, ()):
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            if family not in (0, fam):
                continue
            sa = (a, port, 0, 0) if fam == socket.AF_INET6 else (a, port)
            out.append((fam, socket.SOCK_STREAM, 6, "", sa))
        if not out:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return out

    return gai


TABLE = {"example.test": ["10.0.0.1", "2001:db8::1", "10.0.0.2", "2001:db8::2"]}


def test_remote_dns_modes(monkeypatch):
    calls = []
    monkeypatch.setattr(socket, "getaddrinfo", _fake_gai(TABLE, calls=calls))
    assert ipaddr_remote("example.test", 80, IPADDR_IPV4, -1) == IPAddr("10.0.0.1", 80)
    assert ipaddr_remote("example.test", 80, IPADDR_IPV6, -1) == IPAddr("2001:db8::1", 80)
    assert ipaddr_remote("example.test", 80, IPADDR_PREF_IPV6, -1) == IPAddr("2001:db8::1", 80)
    assert ipaddr_remote("example.test", 80, IPADDR_PREF_IPV4, -1) == IPAddr("10.0.0.1", 80)
    assert [str(a) for a in ipaddr_remotes("example.test", 81, IPADDR_PREF_IPV6, 10, -1)] == [
        "2001:db8::1", "2001:db8::2", "10.0.0.1", "10.0.0.2"]
    assert [str(a) for a in ipaddr_remotes("example.test", 81, IPADDR_PREF_IPV4, 3, -1)] == [
        "10.0.0.1", "10.0.0.2", "2001:db8::1"]
    assert all(a.port == 81 for a in ipaddr_remotes("example.test", 81))
    # resolved off the hub's thread
    assert calls and all(name != threading.current_thread().name for _, _, name in calls)
    assert ipaddr_remotes("nosuch.test", 80, IPADDR_PREF_IPV4, 10, -1) == []
    with pytest.raises(OSError) as ei:
        ipaddr_remote("nosuch.test", 80, 0, -1)
    assert ei.value.errno == errno.EADDRNOTAVAIL


def test_dns_does_not_block_the_hub(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _fake_gai(TABLE, delay=0.15))
    ticks = []

    def ticker():
        for _ in range(5):
            dill.msleep(dill.now() + 10)
            ticks.append(dill.now())

    cr = dill.go(ticker)
    assert str(ipaddr_remote("example.test", 80, IPADDR_IPV4, -1)) == "10.0.0.1"
    cr.wait()
    dill.hclose(cr)
    assert len(ticks) == 5


def test_dns_deadline(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _fake_gai(TABLE, delay=0.5))
    with Elapsed() as t:
        with pytest.raises(TimedOut):
            ipaddr_remote("example.test", 80, 0, dill.now() + 50)
    assert 40 <= t.ms < 400
    with pytest.raises(TimedOut):
        ipaddr_remotes("example.test", 80, 0, 10, 0)


def test_dns_cancel(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _fake_gai(TABLE, delay=0.5))
    out = []

    def resolver():
        try:
            ipaddr_remote("example.test", 80, 0, -1)
        except Canceled:
            out.append("canceled")
            raise

    cr = dill.go(resolver)
    dill.msleep(dill.now() + 20)
    with Elapsed() as t:
        dill.hclose(cr)
    assert out == ["canceled"]
    assert t.ms < 200


def test_dns_error_propagates_cleanly(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("resolver exploded")

    monkeypatch.setattr(socket, "getaddrinfo", boom)
    with pytest.raises(RuntimeError):
        ipaddr_remote("example.test", 80, 0, -1)
    # the runtime is fine afterwards
    dill.msleep(dill.now() + 1)
