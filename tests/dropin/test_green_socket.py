"""dill.green.socket: stdlib semantics, blocking only the calling coroutine."""

from __future__ import annotations

import errno
import os
import socket as stdsocket
import time

import pytest

import dill
from dill import Canceled, go, hclose, msleep, now
from dill.green import socket


def later(ms):
    return now() + ms


def ticker(counter):
    """A coroutine that proves the hub keeps running while another one waits."""
    while True:
        msleep(later(5))
        counter[0] += 1


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def server():
    srv = socket.create_server(("127.0.0.1", 0))
    yield srv
    srv.close()


def test_module_surface():
    assert issubclass(socket.socket, stdsocket.socket)
    assert socket.AF_INET == stdsocket.AF_INET
    assert socket.timeout is TimeoutError
    assert socket.error is OSError
    assert socket.SocketType is stdsocket.SocketType
    for name in stdsocket.__all__:
        assert hasattr(socket, name), name


def test_recv_blocks_only_the_coroutine(pair):
    a, b = pair
    ticks = [0]
    t = go(ticker, ticks)
    cr = go(a.recv, 10)
    msleep(later(40))
    assert ticks[0] >= 3
    b.sendall(b"hello")
    assert cr.wait() == b"hello"
    hclose(t)


def test_timeout_semantics(pair):
    a, b = pair
    assert a.gettimeout() is None and a.getblocking()
    a.settimeout(0.05)
    assert a.gettimeout() == 0.05 and a.getblocking()
    t0 = time.monotonic()
    with pytest.raises(stdsocket.timeout) as ei:
        a.recv(1)
    assert 0.04 <= time.monotonic() - t0 < 1
    assert str(ei.value) == "timed out"
    a.settimeout(0)
    assert not a.getblocking() and a.gettimeout() == 0.0
    with pytest.raises(BlockingIOError) as ei:
        a.recv(1)
    assert ei.value.errno == errno.EAGAIN
    a.setblocking(True)
    assert a.gettimeout() is None
    a.setblocking(False)
    assert a.gettimeout() == 0.0
    with pytest.raises(ValueError):
        a.settimeout(-1)
    with pytest.raises(TypeError):
        a.settimeout("x")
    # the fd itself is always non-blocking underneath
    a.settimeout(None)
    assert not os.get_blocking(a.fileno())        # O_NONBLOCK is set on the fd
    assert not stdsocket.socket.getblocking(a)    # and the C socket's timeout is 0
    b.send(b"x")
    assert a.recv(1) == b"x"


def test_default_timeout_is_honoured():
    old = stdsocket.getdefaulttimeout()
    stdsocket.setdefaulttimeout(0.5)
    try:
        s = socket.socket()
        assert s.gettimeout() == 0.5
        s.close()
    finally:
        stdsocket.setdefaulttimeout(old)


_TIMEOUTS = [None, 0, 0.0, -0.0, 1, 2.5, 1e-10, 2 ** 31, True, False, -1, -0.5,
             float("nan"), float("inf"), 2 ** 63, "1", [1]]
_FLAGS = [True, False, 0, 1, 2, -1, 2 ** 70, 1.5, 0.0, None, "x"]


def _outcome(call, value):
    """What ``call(value)`` does: the timeout it leaves, or the error it raises."""
    sock = call.__self__
    try:
        call(value)
    except Exception as e:
        return type(e), str(e)
    return sock.gettimeout(), sock.getblocking()


@pytest.mark.parametrize("method,values", [("settimeout", _TIMEOUTS),
                                           ("setblocking", _FLAGS)])
def test_timeout_setters_match_the_stdlib(method, values):
    """Each value, twice (the second call reuses what the first one parsed): the
    stdlib's result or error, and the fd stays non-blocking."""
    std, green = stdsocket.socket(), socket.socket()
    with std, green:
        for value in values + values:
            assert _outcome(getattr(green, method), value) == \
                _outcome(getattr(std, method), value), value
            assert not os.get_blocking(green.fileno())
            assert not stdsocket.socket.getblocking(green)


@pytest.mark.parametrize("call", [lambda s: s.settimeout(None), lambda s: s.settimeout(3),
                                  lambda s: s.setblocking(True)])
def test_timeout_setters_on_a_closed_socket_raise_ebadf(call):
    s = socket.socket()
    call(s)  # a value seen before: the closed socket must not take the quick path
    s.close()
    with pytest.raises(OSError) as ei:
        call(s)
    assert ei.value.errno == errno.EBADF


@pytest.mark.parametrize("flag", [True, False])
def test_setblocking_on_an_fd_closed_underneath_raises_ebadf(flag):
    """As CPython's test_setblocking_invalidfd: the fd is checked, not just the object."""
    other = socket.socket()
    s = socket.socket(fileno=other.fileno())
    other.close()
    try:
        with pytest.raises(OSError) as ei:
            s.setblocking(flag)
        assert ei.value.errno == errno.EBADF
    finally:
        s.detach()


def test_settimeout_of_a_seen_value_makes_no_syscall(pair, monkeypatch):
    """A keep-alive server sets the same timeouts on every request: after the first
    time, settimeout leaves the fd (and the C socket) alone."""
    a, _ = pair
    a.settimeout(7.5)
    calls = []
    for name in ("_c_settimeout", "_c_setblocking"):
        real = getattr(socket, name)
        monkeypatch.setattr(socket, name,
                            lambda *args, _real=real, _name=name: calls.append(_name) or
                            _real(*args))
    for _ in range(3):
        a.settimeout(7.5)
        assert a.gettimeout() == 7.5
        a.settimeout(None)
        assert a.gettimeout() is None
    assert calls == []
    a.settimeout(0.25)          # a new value asks the C parser once
    assert calls == ["_c_settimeout", "_c_setblocking"]
    assert a.gettimeout() == 0.25 and not os.get_blocking(a.fileno())


def test_accept_connect_and_io(server):
    port = server.getsockname()[1]

    def serve():
        c, addr = server.accept()
        with c:
            assert isinstance(c, socket.socket)
            assert c.gettimeout() is None
            data = b""
            while len(data) < 100000:
                data += c.recv(65536)
            c.sendall(data[::-1])

    cr = go(serve)
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert isinstance(c, socket.socket) and c.gettimeout() == 5
    payload = bytes(range(256)) * 390 + b"x" * 160
    c.sendall(payload)
    got = b""
    while len(got) < len(payload):
        got += c.recv(65536)
    assert got == payload[::-1]
    c.close()
    cr.wait()


def test_create_connection_resolves_names(server):
    port = server.getsockname()[1]
    c = socket.create_connection(("localhost", port))
    s, _ = server.accept()
    # "localhost" resolved to the listener's address: c is connected to it
    assert c.getpeername()[:2] == server.getsockname()[:2]
    assert s.getpeername()[:2] == c.getsockname()[:2]
    c.sendall(b"ping")
    assert s.recv(4) == b"ping"
    c.close()
    s.close()


def test_recv_into_recvfrom_sendto():
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with a, b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        cr = go(a.recvfrom, 100)
        msleep(later(10))
        b.sendto(b"dgram", a.getsockname())
        data, addr = cr.wait()
        assert data == b"dgram" and addr == b.getsockname()
        buf = bytearray(10)
        cr = go(a.recvfrom_into, buf)
        b.sendto(b"abc", 0, a.getsockname())
        assert cr.wait() == (3, b.getsockname())
        b.sendto(b"xyz", a.getsockname())
        assert a.recv_into(buf, 2) == 2 and buf[:2] == b"xy"


def test_sendmsg_recvmsg(pair):
    a, b = pair
    cr = go(a.recvmsg, 100)
    msleep(later(5))
    b.sendmsg([b"ab", b"cd"])
    data, anc, flags, addr = cr.wait()
    assert data == b"abcd"


def test_sendall_blocks_until_peer_reads(pair):
    a, b = pair
    big = b"z" * (4 << 20)
    cr = go(a.sendall, big)
    got = 0
    while got < len(big):
        got += len(b.recv(1 << 20))
    assert cr.wait() is None


def test_sendall_timeout(pair):
    a, b = pair
    a.settimeout(0.05)
    with pytest.raises(TimeoutError):
        a.sendall(b"z" * (16 << 20))


def test_connect_refused_and_connect_ex():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    c = socket.socket()
    with pytest.raises(ConnectionRefusedError):
        c.connect(("127.0.0.1", port))
    c.close()
    c = socket.socket()
    assert c.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
    c.close()
    c = socket.socket()
    c.setblocking(False)
    with socket.create_server(("127.0.0.1", 0)) as srv:
        r = c.connect_ex(srv.getsockname())
        assert r in (0, errno.EINPROGRESS)
    c.close()


def test_cancel_in_accept(server):
    seen = []

    def acceptor():
        try:
            server.accept()
        except Canceled:
            seen.append("canceled")
            raise
        seen.append("accepted")  # pragma: no cover

    cr = go(acceptor)
    msleep(later(10))
    assert seen == []  # still waiting in accept
    hclose(cr)  # returns: accept raised Canceled
    assert seen == ["canceled"]
    # the listener still works afterwards
    c = socket.create_connection(server.getsockname())
    s, _ = server.accept()
    assert s.getpeername() == c.getsockname()
    s.close()
    c.close()


def test_cancel_in_recv_and_send(pair):
    a, b = pair
    state = []

    def reader():
        try:
            a.recv(10)
        except Canceled:
            state.append("recv canceled")
            raise

    c, d = socket.socketpair()

    def writer():
        try:
            c.sendall(b"q" * (16 << 20))  # nobody reads d
        except Canceled:
            state.append("send canceled")
            raise

    r, w = go(reader), go(writer)
    msleep(later(20))
    hclose(w)
    hclose(r)
    c.close()
    d.close()
    assert sorted(state) == ["recv canceled", "send canceled"]


def test_cancel_in_connect():
    # A listener with a full backlog never completes the handshake... on loopback
    # connect usually succeeds at once, so cancel a connect to a blackholed listener.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    fillers = []
    try:
        done = []
        seen = []

        def connector():
            # fill the backlog until a connect has to wait
            for _ in range(64):
                c = socket.socket()
                fillers.append(c)
                c.settimeout(None)
                try:
                    c.connect(srv.getsockname())
                except Canceled:
                    seen.append(len(fillers))
                    raise
            done.append(True)

        cr = go(connector)
        msleep(later(100))
        hclose(cr)
        if done:
            pytest.skip("the kernel accepted every connect without waiting")
        # the connect that had to wait (the last one started) raised Canceled
        assert seen == [len(fillers)]
    finally:
        for c in fillers:
            c.close()
        srv.close()


def test_io_that_can_complete_succeeds_in_canceled_coroutine(pair):
    a, b = pair
    out = []

    def worker():
        try:
            msleep(-1)
        finally:
            b.sendall(b"bye")  # can complete at once: allowed while canceled
            out.append(a.recv(0) if False else "sent")

    cr = go(worker)
    msleep(later(5))
    hclose(cr)
    assert out == ["sent"]
    assert a.recv(10) == b"bye"


def test_close_wakes_waiter_with_ebadf(pair):
    a, b = pair
    errs = []

    def reader():
        try:
            a.recv(10)
        except OSError as e:
            errs.append(e.errno)

    cr = go(reader)
    msleep(later(5))
    a.close()
    cr.wait()
    assert errs == [errno.EBADF]


def test_close_then_fd_reuse_is_clean():
    # waited-on sockets closed (and finalized without close) must not leave the
    # hub thinking it watches their fd number.
    for _ in range(5):
        a, b = socket.socketpair()
        cr = go(a.recv, 1)
        b.send(b"x")
        cr.wait()
        del a  # finalizer path, no close()
        b.close()
    a, b = socket.socketpair()
    cr = go(a.recv, 1)
    msleep(later(5))
    b.send(b"y")
    assert cr.wait() == b"y"
    a.close()
    b.close()


def test_makefile(pair):
    a, b = pair
    rf = a.makefile("rb")
    cr = go(rf.readline)
    msleep(later(5))
    b.sendall(b"line one\nrest")
    assert cr.wait() == b"line one\n"
    rf.close()
    wf = b.makefile("w")
    wf.write("text\n")
    wf.flush()
    wf.close()
    assert a.recv(100) == b"text\n"  # "rest" went into rf's buffer


def test_dup_detach_fromfd(pair):
    a, b = pair
    a.settimeout(2.5)
    d = a.dup()
    assert isinstance(d, socket.socket) and d.gettimeout() == 2.5
    d.close()
    f = socket.fromfd(b.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    assert isinstance(f, socket.socket)
    f.send(b"via fromfd")
    assert a.recv(100) == b"via fromfd"
    f.close()
    fd = b.detach()
    assert b.fileno() == -1
    s = socket.socket(fileno=fd)
    s.send(b"again")
    assert a.recv(100) == b"again"
    s.close()


def test_name_resolution():
    assert socket.gethostbyname("127.0.0.1") == "127.0.0.1"
    assert socket.gethostbyname("localhost").startswith("127.")
    infos = socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)
    assert infos[0][0] is socket.AF_INET
    assert socket.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST |
                              socket.NI_NUMERICSERV) == ("127.0.0.1", "80")
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("no-such-host.invalid", 80)


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        srv = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no ::1")
    with srv:
        cr = go(srv.accept)
        c = socket.create_connection(srv.getsockname()[:2])
        s, _ = cr.wait()
        c.sendall(b"six")
        assert s.recv(3) == b"six"
        s.close()
        c.close()


def test_sendfile(pair, tmp_path):
    a, b = pair
    p = tmp_path / "f.bin"
    p.write_bytes(b"F" * 300000)
    cr = go(lambda: b"".join(iter(lambda: a.recv(65536), b"")))
    with open(p, "rb") as f:
        assert b.sendfile(f) == 300000
    b.shutdown(socket.SHUT_WR)
    assert cr.wait() == b"F" * 300000


def test_root_code_blocking_call_uses_hub(pair):
    # no coroutine at all: plain root code blocks in the hub, timers still fire
    a, b = pair
    ticks = [0]
    t = go(ticker, ticks)
    a.settimeout(0.06)
    with pytest.raises(TimeoutError):
        a.recv(1)
    assert ticks[0] >= 2
    hclose(t)


def test_many_coroutines_echo(server):
    port = server.getsockname()[1]

    def serve_one(c):
        with c:
            while True:
                d = c.recv(100)
                if not d:
                    return
                c.sendall(d)

    def acceptor(b):
        while True:
            c, _ = server.accept()
            b.go(serve_one, c)

    def client(i):
        c = socket.create_connection(("127.0.0.1", port))
        with c:
            for j in range(5):
                msg = b"%d-%d" % (i, j)
                c.sendall(msg)
                assert c.recv(100) == msg

    with dill.bundle() as handlers, dill.bundle() as clients:
        acc = go(acceptor, handlers)
        for i in range(30):
            clients.go(client, i)
        clients.wait(later(5000))
        hclose(acc)
