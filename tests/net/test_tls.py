"""TLS: libdill's tests/tls.c scenarios, interop with the stdlib ssl module both ways,
verification, deadlines, cancellation and hostile peers."""

import socket
import ssl
import threading

import pytest

import dill
from dill import BadHandle, Canceled, Done, TimedOut
from dill.net import (
    brecv,
    bsend,
    ipc_close,
    ipc_pair,
    tcp_accept,
    tcp_connect,
    tcp_listen,
    tls_attach_client,
    tls_attach_server,
    tls_detach,
    tls_done,
)
from nethelpers import local4, tcp_pair

trustme = pytest.importorskip("trustme")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile = d / "cert.pem", d / "key.pem"
    certfile.write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
    keyfile.write_bytes(cert.private_key_pem.bytes())
    cctx = ssl.create_default_context()
    ca.configure_trust(cctx)
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(sctx)
    return {"cert": str(certfile), "key": str(keyfile), "cctx": cctx, "sctx": sctx, "ca": ca}


def client_attach(u, pki, deadline=-1):
    return tls_attach_client(u, deadline, server_hostname="localhost", context=pki["cctx"])


# ------------------------------------------------------------------ libdill tls.c


def test_libdill_explicit_handshake(pki):
    a, b = ipc_pair()

    def client(u):
        s = client_attach(u, pki)
        bsend(s, b"ABC", -1)
        tls_done(s, -1)
        assert brecv(s, 3, -1) == b"DEF"
        u = tls_detach(s, -1)
        u.close()

    cr = dill.go(client, a)
    s = tls_attach_server(b, pki["cert"], pki["key"], -1)
    assert brecv(s, 3, -1) == b"ABC"
    with pytest.raises(Done):
        brecv(s, 3, -1)
    bsend(s, b"DEF", -1)
    tls_done(s, -1)
    with pytest.raises(Done):
        bsend(s, b"more")
    with pytest.raises(Done):
        tls_done(s)
    u = tls_detach(s, -1)
    u.close()
    dill.bundle_wait(cr, -1)
    cr.close()


def test_libdill_detach_then_plaintext(pki):
    a, b = ipc_pair()

    def client(u):
        s = client_attach(u, pki)
        bsend(s, b"ABC", -1)
        u = tls_detach(s, -1)
        bsend(u, b"DEF", -1)
        ipc_close(u, -1)

    cr = dill.go(client, a)
    s = tls_attach_server(b, pki["cert"], pki["key"], -1)
    assert brecv(s, 3, -1) == b"ABC"
    u = tls_detach(s, -1)
    assert brecv(u, 3, -1) == b"DEF"
    ipc_close(u, -1)
    cr.wait()
    cr.close()


def test_libdill_bulk(pki):
    a, b = ipc_pair()

    def client(u):
        s = client_attach(u, pki)
        c = 0
        for _ in range(257):
            bsend(s, bytes((c + i) % 256 for i in range(2777)), -1)
            c += 2777
        tls_detach(s, -1).close()

    cr = dill.go(client, a)
    s = tls_attach_server(b, pki["cert"], pki["key"], -1)
    c = 0
    for _ in range(2777):
        blk = brecv(s, 257, -1)
        assert blk == bytes((c + i) % 256 for i in range(257))
        c += 257
    tls_detach(s, -1).close()
    cr.wait()
    cr.close()


# ------------------------------------------------------------------ interop


def test_dill_client_vs_stdlib_server(pki):
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    errors = []

    def server():
        try:
            conn, _ = lsock.accept()
            with pki["sctx"].wrap_socket(conn, server_side=True) as ss:
                data = b""
                while not data.endswith(b"\n"):
                    data += ss.recv(100)
                ss.sendall(data.upper())
                ss.unwrap()            # close_notify both ways
        except Exception as e:  # pragma: no cover
            errors.append(e)

    t = threading.Thread(target=server)
    t.start()
    s = tcp_connect(local4(port), dill.now() + 2000)
    ts = client_attach(s, pki, dill.now() + 5000)
    assert ts.sslobject.version() is not None
    assert ts.getpeercert()["subjectAltName"]
    bsend(ts, b"hello stdlib\n")
    assert brecv(ts, 13, dill.now() + 5000) == b"HELLO STDLIB\n"
    u = tls_detach(ts, dill.now() + 5000)
    u.close()
    t.join(5)
    lsock.close()
    assert not errors


def test_stdlib_client_vs_dill_server(pki):
    ls = tcp_listen(local4())
    port = ls.addr.port
    result = []

    def client():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with pki["cctx"].wrap_socket(raw, server_hostname="localhost") as cs:
                    cs.sendall(b"ping\n")
                    result.append(cs.recv(100))
        except Exception as e:  # pragma: no cover
            result.append(e)

    t = threading.Thread(target=client)
    t.start()
    s, _ = tcp_accept(ls, dill.now() + 5000)
    ts = tls_attach_server(s, pki["cert"], pki["key"], dill.now() + 5000)
    assert brecv(ts, 5, dill.now() + 5000) == b"ping\n"
    bsend(ts, b"pong\n")
    with pytest.raises(Done):          # the client closed (no close_notify: ragged EOF)
        brecv(ts, 1, dill.now() + 5000)
    ts.close()
    t.join(5)
    ls.close()
    assert result == [b"pong\n"]


# ------------------------------------------------------------------ verification


def test_verification_on_by_default(pki):
    a, b = ipc_pair()
    srv = dill.go(lambda: tls_attach_server(b, pki["cert"], pki["key"], dill.now() + 5000))
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_attach_client(a, dill.now() + 5000, server_hostname="localhost")  # CA not trusted
    assert a.closed                      # a failed attach closes the socket beneath
    with pytest.raises(ssl.SSLError):
        srv.wait()
    srv.close()


def test_hostname_mismatch(pki):
    a, b = ipc_pair()
    srv = dill.go(lambda: tls_attach_server(b, pki["cert"], pki["key"], dill.now() + 5000))
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_attach_client(a, dill.now() + 5000, server_hostname="example.com", context=pki["cctx"])
    with pytest.raises(ssl.SSLError):
        srv.wait()
    srv.close()


def test_server_hostname_required_without_context():
    a, b = ipc_pair()
    with pytest.raises(ValueError):
        tls_attach_client(a, -1)
    a.close(), b.close()


def test_bad_cert_file(tmp_path):
    a, b = ipc_pair()
    (tmp_path / "bad.pem").write_text("not a cert")
    with pytest.raises((ssl.SSLError, OSError)):
        tls_attach_server(a, str(tmp_path / "bad.pem"), str(tmp_path / "bad.pem"), -1)
    a.close(), b.close()


# ------------------------------------------------------------------ hostile peers, cancel


def test_slowloris_handshake_times_out(pki):
    a, b = ipc_pair()
    bsend(a, b"\x16\x03\x01")           # the start of a ClientHello, then nothing
    t0 = dill.now()
    with pytest.raises(TimedOut):
        tls_attach_server(b, pki["cert"], pki["key"], dill.now() + 100)
    assert 80 <= dill.now() - t0 < 1000
    assert b.closed
    a.close()


def test_garbage_handshake(pki):
    a, b = ipc_pair()
    bsend(a, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ssl.SSLError):
        tls_attach_server(b, pki["cert"], pki["key"], dill.now() + 2000)
    assert b.closed
    a.close()


def test_peer_closes_mid_handshake(pki):
    a, b = ipc_pair()
    cr = dill.go(lambda: tls_attach_server(b, pki["cert"], pki["key"], dill.now() + 2000))
    a.close()
    with pytest.raises((ssl.SSLError, OSError)):
        cr.wait()
    cr.close()


def test_cancel_in_handshake_and_in_brecv(pki):
    a, b = ipc_pair()
    seen = []

    def hs():
        try:
            tls_attach_server(b, pki["cert"], pki["key"], -1)
        except Canceled:
            seen.append("handshake")
            raise

    cr = dill.go(hs)
    dill.yield_()
    cr.close()
    assert seen == ["handshake"] and b.closed
    a.close()

    a, b = ipc_pair()
    srv = dill.go(lambda: tls_attach_server(b, pki["cert"], pki["key"], -1))
    c = client_attach(a, pki)
    s = srv.wait()
    srv.close()

    def rx():
        try:
            brecv(s, 10, -1)
        except Canceled:
            seen.append("brecv")
            raise

    cr = dill.go(rx)
    dill.yield_()
    cr.close()
    assert seen == ["handshake", "brecv"]
    bsend(c, b"0123456789")
    assert brecv(s, 10, dill.now() + 2000) == b"0123456789"
    s.close(), c.close()


def test_timeout_mid_record_loses_nothing(pki):
    a, b = ipc_pair()
    srv = dill.go(lambda: tls_attach_server(b, pki["cert"], pki["key"], -1))
    c = client_attach(a, pki)
    s = srv.wait()
    srv.close()
    with pytest.raises(TimedOut):
        brecv(s, 5, dill.now() + 20)
    bsend(c, b"ab")
    with pytest.raises(TimedOut):
        brecv(s, 5, dill.now() + 20)   # 2 bytes arrived, not 5: kept
    bsend(c, b"cde")
    assert brecv(s, 5, dill.now() + 1000) == b"abcde"
    s.close(), c.close()


def test_reset_mid_stream(pki):
    c0, s0 = tcp_pair()
    srv = dill.go(lambda: tls_attach_server(s0, pki["cert"], pki["key"], dill.now() + 2000))
    c = client_attach(c0, pki, dill.now() + 2000)
    s = srv.wait()
    srv.close()
    bsend(c, b"partial")
    c.close()                              # hard close: RST
    assert brecv(s, 7, dill.now() + 2000) == b"partial"
    with pytest.raises((ConnectionResetError, Done)):
        brecv(s, 1, dill.now() + 2000)
    s.close()


def test_hclose_closes_stack(pki):
    a, b = ipc_pair()
    srv = dill.go(lambda: tls_attach_server(b, pki["cert"], pki["key"], -1))
    c = client_attach(a, pki)
    s = srv.wait()
    srv.close()
    dill.hclose(c)
    assert a.closed
    with pytest.raises(BadHandle):
        bsend(c, b"x")
    with pytest.raises((Done, ConnectionResetError)):   # hard close: an end or a reset
        brecv(s, 1, dill.now() + 1000)
    s.close()


def test_three_level_stack_unstacks_without_loss(pki):
    """prefix over TLS over TCP: peel the layers off one by one, nothing lost."""
    from dill.net import mrecv, msend, prefix_attach, prefix_detach, tcp_close
    c0, s0 = tcp_pair()

    def server(u):
        t = tls_attach_server(u, pki["cert"], pki["key"], dill.now() + 5000)
        p = prefix_attach(t)
        msgs = [mrecv(p, dill.now() + 5000) for _ in range(3)]
        t = prefix_detach(p)                   # surplus prefix bytes go back to TLS
        rest = brecv(t, 9, dill.now() + 5000)  # raw bytes sent over TLS after the messages
        u = tls_detach(t, dill.now() + 5000)
        plain = brecv(u, 5, dill.now() + 5000)
        tcp_close(u, dill.now() + 5000)
        return msgs, rest, plain

    cr = dill.go(server, s0)
    t = client_attach(c0, pki, dill.now() + 5000)
    p = prefix_attach(t)
    for m in (b"one", b"two", b"three"):
        msend(p, m)
    t = prefix_detach(p)
    bsend(t, b"TLS bytes")
    u = tls_detach(t, dill.now() + 5000)
    bsend(u, b"plain")
    tcp_close(u, dill.now() + 5000)
    assert cr.wait() == ([b"one", b"two", b"three"], b"TLS bytes", b"plain")
    cr.close()


def test_cancel_in_tls_detach_and_blocked_send(pki):
    a, b = ipc_pair()
    srv = dill.go(lambda: tls_attach_server(b, pki["cert"], pki["key"], -1))
    c = client_attach(a, pki)
    s = srv.wait()
    srv.close()
    seen = []

    def det():
        try:
            tls_detach(c, -1)          # waits for the peer's close_notify forever
        except Canceled:
            seen.append("detach")
            raise

    cr = dill.go(det)
    cr.close()
    assert seen == ["detach"] and a.closed    # a failed detach closes the stack

    def flood():
        try:
            while True:
                bsend(s, b"x" * 65536, -1)
        except Canceled:
            seen.append("send")
            raise
        except OSError:
            seen.append("send-reset")

    cr = dill.go(flood)
    dill.msleep(dill.now() + 20)
    cr.close()
    assert seen[1] in ("send", "send-reset")
    s.close()
