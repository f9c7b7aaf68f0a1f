"""dill.green.ssl in green threads: timeout 0 never waits, a positive timeout times out.

A green SSL socket whose timeout is 0 behaves exactly as the stdlib's: every
operation that cannot finish at once raises ``SSLWantReadError`` /
``SSLWantWriteError`` (``ValueError`` for ``sendfile``, as the stdlib), after
letting the other ready green threads run once.  With a positive timeout each
operation raises ``TimeoutError`` naming the operation.
"""

from __future__ import annotations

import os
import time

import pytest

from dill import Canceled, go, hclose, msleep, now
from dill.green import select, socket, ssl, threading

from test_green_ssl import CERT

pytestmark = [pytest.mark.skipif(CERT is None, reason="no test certificate"),
              pytest.mark.timeout(20)]

SMALL_BUFFER = 16384


def _contexts():
    s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    s.load_cert_chain(CERT)
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return s, c


@pytest.fixture
def tls():
    """A connected, handshaken (server, client) pair of green SSL sockets, blocking."""
    sctx, cctx = _contexts()
    with socket.create_server(("127.0.0.1", 0)) as srv:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        raw.connect(srv.getsockname())
        conn, _ = srv.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    box = []
    t = threading.Thread(target=lambda: box.append(sctx.wrap_socket(conn, server_side=True)))
    t.start()
    client = cctx.wrap_socket(raw)
    t.join()
    yield box[0], client
    box[0].close()
    client.close()


class Ticker:
    """A green thread counting its turns: shows whether a call let others run."""

    def __init__(self):
        self.turns = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            self.turns += 1
            msleep(0)  # a zero-deadline sleep: ready again at once

    def stop(self):
        self.running = False
        self.thread.join()


def _fill(sock, size=65536):
    """Write ``size``-byte records until the peer's buffers are full (non-blocking).

    The last write is pending in OpenSSL: the next one must be at least as long.
    """
    chunk = b"x" * size
    for _ in range(10000):
        try:
            sock.write(chunk)
        except ssl.SSLWantWriteError:
            return
    raise AssertionError("the peer's buffers never filled")


def _raises_at_once(exc, fn, *args):
    """``fn(*args)`` raises ``exc`` without waiting, after letting a ready thread run."""
    ticker = Ticker()
    msleep(0)
    before = ticker.turns
    t0 = time.monotonic()
    with pytest.raises(exc):
        fn(*args)
    elapsed = time.monotonic() - t0
    yielded = ticker.turns > before
    ticker.stop()
    assert elapsed < 0.5
    assert yielded, "the failing non-blocking call did not let the other thread run"


# ------------------------------------------------------------ timeout 0 (non-blocking)

def test_nonblocking_handshake_raises_want_read():
    sctx, cctx = _contexts()
    with socket.create_server(("127.0.0.1", 0)) as srv:
        raw = socket.create_connection(srv.getsockname())
        raw.setblocking(False)
        c = cctx.wrap_socket(raw, do_handshake_on_connect=False)
        _raises_at_once(ssl.SSLWantReadError, c.do_handshake)  # the server never answers
        c.close()


def test_nonblocking_read_raises_want_read(tls):
    s, c = tls
    c.setblocking(False)
    _raises_at_once(ssl.SSLWantReadError, c.read, 10)
    _raises_at_once(ssl.SSLWantReadError, c.recv, 10)
    _raises_at_once(ssl.SSLWantReadError, c.recv_into, bytearray(10))


def test_nonblocking_write_raises_want_write(tls):
    s, c = tls
    c.setblocking(False)
    _fill(c)
    _raises_at_once(ssl.SSLWantWriteError, c.write, b"y" * 65536)
    _raises_at_once(ssl.SSLWantWriteError, c.send, b"y" * 65536)


def test_nonblocking_unwrap_raises_want_read(tls):
    s, c = tls
    c.setblocking(False)
    # close_notify goes out; the peer's has not come: SSL_shutdown wants to read.
    _raises_at_once(ssl.SSLWantReadError, c.unwrap)


def test_nonblocking_sendfile_is_refused_as_the_stdlib(tls, tmp_path):
    s, c = tls
    c.setblocking(False)
    path = tmp_path / "f"
    path.write_bytes(b"z" * 100)
    with open(path, "rb") as f, pytest.raises(ValueError, match="non-blocking"):
        c.sendfile(f)


def test_dispatcher_style_tls_server_completes_its_handshake():
    """The shape of test_ftplib's and test_poplib's TLS servers: an asyncore-like loop
    in a thread polls a non-blocking socket that select always reports writable and
    calls do_handshake on readiness, expecting the want-errors."""
    sctx, cctx = _contexts()
    srv = socket.create_server(("127.0.0.1", 0))
    done = []

    def dispatcher():
        conn, _ = srv.accept()
        conn.setblocking(False)
        tls = sctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        for _ in range(20000):  # bounded: without the yield it never ends
            if done:
                break
            r, w, _ = select.select([tls], [tls], [], 0.1)
            if r or w:
                try:
                    tls.do_handshake()
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                done.append(tls.version())
        tls.close()

    t = threading.Thread(target=dispatcher)
    t.start()
    c = cctx.wrap_socket(socket.create_connection(srv.getsockname()))
    assert c.version()
    t.join()
    assert done
    c.close()
    srv.close()


# --------------------------------------------------------------- positive timeout

def test_read_times_out(tls):
    s, c = tls
    c.settimeout(0.05)
    with pytest.raises(TimeoutError, match="read operation timed out"):
        c.recv(10)


def test_write_times_out(tls):
    s, c = tls
    c.setblocking(False)
    _fill(c)
    c.settimeout(0.05)
    with pytest.raises(TimeoutError, match="write operation timed out"):
        c.sendall(b"y" * 65536)


def test_unwrap_times_out(tls):
    s, c = tls
    c.settimeout(0.05)
    with pytest.raises(TimeoutError, match="timed out"):
        c.unwrap()


def test_sendfile_times_out(tls, tmp_path):
    s, c = tls
    c.setblocking(False)
    _fill(c, 8192)  # sendfile sends 8192-byte blocks
    c.settimeout(0.05)
    path = tmp_path / "f"
    path.write_bytes(b"z" * 65536)
    t0 = time.monotonic()
    with open(path, "rb") as f, pytest.raises(TimeoutError):
        c.sendfile(f)
    assert time.monotonic() - t0 < 2


def test_sendfile_with_timeout_delivers(tls, tmp_path):
    s, c = tls
    c.settimeout(5)
    data = os.urandom(300000)
    path = tmp_path / "f"
    path.write_bytes(data)
    got = bytearray()

    def reader():
        while len(got) < len(data):
            got.extend(s.recv(65536))

    t = threading.Thread(target=reader)
    t.start()
    with open(path, "rb") as f:
        assert c.sendfile(f) == len(data)
    t.join()
    assert bytes(got) == data


# ---------------------------------------------------------------------- cancellation

def test_canceled_thread_gets_canceled_at_a_failing_nonblocking_op(tls):
    s, c = tls
    c.setblocking(False)
    seen = []

    def poller():
        try:
            while True:
                try:
                    c.recv(10)
                except ssl.SSLWantReadError:
                    seen.append("want")
        except Canceled:
            seen.append("canceled")
            raise

    cr = go(poller)
    msleep(now() + 20)
    hclose(cr)
    assert seen[0] == "want" and seen[-1] == "canceled"


# ------------------------------------------------------------------ shutdown while reading

def test_shutdown_from_another_thread_ends_a_blocked_read(tls):
    """As the stdlib's read blocked in C: it sees the end of the stream (urllib3's
    HTTPResponse.shutdown() relies on it), not 'Read on closed or unwrapped SSL socket'."""
    s, c = tls
    got = []
    t = threading.Thread(target=lambda: got.append(c.recv(10)))
    t.start()
    msleep(now() + 20)
    c.shutdown(socket.SHUT_RD)
    t.join()
    assert got == [b""]
