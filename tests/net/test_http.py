"""HTTP heads: libdill's tests/http.c scenario, interop with http.server, http.client
and curl, body handoff on detach, and hostile input."""

import errno
import http.client
import http.server
import shutil
import subprocess
import threading

import pytest

import dill
from dill import BadHandle, Canceled, Done, NotSupported, TimedOut
from dill.net import (
    brecv,
    bsend,
    http_attach,
    http_detach,
    http_done,
    http_recvfield,
    http_recvrequest,
    http_recvstatus,
    http_sendfield,
    http_sendrequest,
    http_sendstatus,
    ipc_pair,
    msend,
    tcp_accept,
    tcp_close,
    tcp_connect,
    tcp_listen,
)
from nethelpers import local4


def fields(s, deadline=-1):
    out = []
    while True:
        try:
            out.append(http_recvfield(s, deadline))
        except Done:
            return out


def test_libdill_http_scenario():
    h0, h1 = ipc_pair()
    s0 = http_attach(h0)
    s1 = http_attach(h1)
    http_sendrequest(s0, "GET", "/a/b/c", -1)
    http_sendfield(s0, "Host", "example.org", -1)
    http_sendfield(s0, "foo", "bar", -1)
    http_sendfield(s0, "baz", "quux", -1)
    http_sendfield(s0, "Date", "Tue, 15 Nov 1994 08:12:31 GMT", -1)
    with pytest.raises(ValueError):
        http_sendfield(s0, "invalid field name ", "bar", -1)
    http_sendfield(s0, "rpad", "  rpad", -1)
    http_sendfield(s0, "lpad", "lpad  ", -1)
    http_sendfield(s0, "both", "  both pad  ", -1)
    http_done(s0, -1)
    assert http_recvrequest(s1, -1) == ("GET", "/a/b/c")
    assert fields(s1) == [
        ("host", "example.org"), ("foo", "bar"), ("baz", "quux"),
        ("date", "Tue, 15 Nov 1994 08:12:31 GMT"),
        ("rpad", "rpad"), ("lpad", "lpad"), ("both", "both pad")]
    with pytest.raises(Done):
        http_recvfield(s1, -1)
    http_sendstatus(s1, 200, "OK", -1)
    http_sendfield(s1, "one", "two", -1)
    http_done(s1, -1)
    assert http_recvstatus(s0, -1) == (200, "OK")
    assert http_recvfield(s0, -1) == ("one", "two")
    with pytest.raises(Done):
        http_recvfield(s0, -1)
    u1 = http_detach(s1, -1)
    u0 = http_detach(s0, -1)
    u0.close(), u1.close()


def test_send_rules():
    a, b = ipc_pair()
    s = http_attach(a)
    with pytest.raises(ValueError):
        http_sendrequest(s, "GET", "/with space")
    with pytest.raises(ValueError):
        http_sendrequest(s, "G T", "/")
    with pytest.raises(ValueError):
        http_sendfield(s, "x", "y")          # no head started
    http_sendrequest(s, "GET", "/")
    with pytest.raises(ValueError):
        http_sendfield(s, "x", "a\r\nInjected: yes")
    with pytest.raises(ValueError):
        http_done(s)                         # a request needs Host
    http_sendfield(s, "Host", "h")
    http_done(s)
    with pytest.raises(Done):
        http_sendfield(s, "late", "x")
    with pytest.raises(Done):
        http_done(s)
    t = http_attach(b)
    with pytest.raises(ValueError):
        http_sendstatus(t, 99, "no")
    with pytest.raises(ValueError):
        http_sendstatus(t, 600, "no")
    with pytest.raises(NotSupported):
        msend(t, b"x")
    s.close(), t.close()


def test_body_follows_on_the_bytestream_no_byte_lost():
    a, b = ipc_pair()
    body = b"x" * 5000 + b"END"
    bsend(a, b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body) + body
          + b"NEXT")
    s = http_attach(b)
    assert http_recvrequest(s) == ("POST", "/upload")
    f = dict(fields(s))
    u = http_detach(s)          # h11 read past the head: pushed back
    assert brecv(u, int(f["content-length"]), 0) == body
    assert brecv(u, 4, 0) == b"NEXT"
    a.close(), u.close()


def test_detach_before_reading_leaves_the_head():
    a, b = ipc_pair()
    bsend(a, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    s = http_attach(b)
    u = http_detach(s)
    assert brecv(u, 5) == b"GET /"
    a.close(), u.close()


def test_informational_then_final_status():
    a, b = ipc_pair()
    bsend(a, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /x\r\n\r\nbody")
    s = http_attach(b)
    assert http_recvstatus(s) == (100, "Continue")
    assert fields(s) == []
    assert http_recvstatus(s) == (201, "Created")
    assert fields(s) == [("location", "/x")]
    assert brecv(http_detach(s), 4) == b"body"
    a.close()


# ------------------------------------------------------------------ interop


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = ("you asked for %s" % self.path).encode()
        self.send_response(200, "Fine")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Echo", self.headers.get("X-Test", ""))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_dill_client_vs_http_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        s = http_attach(tcp_connect(local4(srv.server_address[1]), dill.now() + 2000))
        http_sendrequest(s, "GET", "/some/path?q=1")
        http_sendfield(s, "Host", "127.0.0.1")
        http_sendfield(s, "X-Test", "  hello  ")
        http_sendfield(s, "Connection", "close")
        http_done(s, dill.now() + 2000)
        assert http_recvstatus(s, dill.now() + 2000) == (200, "Fine")
        f = dict(fields(s))
        assert f["x-echo"] == "hello"
        u = http_detach(s)
        body = brecv(u, int(f["content-length"]), dill.now() + 2000)
        assert body == b"you asked for /some/path?q=1"
        u.close()
    finally:
        srv.shutdown()
        srv.server_close()


def _serve_one(ls, body=b'{"ok": true}', deadline_ms=5000):
    s, _ = tcp_accept(ls, dill.now() + deadline_ms)
    h = http_attach(s)
    method, resource = http_recvrequest(h, dill.now() + deadline_ms)
    f = dict(fields(h))
    http_sendstatus(h, 200, "OK")
    http_sendfield(h, "Content-Type", "application/json")
    http_sendfield(h, "Content-Length", str(len(body)))
    http_sendfield(h, "X-Method", method)
    http_sendfield(h, "X-Resource", resource)
    u = http_detach(h, dill.now() + deadline_ms)
    bsend(u, body)
    try:
        tcp_close(u, dill.now() + deadline_ms)
    except OSError:
        pass
    return method, resource, f


def test_http_client_vs_dill_server():
    ls = tcp_listen(local4())
    port = ls.addr.port
    out = []

    def client():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/thing", headers={"X-Hi": "there"})
            r = c.getresponse()
            out.append((r.status, r.reason, r.getheader("X-Resource"), r.read()))
            c.close()
        except Exception as e:  # pragma: no cover
            out.append(e)

    t = threading.Thread(target=client)
    t.start()
    method, resource, f = _serve_one(ls)
    t.join(5)
    ls.close()
    assert (method, resource) == ("GET", "/api/thing")
    assert f["x-hi"] == "there" and f["host"].startswith("127.0.0.1")
    assert out == [(200, "OK", "/api/thing", b'{"ok": true}')]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_vs_dill_server():
    ls = tcp_listen(local4())
    port = ls.addr.port
    out = []

    def client():
        out.append(subprocess.run(
            ["curl", "-s", "-S", "--max-time", "5", "-D", "-", "-H", "X-Curl: yes",
             "http://127.0.0.1:%d/curl?x=y" % port],
            capture_output=True, timeout=10))

    t = threading.Thread(target=client)
    t.start()
    method, resource, f = _serve_one(ls, b"hello curl")
    t.join(10)
    ls.close()
    assert resource == "/curl?x=y" and f["x-curl"] == "yes"
    r = out[0]
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert r.stdout.endswith(b"\r\n\r\nhello curl")


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("garbage", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",                       # no Host
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
])
def test_garbage_heads_are_eproto(garbage):
    a, b = ipc_pair()
    bsend(a, garbage)
    s = http_attach(b)
    with pytest.raises(OSError) as ei:
        http_recvrequest(s, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    with pytest.raises(ConnectionResetError):
        http_recvrequest(s, 0)
    a.close(), s.close()


def test_garbage_status_line():
    a, b = ipc_pair()
    bsend(a, b"HTTP/1.1 abc Nope\r\n\r\n")
    s = http_attach(b)
    with pytest.raises(OSError) as ei:
        http_recvstatus(s, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    a.close(), s.close()


def test_head_over_16k_refused():
    a, b = ipc_pair()
    s = http_attach(b)

    def flood():
        try:
            bsend(a, b"GET / HTTP/1.1\r\nHost: x\r\n", -1)
            for i in range(100):
                bsend(a, b"X-%d: %s\r\n" % (i, b"y" * 500), -1)
        except (OSError, Canceled):
            pass

    cr = dill.go(flood)
    with pytest.raises(OSError) as ei:
        http_recvrequest(s, dill.now() + 2000)
    assert ei.value.errno == errno.EMSGSIZE
    cr.close()
    # all at once, complete: still refused
    a2, b2 = ipc_pair()
    bsend(a2, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 17000 + b"\r\n\r\n")
    s2 = http_attach(b2)
    with pytest.raises(OSError) as ei:
        http_recvrequest(s2, dill.now() + 2000)
    assert ei.value.errno == errno.EMSGSIZE
    # and on send
    h = http_attach(a2)
    http_sendrequest(h, "GET", "/")
    with pytest.raises(OSError) as ei:
        for i in range(100):
            http_sendfield(h, "X-%d" % i, "y" * 500)
    assert ei.value.errno == errno.EMSGSIZE
    for x in (a, s, s2, h):
        x.close()


def test_truncated_head_and_empty_connection():
    a, b = ipc_pair()
    bsend(a, b"GET / HTTP/1.1\r\nHost: x\r\n")
    a.done()
    s = http_attach(b)
    with pytest.raises(OSError) as ei:
        http_recvrequest(s)
    assert ei.value.errno == errno.EPROTO
    a.close(), s.close()
    a, b = ipc_pair()
    a.done()
    s = http_attach(b)
    with pytest.raises(Done):
        http_recvrequest(s)
    a.close(), s.close()


def test_slowloris_times_out_and_server_serves_others():
    ls = tcp_listen(local4())
    results = {}

    def handler(name, s):
        h = http_attach(s)
        try:
            m, r = http_recvrequest(h, dill.now() + 200)
            fields(h, dill.now() + 200)
            http_sendstatus(h, 204, "No Content")
            http_done(h, dill.now() + 200)
            results[name] = r
        except TimedOut:
            results[name] = "timedout"
        except OSError as e:
            results[name] = errno.errorcode[e.errno]
        finally:
            h.close()

    def server():
        with dill.bundle() as b:
            for name in ("slow", "garbage", "good"):
                s, _ = tcp_accept(ls, -1)
                b.go(handler, name, s)
            dill.bundle_wait(b, dill.now() + 3000)

    srv = dill.go(server)
    slow = tcp_connect(ls.addr, -1)
    bsend(slow, b"GET /slow HTTP/1.1\r\nHo")    # then stalls
    dill.msleep(dill.now() + 10)
    garbage = tcp_connect(ls.addr, -1)
    bsend(garbage, b"\xff\xfe garbage\r\n\r\n")
    dill.msleep(dill.now() + 10)
    good = http_attach(tcp_connect(ls.addr, -1))
    http_sendrequest(good, "GET", "/good")
    http_sendfield(good, "Host", "x")
    http_done(good)
    assert http_recvstatus(good, dill.now() + 2000) == (204, "No Content")
    srv.wait()
    srv.close()
    assert results == {"slow": "timedout", "garbage": "EPROTO", "good": "/good"}
    for x in (slow, garbage, good, ls):
        x.close()


def test_cancel_in_recvrequest_and_recvstatus():
    a, b = ipc_pair()
    s, c = http_attach(b), http_attach(a)
    seen = []

    def rx(f, h):
        try:
            f(h, -1)
        except Canceled:
            seen.append(f.__name__)
            raise

    cr1 = dill.go(rx, http_recvrequest, s)
    cr2 = dill.go(rx, http_recvstatus, c)
    cr1.close(), cr2.close()
    assert sorted(seen) == ["http_recvrequest", "http_recvstatus"]
    # still usable
    http_sendrequest(c, "GET", "/")
    http_sendfield(c, "Host", "x")
    http_done(c)
    assert http_recvrequest(s, dill.now() + 1000) == ("GET", "/")
    s.close()
    assert b.closed
    with pytest.raises(BadHandle):
        http_recvfield(s)
    c.close()
