"""WebSockets: libdill's tests/ws.c scenarios, interop with the `websockets` package
both ways, RFC 6455 violations, limits, close handshake and cancellation."""

import errno
import os
import struct
import threading

import pytest

import dill
from dill import BadHandle, Canceled, Done, TimedOut
from dill.net import (
    WS_BINARY,
    WS_NOHTTP,
    WS_TEXT,
    brecv,
    bsend,
    ipc_pair,
    mrecv,
    msend,
    tcp_accept,
    tcp_connect,
    tcp_listen,
    ws_attach_client,
    ws_attach_server,
    ws_detach,
    ws_done,
    ws_recv,
    ws_send,
    ws_status,
)
from nethelpers import local4


def frame(opcode, payload, fin=True, mask=True, rsv=0, length=None):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload) if length is None else length
    if n < 126:
        hdr = bytes((b0, (0x80 if mask else 0) | n))
    elif n < 65536:
        hdr = bytes((b0, (0x80 if mask else 0) | 126)) + struct.pack("!H", n)
    else:
        hdr = bytes((b0, (0x80 if mask else 0) | 127)) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        hdr += key
    return hdr + payload


def test_libdill_nohttp_text():
    p0, p1 = ipc_pair()

    def client(u):
        s = ws_attach_client(u, None, None, -1, WS_NOHTTP | WS_TEXT)
        msend(s, b"ABC", -1)
        assert mrecv(s, -1) == b"DEF"
        with pytest.raises(Done):
            mrecv(s, -1)
        assert ws_status(s) == (1000, b"OK")
        u = ws_detach(s, 0, b"", -1)
        u.close()

    cr = dill.go(client, p1)
    s, resource, host = ws_attach_server(p0, -1, WS_NOHTTP | WS_TEXT)
    assert resource is None and host is None
    assert mrecv(s, -1) == b"ABC"
    msend(s, b"DEF", -1)
    u = ws_detach(s, 1000, b"OK", -1)
    u.close()
    cr.wait()
    cr.close()


def test_libdill_http_binary():
    p0, p1 = ipc_pair()

    def client(u):
        s = ws_attach_client(u, "/", "www.example.org", -1, WS_BINARY)
        msend(s, b"ABC", -1)
        assert ws_recv(s, -1) == (WS_BINARY, b"DEF")
        with pytest.raises(Done):
            mrecv(s, -1)
        assert ws_status(s) == (1000, b"")
        ws_detach(s, 1000, b"", -1).close()

    cr = dill.go(client, p1)
    s, resource, host = ws_attach_server(p0, -1, WS_BINARY)
    assert (resource, host) == ("/", "www.example.org")
    assert mrecv(s, -1) == b"ABC"
    msend(s, b"DEF", -1)
    u = ws_detach(s, 1000, b"", -1)
    u.close()
    cr.wait()
    cr.close()


def nohttp_pair(max_size=None):
    a, b = ipc_pair()
    kw = {} if max_size is None else {"max_size": max_size}
    c = ws_attach_client(a, None, None, -1, WS_NOHTTP, **kw)
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP, **kw)
    return c, s


def test_flags_fragments_and_detach_hands_back_the_rest():
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP)
    # a fragmented text message with a ping in the middle, then a close, then raw bytes
    bsend(a, frame(0x1, "hé".encode()[:2], fin=False) + frame(0x9, b"png")
          + frame(0x0, "hé".encode()[2:] + b"llo") + frame(0x2, b"\x00\x01")
          + frame(0x8, struct.pack("!H", 1001) + b"bye") + b"RAW")
    assert ws_recv(s) == (WS_TEXT, "héllo".encode())
    assert ws_recv(s) == (WS_BINARY, b"\x00\x01")
    with pytest.raises(Done):
        ws_recv(s)
    assert ws_status(s) == (1001, b"bye")
    u = ws_detach(s)
    assert brecv(u, 3, 0) == b"RAW"
    # what went back: a pong for the ping, and the close answer, unmasked
    assert brecv(a, 5, 0) == b"\x8a\x03png"
    assert brecv(a, 4, 0) == b"\x88\x02" + struct.pack("!H", 1001)
    a.close(), u.close()


def test_text_must_be_utf8():
    c, s = nohttp_pair()
    with pytest.raises(ValueError):
        ws_send(c, b"\xff\xfe", -1, WS_TEXT)
    ws_send(c, "ok ✓", -1, WS_TEXT)
    assert ws_recv(s) == (WS_TEXT, "ok ✓".encode())
    c.close(), s.close()


def test_close_answered_at_once_and_done_rules():
    c, s = nohttp_pair()
    ws_done(c, 4000, b"going")
    with pytest.raises(Done):
        msend(c, b"x")
    with pytest.raises(Done):
        mrecv(s)
    assert ws_status(s) == (4000, b"going")
    with pytest.raises(Done):     # the server answered the close already
        msend(s, b"late")
    with pytest.raises(Done):
        mrecv(c, dill.now() + 1000)
    assert ws_status(c) == (4000, b"")
    with pytest.raises(ValueError):
        ws_done(nohttp_pair()[0], 999)
    c.close(), s.close()


@pytest.mark.parametrize("bad", [
    frame(0x2, b"abc", mask=False),                 # unmasked from a client
    frame(0x3, b"abc"),                             # reserved opcode
    frame(0xB, b""),                                # reserved control opcode
    frame(0x2, b"abc", rsv=0x40),                   # RSV1 without extension
    frame(0x9, b"x" * 126),                         # control frame too long
    frame(0x9, b"x", fin=False),                    # fragmented control frame
    frame(0x0, b"abc"),                             # continuation with no message
    bytes((0x82, 0x80 | 126)) + struct.pack("!H", 5) + b"\0\0\0\0" + b"12345",  # non-minimal length
    bytes((0x82, 0x80 | 127)) + struct.pack("!Q", 1 << 63) + b"\0\0\0\0",       # MSB set
    frame(0x1, b"\xff\xfe"),                        # invalid UTF-8 text
    frame(0x8, b"\x03"),                            # 1-byte close payload
    frame(0x8, struct.pack("!H", 999)),             # invalid close code
])
def test_rfc6455_violations_are_eproto(bad):
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP)
    bsend(a, bad)
    with pytest.raises(OSError) as ei:
        mrecv(s, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    with pytest.raises(ConnectionResetError):
        mrecv(s, 0)
    a.close(), s.close()


def test_masked_frame_to_client_is_eproto():
    a, b = ipc_pair()
    c = ws_attach_client(a, None, None, -1, WS_NOHTTP)
    bsend(b, frame(0x2, b"abc", mask=True))
    with pytest.raises(OSError) as ei:
        mrecv(c, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    b.close(), c.close()


def test_oversized_frame_refused_without_allocating():
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP, max_size=1000)
    bsend(a, bytes((0x82, 0x80 | 127)) + struct.pack("!Q", 1 << 40) + b"\0\0\0\0")
    with pytest.raises(OSError) as ei:
        mrecv(s, dill.now() + 1000)
    assert ei.value.errno == errno.EMSGSIZE
    with pytest.raises(ConnectionResetError):
        mrecv(s, 0)
    a.close(), s.close()
    # accumulated over fragments
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP, max_size=1000)
    bsend(a, frame(0x2, b"x" * 600, fin=False) + frame(0x0, b"x" * 600))
    with pytest.raises(OSError) as ei:
        mrecv(s, dill.now() + 1000)
    assert ei.value.errno == errno.EMSGSIZE
    a.close(), s.close()


def test_truncated_frame_and_plain_end():
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP)
    bsend(a, frame(0x2, b"abcdef")[:-2])
    a.done()
    with pytest.raises(OSError) as ei:
        mrecv(s)
    assert ei.value.errno == errno.EPROTO
    a.close(), s.close()
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP)
    a.done()
    with pytest.raises(Done):
        mrecv(s)
    a.close(), s.close()


def test_timeout_mid_frame_loses_nothing():
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP)
    f = frame(0x2, b"hello world")
    bsend(a, f[:3])
    with pytest.raises(TimedOut):
        mrecv(s, dill.now() + 20)
    bsend(a, f[3:9])
    with pytest.raises(TimedOut):
        mrecv(s, 0)
    bsend(a, f[9:])
    assert mrecv(s, 0) == b"hello world"
    a.close(), s.close()


def test_bad_handshakes():
    # not an upgrade request: 400 and EPROTO
    a, b = ipc_pair()
    bsend(a, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(OSError) as ei:
        ws_attach_server(b, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    assert brecv(a, 24, dill.now() + 1000) == b"HTTP/1.1 400 Bad Request"
    assert b.closed
    a.close()
    # a server that answers 200
    a, b = ipc_pair()
    cr = dill.go(ws_attach_client, a, "/", "h", dill.now() + 1000)
    brecv(b, 10)
    bsend(b, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(OSError) as ei:
        cr.wait()
    assert ei.value.errno == errno.EPROTO
    cr.close()
    assert a.closed
    b.close()
    # wrong accept key
    a, b = ipc_pair()
    cr = dill.go(ws_attach_client, a, "/", "h", dill.now() + 1000)
    brecv(b, 10)
    bsend(b, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")
    with pytest.raises(OSError) as ei:
        cr.wait()
    assert ei.value.errno == errno.EPROTO
    cr.close(), b.close()


def test_slowloris_handshake_and_cancel():
    a, b = ipc_pair()
    bsend(a, b"GET / HTTP/1.1\r\nHost: x\r\nUpgr")
    with pytest.raises(TimedOut):
        ws_attach_server(b, dill.now() + 50)
    assert b.closed
    a.close()
    a, b = ipc_pair()
    seen = []

    def hs():
        try:
            ws_attach_server(b, -1)
        except Canceled:
            seen.append(1)
            raise

    cr = dill.go(hs)
    cr.close()
    assert seen == [1] and b.closed
    c, s = nohttp_pair()

    def rx():
        try:
            mrecv(s, -1)
        except Canceled:
            seen.append(2)
            raise

    cr = dill.go(rx)
    cr.close()
    assert seen == [1, 2]
    msend(c, b"still fine")
    assert mrecv(s, dill.now() + 1000) == b"still fine"
    s.close()
    with pytest.raises(BadHandle):
        mrecv(s)
    c.close()


def test_big_messages_both_ways():
    c, s = nohttp_pair()
    big = os.urandom(300000)
    cr = dill.go(msend, c, big, -1)
    assert mrecv(s) == big
    cr.wait(), cr.close()
    cr = dill.go(msend, s, big, -1)
    assert mrecv(c) == big
    cr.wait(), cr.close()
    c.close(), s.close()


# ------------------------------------------------------------------ interop with `websockets`

websockets = pytest.importorskip("websockets")


def test_dill_client_vs_websockets_server():
    from websockets.sync.server import serve

    def echo(conn):
        for msg in conn:
            conn.send(msg)

    with serve(echo, "127.0.0.1", 0, compression="deflate") as server:
        port = server.socket.getsockname()[1]
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        s = tcp_connect(local4(port), dill.now() + 2000)
        ws = ws_attach_client(s, "/chat?x=1", "127.0.0.1:%d" % port, dill.now() + 2000)
        ws_send(ws, "texté", dill.now() + 2000, WS_TEXT)
        assert ws_recv(ws, dill.now() + 2000) == (WS_TEXT, "texté".encode())
        ws_send(ws, b"\x00bin" * 10000, dill.now() + 2000, WS_BINARY)
        assert ws_recv(ws, dill.now() + 2000) == (WS_BINARY, b"\x00bin" * 10000)
        u = ws_detach(ws, 1000, b"bye", dill.now() + 2000)
        u.close()
        server.shutdown()
        t.join(5)


def test_websockets_client_vs_dill_server():
    from websockets.sync.client import connect

    ls = tcp_listen(local4())
    port = ls.addr.port
    out = []

    def client():
        try:
            with connect("ws://127.0.0.1:%d/room/1" % port, open_timeout=5) as c:
                c.send("hello")
                out.append(c.recv(timeout=5))
                c.send(b"\x01\x02")
                out.append(c.recv(timeout=5))
                # the server closes: iteration ends cleanly
                for m in c:
                    out.append(m)
            out.append(("closed", c.close_code, c.close_reason))
        except Exception as e:  # pragma: no cover
            out.append(e)

    t = threading.Thread(target=client)
    t.start()
    s, _ = tcp_accept(ls, dill.now() + 5000)
    ws, resource, host = ws_attach_server(s, dill.now() + 5000, WS_TEXT)
    assert resource == "/room/1" and host == "127.0.0.1:%d" % port
    flags, data = ws_recv(ws, dill.now() + 5000)
    ws_send(ws, data.upper(), dill.now() + 5000, flags)
    flags, data = ws_recv(ws, dill.now() + 5000)
    assert (flags, data) == (WS_BINARY, b"\x01\x02")
    ws_send(ws, data[::-1], dill.now() + 5000, WS_BINARY)
    u = ws_detach(ws, 1001, b"server going away", dill.now() + 5000)
    u.close()
    t.join(5)
    ls.close()
    assert out == ["HELLO", b"\x02\x01", ("closed", 1001, "server going away")]


def test_cancel_in_client_handshake_and_detach():
    a, b = ipc_pair()
    seen = []

    def hs():
        try:
            ws_attach_client(a, "/", "h", -1)
        except Canceled:
            seen.append("handshake")
            raise

    cr = dill.go(hs)
    cr.close()
    assert seen == ["handshake"] and a.closed
    b.close()
    c, s = nohttp_pair()

    def det():
        try:
            ws_detach(c, 1000, b"", -1)    # the peer never answers the close
        except Canceled:
            seen.append("detach")
            raise

    cr = dill.go(det)
    cr.close()
    assert seen == ["handshake", "detach"]
    with pytest.raises(BadHandle):
        mrecv(c)
    s.close()


def test_reset_mid_frame():
    from nethelpers import tcp_pair
    c0, s0 = tcp_pair()
    s, _, _ = ws_attach_server(s0, -1, WS_NOHTTP)
    bsend(c0, frame(0x2, b"x" * 1000)[:500])
    c0.close()                                 # hard close
    with pytest.raises(OSError) as ei:
        mrecv(s, dill.now() + 2000)
    assert ei.value.errno in (errno.EPROTO, errno.ECONNRESET)
    s.close()


def test_ping_answered_while_a_sender_is_busy():
    a, b = ipc_pair()
    s, _, _ = ws_attach_server(b, -1, WS_NOHTTP)
    big = b"y" * (4 << 20)
    sender = dill.go(ws_send, s, big, -1)      # blocks: nobody reads a yet
    bsend(a, frame(0x9, b"ping!") + frame(0x8, struct.pack("!H", 1000)))
    with pytest.raises(Done):
        mrecv(s, dill.now() + 2000)
    # drain what the server sent: the big message, then the pong and close answer
    got = b""
    while len(got) < len(big) + 10 + 7 + 4:
        got += a.brecv_some(1 << 20, dill.now() + 2000)
    sender.wait(), sender.close()
    assert got.endswith(b"\x8a\x05ping!" + b"\x88\x02" + struct.pack("!H", 1000))
    with pytest.raises(Done):                  # the close answer went out: no more sends
        msend(s, b"late")
    a.close(), s.close()
