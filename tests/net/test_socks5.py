"""SOCKS5: libdill's tests/socks5.c matrix, a dill proxy used by PySocks, the dill
client through pproxy, reply codes, lying proxies, refused credentials, cancellation."""

import errno
import socket
import subprocess
import sys
import threading
import time

import pytest

import dill
from dill import Canceled, Done, TimedOut
from dill.net import (
    SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED,
    SOCKS5_BIND,
    SOCKS5_COMMAND_NOT_SUPPORTED,
    SOCKS5_CONNECT,
    SOCKS5_CONNECTION_NOT_ALLOWED,
    SOCKS5_CONNECTION_REFUSED,
    SOCKS5_GENERAL_FAILURE,
    SOCKS5_HOST_UNREACHABLE,
    SOCKS5_NETWORK_UNREACHABLE,
    SOCKS5_SUCCESS,
    SOCKS5_TTL_EXPIRED,
    SOCKS5_UDP_ASSOCIATE,
    brecv,
    bsend,
    ipc_pair,
    socks5_client_connect,
    socks5_proxy_auth,
    socks5_proxy_recvcommand,
    socks5_proxy_sendreply,
    tcp_accept,
    tcp_connect,
    tcp_done,
    tcp_listen,
    ipaddr_remote,
)
from nethelpers import local4


def check_auth(user, password):
    return user == "user" and password == "pass"


@pytest.mark.parametrize("creds", [(None, None), ("user", "pass")])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_libdill_matrix(creds, host):
    a, b = ipc_pair()

    def proxy(s):
        socks5_proxy_auth(s, None if creds[0] is None else check_auth, dill.now() + 5000)
        cmd, h, port = socks5_proxy_recvcommand(s, dill.now() + 5000)
        assert (cmd, h, port) == (SOCKS5_CONNECT, host, 5555)
        socks5_proxy_sendreply(s, SOCKS5_SUCCESS, None, dill.now() + 5000)
        bsend(s, brecv(s, 5, dill.now() + 5000)[::-1])

    with dill.bundle() as bn:
        bn.go(proxy, b)
        assert socks5_client_connect(a, host, 5555, dill.now() + 5000, *creds) is None
        bsend(a, b"hello")
        assert brecv(a, 5, dill.now() + 5000) == b"olleh"
        dill.bundle_wait(bn, -1)
    a.close(), b.close()


@pytest.mark.parametrize("reply,exc,err", [
    (SOCKS5_GENERAL_FAILURE, OSError, errno.EIO),
    (SOCKS5_CONNECTION_NOT_ALLOWED, PermissionError, errno.EACCES),
    (SOCKS5_NETWORK_UNREACHABLE, OSError, errno.ENETUNREACH),
    (SOCKS5_HOST_UNREACHABLE, OSError, errno.EHOSTUNREACH),
    (SOCKS5_CONNECTION_REFUSED, ConnectionRefusedError, errno.ECONNREFUSED),
    (SOCKS5_TTL_EXPIRED, OSError, errno.ETIMEDOUT),
    (SOCKS5_COMMAND_NOT_SUPPORTED, OSError, errno.EOPNOTSUPP),
    (SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED, OSError, errno.EAFNOSUPPORT),
])
def test_reply_codes_map_to_errors(reply, exc, err):
    a, b = ipc_pair()

    def proxy(s):
        socks5_proxy_auth(s, None)
        socks5_proxy_recvcommand(s)
        socks5_proxy_sendreply(s, reply, ("10.0.0.1", 99))

    cr = dill.go(proxy, b)
    with pytest.raises(exc) as ei:
        socks5_client_connect(a, "example.com", 80, dill.now() + 2000)
    assert ei.value.errno == err
    cr.wait(), cr.close()
    a.close(), b.close()


@pytest.mark.parametrize("lie", [
    b"\x04\x00",                               # wrong version in method reply
    b"\x05\x02",                               # chose user/pass, not offered
    b"\x05\x00\x04\x00\x00\x01" + bytes(6),     # wrong version in reply
    b"\x05\x00\x05\x00\x00\x07" + bytes(6),     # bad address type in reply
    b"\x05\x00\x05\x42\x00\x01" + bytes(6),     # unknown reply code
])
def test_lying_proxy_is_eproto(lie):
    a, b = ipc_pair()
    bsend(b, lie)
    with pytest.raises(OSError) as ei:
        socks5_client_connect(a, "1.2.3.4", 80, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    a.close(), b.close()


def test_proxy_refusals():
    # client offers only no-auth, proxy wants a password
    a, b = ipc_pair()
    cr = dill.go(socks5_proxy_auth, b, check_auth, dill.now() + 2000)
    with pytest.raises(PermissionError):
        socks5_client_connect(a, "1.2.3.4", 80, dill.now() + 2000)
    with pytest.raises(PermissionError):
        cr.wait()
    cr.close(), a.close(), b.close()
    # wrong password
    a, b = ipc_pair()
    cr = dill.go(socks5_proxy_auth, b, check_auth, dill.now() + 2000)
    with pytest.raises(PermissionError):
        socks5_client_connect(a, "1.2.3.4", 80, dill.now() + 2000, "user", "wrong")
    with pytest.raises(PermissionError):
        cr.wait()
    cr.close(), a.close(), b.close()


def test_proxy_recvcommand_variants_and_garbage():
    a, b = ipc_pair()
    bsend(a, b"\x05\x02\x00\x04" + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + b"\x01\xbb")
    assert socks5_proxy_recvcommand(b) == (SOCKS5_BIND, "2001:db8::1", 443)
    bsend(a, b"\x05\x03\x00\x03\x0bexample.org\x00\x35")
    assert socks5_proxy_recvcommand(b) == (SOCKS5_UDP_ASSOCIATE, "example.org", 53)
    bsend(a, b"\x05\x01\x00\x09")
    with pytest.raises(OSError) as ei:
        socks5_proxy_recvcommand(b)
    assert ei.value.errno == errno.EPROTO
    assert brecv(a, 2) == b"\x05\x08"       # address type not supported was sent
    bsend(b, b"")
    a.close(), b.close()
    a, b = ipc_pair()
    bsend(a, b"GET / HTTP/1.1\r\n")
    with pytest.raises(OSError) as ei:
        socks5_proxy_auth(b, None)
    assert ei.value.errno == errno.EPROTO
    a.close(), b.close()


def test_argument_checks():
    a, b = ipc_pair()
    with pytest.raises(ValueError):
        socks5_client_connect(a, "x", 0)
    with pytest.raises(ValueError):
        socks5_client_connect(a, "x" * 300, 80)
    with pytest.raises(ValueError):
        socks5_client_connect(a, "x", 80, -1, "u" * 300, "p")
    with pytest.raises(ValueError):
        socks5_proxy_sendreply(a, 9, None)
    a.close(), b.close()


def test_stalled_proxy_times_out_and_cancel():
    a, b = ipc_pair()
    t0 = dill.now()
    with pytest.raises(TimedOut):
        socks5_client_connect(a, "1.2.3.4", 80, dill.now() + 50)
    assert dill.now() - t0 >= 40
    a.close(), b.close()
    a, b = ipc_pair()
    seen = []

    def stuck():
        try:
            socks5_proxy_auth(b, None, -1)
        except Canceled:
            seen.append(1)
            raise

    cr = dill.go(stuck)
    cr.close()
    assert seen == [1]
    a.close(), b.close()


# ------------------------------------------------------------------ a real proxy


def _forward(src, dst):
    try:
        while True:
            data = src.brecv_some(65536, -1)
            bsend(dst, data, -1)
    except Done:
        try:
            tcp_done(dst, -1)
        except OSError:
            pass
    except OSError:
        pass


def _proxy_conn(s, auth):
    try:
        socks5_proxy_auth(s, auth, dill.now() + 5000)
        cmd, host, port = socks5_proxy_recvcommand(s, dill.now() + 5000)
        if cmd != SOCKS5_CONNECT:
            socks5_proxy_sendreply(s, SOCKS5_COMMAND_NOT_SUPPORTED, None, dill.now() + 5000)
            return
        try:
            up = tcp_connect(ipaddr_remote(host, port, 0, dill.now() + 5000), dill.now() + 5000)
        except ConnectionRefusedError:
            socks5_proxy_sendreply(s, SOCKS5_CONNECTION_REFUSED, None, dill.now() + 5000)
            return
        socks5_proxy_sendreply(s, SOCKS5_SUCCESS, ("127.0.0.1", 1), dill.now() + 5000)
        with dill.bundle() as b:
            b.go(_forward, s, up)
            b.go(_forward, up, s)
            dill.bundle_wait(b, dill.now() + 5000)
        up.close()
    except (OSError, PermissionError):
        pass
    finally:
        s.close()


def _echo_server():
    ls = socket.create_server(("127.0.0.1", 0))

    def run():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            with c:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)

    threading.Thread(target=run, daemon=True).start()
    return ls


@pytest.mark.parametrize("auth", [False, True])
def test_pysocks_client_via_dill_proxy(auth):
    socks = pytest.importorskip("socks")
    echo = _echo_server()
    eport = echo.getsockname()[1]
    ls = tcp_listen(local4())
    pport = ls.addr.port
    out = []

    def client():
        try:
            c = socks.socksocket()
            c.settimeout(5)
            c.set_proxy(socks.SOCKS5, "127.0.0.1", pport,
                        username="user" if auth else None, password="pass" if auth else None)
            c.connect(("127.0.0.1", eport))
            c.sendall(b"through the proxy")
            data = b""
            while len(data) < 17:
                data += c.recv(100)
            out.append(data)
            c.close()
        except Exception as e:  # pragma: no cover
            out.append(e)

    t = threading.Thread(target=client)
    t.start()
    s, _ = tcp_accept(ls, dill.now() + 5000)
    _proxy_conn(s, check_auth if auth else None)
    t.join(5)
    ls.close(), echo.close()
    assert out == [b"through the proxy"]


def test_pysocks_refused_credentials():
    socks = pytest.importorskip("socks")
    ls = tcp_listen(local4())
    pport = ls.addr.port
    out = []

    def client():
        c = socks.socksocket()
        c.settimeout(5)
        c.set_proxy(socks.SOCKS5, "127.0.0.1", pport, username="user", password="nope")
        try:
            c.connect(("127.0.0.1", 9))
        except socks.ProxyError:
            out.append("refused")
        finally:
            c.close()

    t = threading.Thread(target=client)
    t.start()
    s, _ = tcp_accept(ls, dill.now() + 5000)
    with pytest.raises(PermissionError):
        socks5_proxy_auth(s, check_auth, dill.now() + 5000)
    s.close()
    t.join(5)
    ls.close()
    assert out == ["refused"]


@pytest.fixture
def pproxy_port():
    pytest.importorskip("pproxy")
    with socket.socket() as tmp:
        tmp.bind(("127.0.0.1", 0))
        port = tmp.getsockname()[1]
    # pproxy installs uvloop when it can, which breaks its own startup with recent
    # uvloop versions: run it with uvloop hidden.
    code = ("import sys, runpy; sys.modules['uvloop'] = None; "
            "sys.argv = ['pproxy', '-l', 'socks5://127.0.0.1:%d']; "
            "runpy.run_module('pproxy', run_name='__main__')" % port)
    p = subprocess.Popen([sys.executable, "-c", code],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if p.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("pproxy did not start")
                time.sleep(0.05)
        yield port
    finally:
        p.terminate()
        p.wait(5)


def test_dill_client_via_pproxy(pproxy_port):
    echo = _echo_server()
    eport = echo.getsockname()[1]
    for host in ("127.0.0.1", "localhost"):
        s = tcp_connect(local4(pproxy_port), dill.now() + 5000)
        socks5_client_connect(s, host, eport, dill.now() + 5000)
        bsend(s, b"hello via pproxy")
        assert brecv(s, 16, dill.now() + 5000) == b"hello via pproxy"
        s.close()
    echo.close()


def test_cancel_client_connect():
    a, b = ipc_pair()
    seen = []

    def cl():
        try:
            socks5_client_connect(a, "example.com", 80, -1)
        except Canceled:
            seen.append(1)
            raise

    cr = dill.go(cl)
    cr.close()
    assert seen == [1]
    a.close(), b.close()
