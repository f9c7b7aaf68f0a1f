"""How the dill worker writes responses: every shape arrives whole and in order on
a keep-alive connection, and a small response is one TCP segment (its head is
held back for its body: ``dill.gunicorn._Connection``)."""

import http.client
import socket
import struct
import time

import pytest
from scale_engines import Gunicorn

pytestmark = pytest.mark.timeout(60)

_TCP_INFO_DATA_SEGS_IN = 152  # struct tcp_info: tcpi_data_segs_in (Linux >= 4.6)


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    """One dill worker serving ``apps/responses_app.py``."""
    g = Gunicorn("responses_app:app", tmp_path_factory.mktemp("gunicorn") / "gunicorn.log",
                 "--keep-alive", "30", workers=1)
    try:
        yield g.ready().port
    finally:
        g.stop()


def _get(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_every_shape_in_turn_on_one_keepalive_connection(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(2):
            assert _get(conn, "GET", "/hello") == (200, b"hello\n")
            assert _get(conn, "HEAD", "/hello") == (200, b"")        # a head alone
            assert _get(conn, "GET", "/empty") == (204, b"")         # a head alone
            assert _get(conn, "GET", "/stream?3") == (200, b"chunk 0\nchunk 1\nchunk 2\n")
            assert _get(conn, "GET", "/stream?0") == (200, b"")      # head, last chunk
            big = bytes(range(256)) * 1024 + b"x" * 7                # more than is joined
            assert _get(conn, "GET", f"/big?{len(big)}") == (200, big)
            assert _get(conn, "GET", "/file?100000") == (200, b"f" * 100000)  # sendfile
            assert _get(conn, "GET", "/file?10") == (200, b"f" * 10)
            assert _get(conn, "POST", "/echo", b"posted") == (200, b"posted")
    finally:
        conn.close()


def test_expect_100_continue(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        assert _read_until(s, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"body")
        head = _read_until(s, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert _read_exactly(s, 4) == b"body"


def test_what_the_app_writes_to_the_socket_itself_is_not_held(port):
    """An interim response the app writes itself arrives at once, before the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /early HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        assert _read_until(s, b"\r\n\r\n").startswith(b"HTTP/1.1 103 Early Hints\r\n")
        assert time.monotonic() - t0 < 2.5    # the app sleeps 3 s before answering
        assert _read_until(s, b"\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_an_app_failing_mid_response_cuts_the_connection_after_what_it_sent(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/fail")
        resp = conn.getresponse()
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead) as ei:
            resp.read()
        assert ei.value.partial == b"first\n"
    finally:
        conn.close()


def _data_segments_in(s):
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < _TCP_INFO_DATA_SEGS_IN + 4:
        pytest.skip("this kernel's tcp_info has no tcpi_data_segs_in")
    return struct.unpack_from("I", info, _TCP_INFO_DATA_SEGS_IN)[0]


def test_a_small_response_is_one_segment(port):
    """Head and body in one send: one data segment per response, not two."""
    request = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        _read_response(s)
        before = _data_segments_in(s)
        for _ in range(5):
            s.sendall(request)
            assert _read_response(s).endswith(b"\r\n\r\nhello\n")
        assert _data_segments_in(s) - before == 5


def _read_until(s, end):
    data = b""
    while not data.endswith(end):
        byte = s.recv(1)
        assert byte, f"connection closed after {data!r}"
        data += byte
    return data


def _read_exactly(s, n):
    data = b""
    while len(data) < n:
        got = s.recv(n - len(data))
        assert got, f"connection closed after {data!r}"
        data += got
    return data


def _read_response(s):
    head = _read_until(s, b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return head + _read_exactly(s, length)
