"""happyeyeballs_connect: libdill's tests/happyeyeballs.c scenarios with the
resolver and tcp_connect mocked, plus real loopback connections."""

import socket

import pytest

import dill
import dill.net.happyeyeballs as he
from dill import Canceled, TimedOut
from dill.net import (
    IPADDR_IPV4,
    IPADDR_IPV6,
    IPAddr,
    brecv,
    bsend,
    happyeyeballs_connect,
    ipaddr_local,
    tcp_accept,
    tcp_listen,
)
from nethelpers import Elapsed, needs_ipv6


class FakeSock:
    def __init__(self, addr):
        self.addr = addr
        self.closed = False

    def close(self):
        self.closed = True


class Mock:
    """v6/v4: (delay ms, number of addresses); connects: {addr str: (delay, ok)}."""

    def __init__(self, monkeypatch, v6, v4, connects, default_connect=(10, True)):
        self.v6 = v6
        self.v4 = v4
        self.connects = connects
        self.default = default_connect
        self.events = []  # (what, detail, ms since start)
        self.socks = []
        self.start = dill.now()
        monkeypatch.setattr(he, "ipaddr_remotes", self.remotes)
        monkeypatch.setattr(he, "tcp_connect", self.connect)

    def t(self):
        return dill.now() - self.start

    def remotes(self, name, port, mode, limit, deadline):
        delay, n = self.v6 if mode == IPADDR_IPV6 else self.v4
        fam = "v6" if mode == IPADDR_IPV6 else "v4"
        assert mode in (IPADDR_IPV4, IPADDR_IPV6)
        try:
            dill.msleep(dill.now() + delay)
        except Canceled:
            self.events.append(("dns-canceled", fam, self.t()))
            raise
        self.events.append(("dns", fam, self.t()))
        if fam == "v6":
            return [IPAddr("2001::%d" % (i + 1), port) for i in range(n)][:limit]
        return [IPAddr("192.168.0.%d" % (i + 1), port) for i in range(n)][:limit]

    def connect(self, addr, deadline):
        delay, ok = self.connects.get(str(addr), self.default)
        self.events.append(("connect", str(addr), self.t()))
        try:
            dill.msleep(dill.now() + delay)
        except Canceled:
            self.events.append(("connect-canceled", str(addr), self.t()))
            raise
        if not ok:
            raise ConnectionRefusedError(111, "refused")
        s = FakeSock(addr)
        self.socks.append(s)
        return s

    def of(self, kind):
        return [e[1] for e in self.events if e[0] == kind]

    def when(self, kind, detail):
        return [e[2] for e in self.events if e[0] == kind and e[1] == detail][0]


def run(deadline_ms=None):
    dl = -1 if deadline_ms is None else dill.now() + deadline_ms
    return happyeyeballs_connect("example.test", 80, dl)


def test_1_v6_only(monkeypatch):
    m = Mock(monkeypatch, (10, 1), (10, 0), {})
    s = run()
    assert str(s.addr) == "2001::1"
    assert m.of("connect") == ["2001::1"]


def test_2_v4_only(monkeypatch):
    m = Mock(monkeypatch, (0, 0), (10, 1), {})
    s = run()
    assert str(s.addr) == "192.168.0.1"
    assert m.of("connect") == ["192.168.0.1"]


def test_3_slow_v4_query_canceled(monkeypatch):
    m = Mock(monkeypatch, (10, 1), (100, 1), {})
    s = run()
    assert str(s.addr) == "2001::1"
    assert m.of("dns-canceled") == ["v4"]


def test_4_slow_v6_query_canceled(monkeypatch):
    m = Mock(monkeypatch, (1000, 1), (10, 1), {})
    with Elapsed() as t:
        s = run()
    assert str(s.addr) == "192.168.0.1"
    assert m.of("dns-canceled") == ["v6"]
    assert 40 <= m.when("connect", "192.168.0.1") < 200
    assert t.ms < 500


def test_5_v6_within_resolution_delay_wins(monkeypatch):
    m = Mock(monkeypatch, (30, 1), (10, 1), {})
    s = run()
    assert str(s.addr) == "2001::1"
    assert m.of("connect") == ["2001::1"]


def test_6_v6_too_late(monkeypatch):
    m = Mock(monkeypatch, (100, 1), (10, 1), {"192.168.0.1": (100, True)})
    s = run()
    assert str(s.addr) == "192.168.0.1"
    assert m.of("connect")[0] == "192.168.0.1"
    assert 40 <= m.when("connect", "192.168.0.1") < 100


def test_7_v4_slow_canceled(monkeypatch):
    m = Mock(monkeypatch, (100, 1), (200, 1), {})
    s = run()
    assert str(s.addr) == "2001::1"
    assert m.of("dns-canceled") == ["v4"]


@pytest.mark.parametrize("deadline", [30, 100])
def test_8_9_dns_deadline(monkeypatch, deadline):
    m = Mock(monkeypatch, (1000, 1), (1000, 1), {})
    with Elapsed() as t:
        with pytest.raises(TimedOut):
            run(deadline)
    assert deadline - 10 <= t.ms < deadline + 150
    assert sorted(m.of("dns-canceled")) == ["v4", "v6"]


def test_10_attempts_staggered_then_deadline(monkeypatch):
    m = Mock(monkeypatch, (10, 2), (20, 2), {}, default_connect=(2000, True))
    with pytest.raises(TimedOut):
        run(900)
    assert m.of("connect") == ["2001::1", "192.168.0.1", "2001::2"]
    t = [e[2] for e in m.events if e[0] == "connect"]
    assert t[1] - t[0] >= 250 and t[2] - t[1] >= 250
    assert sorted(m.of("connect-canceled")) == ["192.168.0.1", "2001::1", "2001::2"]


def test_11_late_v6(monkeypatch):
    m = Mock(monkeypatch, (460, 3), (10, 3), {"192.168.0.3": (50, True)},
             default_connect=(2000, True))
    s = run()
    assert str(s.addr) == "192.168.0.3"
    assert m.of("connect") == ["192.168.0.1", "192.168.0.2", "2001::1", "192.168.0.3"]
    assert sorted(m.of("connect-canceled")) == ["192.168.0.1", "192.168.0.2", "2001::1"]


def test_12_late_v4(monkeypatch):
    m = Mock(monkeypatch, (10, 3), (400, 3), {"2001::3": (50, True)},
             default_connect=(2000, True))
    s = run()
    assert str(s.addr) == "2001::3"
    assert m.of("connect") == ["2001::1", "2001::2", "192.168.0.1", "2001::3"]


def test_failure_starts_next_attempt_at_once(monkeypatch):
    m = Mock(monkeypatch, (10, 1), (10, 1), {"2001::1": (10, False)})
    s = run()
    assert str(s.addr) == "192.168.0.1"
    assert m.when("connect", "192.168.0.1") < 150


def test_all_refused(monkeypatch):
    m = Mock(monkeypatch, (10, 2), (10, 2), {}, default_connect=(5, False))
    with pytest.raises(ConnectionRefusedError):
        run(5000)
    assert len(m.of("connect")) == 4


def test_no_addresses(monkeypatch):
    Mock(monkeypatch, (5, 0), (5, 0), {})
    with pytest.raises(OSError):
        run(1000)


def test_late_success_is_closed(monkeypatch):
    # both connect; the second success must be closed, not leaked
    m = Mock(monkeypatch, (10, 1), (10, 1), {"2001::1": (400, True), "192.168.0.1": (10, True)})
    s = run()
    assert str(s.addr) == "192.168.0.1"
    assert all(x.closed for x in m.socks if x is not s)
    assert not s.closed


def test_cancel(monkeypatch):
    m = Mock(monkeypatch, (1000, 1), (1000, 1), {})
    out = []

    def go():
        try:
            run()
        except Canceled:
            out.append("canceled")
            raise

    cr = dill.go(go)
    dill.msleep(dill.now() + 20)
    dill.hclose(cr)
    assert out == ["canceled"]
    assert sorted(m.of("dns-canceled")) == ["v4", "v6"]


def test_bad_args():
    with pytest.raises(ValueError):
        happyeyeballs_connect("", 80)
    with pytest.raises(ValueError):
        happyeyeballs_connect("x", 0)


# ------------------------------------------------------------ real sockets


def _gai(table):
    def gai(host, port, family=0, type=0, proto=0, flags=0):
        out = []
        for a in table.get(host, ()):
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            if family in (0, fam):
                sa = (a, port, 0, 0) if fam == socket.AF_INET6 else (a, port)
                out.append((fam, socket.SOCK_STREAM, 6, "", sa))
        if not out:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return out

    return gai


def test_real_v4_listener_with_v6_refused(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _gai({"dual.test": ["::1", "127.0.0.1"]}))
    ls = tcp_listen(ipaddr_local("127.0.0.1", 0))
    with Elapsed() as t:
        c = happyeyeballs_connect("dual.test", ls.addr.port, dill.now() + 3000)
    assert t.ms < 250  # the refused ::1 attempt does not cost the 300 ms stagger
    s, _ = tcp_accept(ls, dill.now() + 1000)
    bsend(c, b"hey")
    assert brecv(s, 3) == b"hey"
    for h in (c, s, ls):
        h.close()


def test_real_literal():
    ls = tcp_listen(ipaddr_local("127.0.0.1", 0))
    c = happyeyeballs_connect("127.0.0.1", ls.addr.port, dill.now() + 3000)
    s, _ = tcp_accept(ls, dill.now() + 1000)
    # a literal needs no resolution: connected straight to the listener
    assert c.socket.getpeername() == ("127.0.0.1", ls.addr.port)
    bsend(c, b"hey")
    assert brecv(s, 3) == b"hey"
    c.close()
    s.close()
    ls.close()


def test_real_nothing_listening(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _gai({"dual.test": ["::1", "127.0.0.1"]}))
    ls = tcp_listen(ipaddr_local("127.0.0.1", 0))
    port = ls.addr.port
    ls.close()
    with pytest.raises(ConnectionRefusedError):
        happyeyeballs_connect("dual.test", port, dill.now() + 3000)


@needs_ipv6
def test_real_v6_preferred(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _gai({"dual.test": ["127.0.0.1", "::1"]}))
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::1", 0))
    port = s6.getsockname()[1]
    s6.close()
    ls6 = tcp_listen(ipaddr_local("::1", port))
    try:
        ls4 = tcp_listen(ipaddr_local("127.0.0.1", port))
    except OSError:
        ls6.close()
        pytest.skip("port taken on IPv4")
    c = happyeyeballs_connect("dual.test", port, dill.now() + 3000)
    assert c.addr.family == socket.AF_INET6
    for h in (c, ls6, ls4):
        h.close()
