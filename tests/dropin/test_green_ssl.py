"""dill.green.ssl: TLS over green sockets (loopback, the interpreter's test certificate)."""

from __future__ import annotations

import os
import ssl as stdssl

import pytest

from dill import Canceled, go, hclose, msleep, now
from dill.green import socket, ssl


def _cert():
    try:
        import test
    except ImportError:
        return None
    base = os.path.dirname(test.__file__)
    for p in (os.path.join(base, "certdata", "keycert.pem"), os.path.join(base, "keycert.pem")):
        if os.path.exists(p):
            return p
    return None


CERT = _cert()
pytestmark = pytest.mark.skipif(CERT is None, reason="no test certificate")


def later(ms):
    return now() + ms


@pytest.fixture
def contexts():
    s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    s.load_cert_chain(CERT)
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return s, c


@pytest.fixture
def server():
    srv = socket.create_server(("127.0.0.1", 0))
    yield srv
    srv.close()


def test_classes():
    assert issubclass(ssl.SSLSocket, stdssl.SSLSocket)
    assert issubclass(ssl.SSLSocket, socket.socket)
    assert issubclass(ssl.SSLContext, stdssl.SSLContext)
    assert isinstance(ssl.create_default_context(), ssl.SSLContext)
    assert ssl.SSLError is stdssl.SSLError
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # property setters work
    ctx.options |= ssl.OP_NO_COMPRESSION
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_echo_and_unwrap(contexts, server):
    sctx, cctx = contexts

    def serve():
        c, _ = server.accept()
        s = sctx.wrap_socket(c, server_side=True)
        assert isinstance(s, ssl.SSLSocket)
        data = b""
        while len(data) < 200000:
            data += s.recv(65536)
        s.sendall(data[:10])
        s.unwrap().close()

    cr = go(serve)
    c = cctx.wrap_socket(socket.create_connection(server.getsockname()))
    assert isinstance(c, ssl.SSLSocket) and c.version()
    c.sendall(b"t" * 200000)
    assert c.recv(100) == b"t" * 10
    plain = c.unwrap()
    plain.close()
    cr.wait()


def test_makefile_over_tls(contexts, server):
    sctx, cctx = contexts

    def serve():
        c, _ = server.accept()
        with sctx.wrap_socket(c, server_side=True) as s:
            f = s.makefile("rwb")
            line = f.readline()
            f.write(line.upper())
            f.flush()
            f.close()

    cr = go(serve)
    with cctx.wrap_socket(socket.create_connection(server.getsockname())) as c:
        c.sendall(b"hello\n")
        assert c.recv(100) == b"HELLO\n"
    cr.wait()


def test_cancel_in_handshake(contexts, server):
    sctx, cctx = contexts
    seen = []

    def client():
        try:
            cctx.wrap_socket(socket.create_connection(server.getsockname()))
        except Canceled:
            seen.append(True)
            raise

    cr = go(client)  # the server never answers the ClientHello
    msleep(later(30))
    hclose(cr)
    assert seen == [True]


def test_handshake_timeout(contexts, server):
    sctx, cctx = contexts
    c = socket.create_connection(server.getsockname())
    c.settimeout(0.05)
    with pytest.raises(TimeoutError, match="handshake"):
        cctx.wrap_socket(c)


def test_read_timeout_and_nonblocking(contexts, server):
    sctx, cctx = contexts

    def serve():
        c, _ = server.accept()
        with sctx.wrap_socket(c, server_side=True) as s:
            s.recv(1)

    cr = go(serve)
    c = cctx.wrap_socket(socket.create_connection(server.getsockname()))
    c.settimeout(0.05)
    with pytest.raises(TimeoutError, match="read operation timed out"):
        c.recv(10)
    c.setblocking(False)
    with pytest.raises(ssl.SSLWantReadError):
        c.recv(10)
    c.setblocking(True)
    c.send(b"!")
    cr.wait()
    c.close()


def test_cancel_in_read(contexts, server):
    sctx, cctx = contexts

    def serve():
        c, _ = server.accept()
        return sctx.wrap_socket(c, server_side=True)

    scr = go(serve)
    c = cctx.wrap_socket(socket.create_connection(server.getsockname()))
    s = scr.wait()
    cr = go(c.recv, 10)
    msleep(later(10))
    hclose(cr)
    s.sendall(b"after")
    assert c.recv(10) == b"after"
    c.close()
    s.close()


def test_nonblocking_handshake_loop(contexts, server):
    sctx, cctx = contexts

    def serve():
        c, _ = server.accept()
        with sctx.wrap_socket(c, server_side=True) as s:
            s.sendall(b"hi")

    cr = go(serve)
    raw = socket.create_connection(server.getsockname())
    raw.setblocking(False)
    c = cctx.wrap_socket(raw, do_handshake_on_connect=False)
    while True:
        try:
            c.do_handshake()
            break
        except ssl.SSLWantReadError:
            socket_select = __import__("dill.green.select", fromlist=["select"]).select
            socket_select([c], [], [], 1)
        except ssl.SSLWantWriteError:
            socket_select = __import__("dill.green.select", fromlist=["select"]).select
            socket_select([], [c], [], 1)
    c.setblocking(True)
    assert c.recv(2) == b"hi"
    c.close()
    cr.wait()


@pytest.mark.timeout(10)
def test_wrapped_fd_stays_non_blocking(contexts, server):
    """ssl's _create detaches the plain socket (which hands its fd over in
    blocking mode) after building the SSL socket on it: the fd must end up
    non-blocking again, or the handshake blocks the whole hub."""
    sctx, cctx = contexts
    raw = socket.create_connection(server.getsockname())
    s, _ = server.accept()
    for sock, ctx, side in ((raw, cctx, False), (s, sctx, True)):
        wrapped = ctx.wrap_socket(sock, server_side=side, do_handshake_on_connect=False)
        assert wrapped.gettimeout() is None
        assert not os.get_blocking(wrapped.fileno())
        wrapped.close()
