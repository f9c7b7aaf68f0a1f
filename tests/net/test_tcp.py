"""TCP: libdill's tests/tcp.c scenarios plus cancel points, deadlines, sticky
errors, EBUSY, no-loss guarantees and 1,000 concurrent echo clients."""

import errno
import socket
import struct

import pytest

import dill
from dill import BadHandle, Canceled, Done, NotSupported, TimedOut
from dill.net import (
    IPAddr,
    brecv,
    brecvl,
    bsend,
    bsendl,
    ipaddr_local,
    mrecv,
    msend,
    tcp_accept,
    tcp_close,
    tcp_connect,
    tcp_done,
    tcp_fromfd,
    tcp_listen,
    tcp_listener_fromfd,
)
from nethelpers import Elapsed, local4, needs_ipv6, raise_fd_limit, tcp_pair


# ---------------------------------------------------------------- libdill tcp.c


def test_deadline_scenario(listener):
    def client(addr):
        s = tcp_connect(addr, -1)
        try:
            dill.msleep(-1)
        finally:
            s.close()

    cr = dill.go(client, listener.addr)
    s, addr = tcp_accept(listener, -1)
    assert addr.family == socket.AF_INET and str(addr) == "127.0.0.1"
    with pytest.raises(NotSupported):
        mrecv(s, -1)
    with pytest.raises(NotSupported):
        msend(s, b"ABC", -1)
    with Elapsed() as t:
        with pytest.raises(TimedOut):
            brecv(s, 16, dill.now() + 30)
    assert 20 <= t.ms <= 250
    # unlike libdill, a receive timeout is not sticky: nothing was lost, the
    # socket is still usable
    with pytest.raises(TimedOut):
        brecv(s, 16, 0)
    s.close()
    dill.hclose(cr)


def test_data_exchange_scenario(listener):
    result = []

    def client(addr):
        s = tcp_connect(addr, -1)
        assert brecv(s, 3, -1) == b"ABC"
        bsend(s, b"DEF", -1)
        try:
            tcp_close(s, -1)
        except Canceled:
            result.append("canceled")
            raise

    cr = dill.go(client, listener.addr)
    s, _ = tcp_accept(listener, -1)
    bsend(s, b"ABC", -1)
    assert brecv(s, 3, -1) == b"DEF"
    with pytest.raises(Done):
        brecv(s, 16, -1)
    # the client is draining in tcp_close: we are done, our close gives it the end
    # but it then waits for... nothing more: our graceful close completes
    tcp_close(s, -1)
    with pytest.raises(BadHandle):
        brecv(s, 1, 0)
    dill.hclose(cr)
    # the client saw our end (our tcp_close sends FIN) or was canceled while
    # still draining; either way hclose returned.
    assert result in ([], ["canceled"])


def test_client_close_canceled_while_draining(listener):
    """libdill tcp.c #2: hclose on a client stuck in tcp_close -> Canceled."""
    result = []

    def client(addr):
        s = tcp_connect(addr, -1)
        bsend(s, b"DEF", -1)
        try:
            tcp_close(s, -1)
        except Canceled:
            result.append("canceled")
            raise

    cr = dill.go(client, listener.addr)
    s, _ = tcp_accept(listener, -1)
    assert brecv(s, 3, -1) == b"DEF"
    with pytest.raises(Done):
        brecv(s, 1, -1)
    # we never finish our side, so the client is stuck draining
    dill.msleep(dill.now() + 20)
    dill.hclose(cr)
    assert result == ["canceled"]
    s.close()


def test_manual_termination(listener):
    def client(addr):
        s = tcp_connect(addr, -1)
        assert brecv(s, 3, -1) == b"ABC"
        with pytest.raises(Done):
            brecv(s, 3, -1)
        bsend(s, b"DEF", -1)
        tcp_close(s, -1)

    cr = dill.go(client, listener.addr)
    s, _ = tcp_accept(listener, -1)
    bsend(s, b"ABC", -1)
    tcp_done(s, -1)
    with pytest.raises(Done):
        bsend(s, b"X", -1)
    with pytest.raises(Done):
        tcp_done(s, -1)
    assert brecv(s, 3, -1) == b"DEF"
    with pytest.raises(Done):
        brecv(s, 1, -1)
    # Done is sticky
    with pytest.raises(Done):
        brecv(s, 1, 0)
    cr.wait()
    s.close()
    dill.hclose(cr)


def test_dos_emulation(listener):
    """A peer that floods: tcp_close's deadline holds; the flooder sees a reset."""
    out = []

    def client(addr):
        s = tcp_connect(addr, -1)
        dill.msleep(dill.now() + 50)
        with Elapsed() as t:
            with pytest.raises(TimedOut):
                tcp_close(s, dill.now() + 100)
        out.append(t.ms)

    cr = dill.go(client, listener.addr)
    s, _ = tcp_accept(listener, -1)
    buf = bytes(2048)
    with pytest.raises(ConnectionResetError):
        while True:
            bsend(s, buf, dill.now() + 2000)
    with pytest.raises(ConnectionResetError):
        bsend(s, buf, -1)  # sticky
    with pytest.raises(ConnectionResetError):
        tcp_close(s, -1)
    assert s.closed
    cr.wait()
    dill.hclose(cr)
    assert 80 <= out[0] <= 1000


def test_ephemeral_port(listener):
    assert listener.addr.port > 0
    assert str(listener.addr) == "127.0.0.1"
    ls = tcp_listen(ipaddr_local(None, 0))
    assert ls.addr.port > 0
    ls.close()


@pytest.mark.parametrize("bufsize", [1, 1000, 2000, 2001, 3000, 70000])
def test_move_lots_of_data(bufsize):
    c, s = tcp_pair()
    total = 5000 * 8
    payload = bytes(i % 251 for i in range(total))

    def receiver():
        got = []
        n = 0
        while n < total:
            k = min(bufsize, total - n)
            got.append(brecv(s, k, dill.now() + 10000))
            n += k
        return b"".join(got)

    cr = dill.go(receiver)
    for i in range(0, total, 512):
        bsend(c, payload[i:i + 512], dill.now() + 1000)
    assert cr.wait() == payload
    dill.hclose(cr)
    c.close()
    s.close()


def test_fromfd(listener):
    raw = socket.create_connection(("127.0.0.1", listener.addr.port))
    s = tcp_fromfd(raw)
    a, _ = tcp_accept(listener, -1)
    bsend(a, b"ABC", -1)
    assert brecv(s, 3, -1) == b"ABC"
    s.close()
    a.close()
    assert raw.fileno() == -1  # owned and closed by the handle


def test_fromfd_rejects():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(ValueError):
        tcp_fromfd(u)
    u.close()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    with pytest.raises(ValueError):
        tcp_fromfd(lsock)
    ls = tcp_listener_fromfd(lsock)
    assert ls.addr.port == lsock.getsockname()[1]
    c = tcp_connect(ls.addr, dill.now() + 1000)
    a, _ = tcp_accept(ls, dill.now() + 1000)
    c.close()
    a.close()
    ls.close()
    notl = socket.socket()
    with pytest.raises(ValueError):
        tcp_listener_fromfd(notl)
    notl.close()


def test_proxy_chain():
    """tcp.c #8: client -> proxy (byte-by-byte forwarders) -> echo server."""
    echo_ls = tcp_listen(local4())
    proxy_ls = tcp_listen(local4())

    def echo():
        while True:
            s, _ = tcp_accept(echo_ls, -1)
            try:
                while True:
                    bsend(s, brecv(s, 1, -1), -1)
            except Done:
                pass
            tcp_close(s, dill.now() + 2000)  # graceful: hclose would discard unsent data

    def forward(a, b):
        try:
            while True:
                bsend(b, brecv(a, 1, -1), -1)
        except Done:
            tcp_done(b, -1)
        except ConnectionResetError:
            pass  # the client hard-closes at the end

    def proxy():
        s, _ = tcp_accept(proxy_ls, -1)
        u = tcp_connect(echo_ls.addr, -1)
        with dill.bundle() as b:
            b.go(forward, s, u)
            b.go(forward, u, s)
            dill.bundle_wait(b, -1)
        tcp_close(s, dill.now() + 2000)
        tcp_close(u, dill.now() + 2000)

    with dill.bundle() as servers:
        servers.go(echo)
        servers.go(proxy)
        c = tcp_connect(proxy_ls.addr, -1)
        data = b"".join(struct.pack("<i", i) for i in range(2000))

        def sender():
            bsend(c, data, -1)
            tcp_done(c, -1)

        with dill.bundle() as b:
            b.go(sender)
            got = brecv(c, len(data), -1)
            dill.bundle_wait(b, -1)
        assert got == data
        with pytest.raises(Done):
            brecv(c, 1, -1)
        c.close()
    echo_ls.close()
    proxy_ls.close()


# ---------------------------------------------------------------- errors and addresses


def test_connect_refused():
    ls = tcp_listen(local4())
    addr = ls.addr
    ls.close()
    with pytest.raises(ConnectionRefusedError):
        tcp_connect(addr, dill.now() + 1000)


def test_listen_in_use(listener):
    with pytest.raises(OSError) as ei:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        try:
            tcp_listen(ipaddr_local("127.0.0.1", s.getsockname()[1]))
        finally:
            s.close()
    assert ei.value.errno == errno.EADDRINUSE


def test_wrong_handle_kinds(listener):
    with pytest.raises(NotSupported):
        tcp_accept(dill.chmake()[0], 0)
    a, b = dill.chmake()
    with pytest.raises(NotSupported):
        bsend(a, b"x")
    with pytest.raises(NotSupported):
        brecv(a, 1)
    with pytest.raises(NotSupported):
        tcp_done(a)
    a.close()
    b.close()
    with pytest.raises(TypeError):
        bsend(42, b"x")


def test_closed_socket_raises_badhandle(pair):
    c, s = pair
    c.close()
    c.close()  # no-op
    for fn in (lambda: bsend(c, b"x"), lambda: brecv(c, 1), lambda: tcp_done(c),
               lambda: tcp_close(c), lambda: bsendl(c, [b"x"])):
        with pytest.raises(BadHandle):
            fn()


def test_addresses(pair):
    c, s = pair
    assert c.addr == s.local_addr
    assert s.addr == c.local_addr


@needs_ipv6
def test_ipv6_loopback():
    ls = tcp_listen(ipaddr_local("::1", 0))
    assert ls.addr.family == socket.AF_INET6 and str(ls.addr) == "::1"
    c = tcp_connect(ls.addr, dill.now() + 1000)
    s, addr = tcp_accept(ls, dill.now() + 1000)
    assert str(addr) == "::1"
    bsend(c, b"hello6")
    assert brecv(s, 6) == b"hello6"
    c.close()
    s.close()
    ls.close()


# ---------------------------------------------------------------- deadlines


def test_deadlines_recv(pair):
    c, s = pair
    # nothing there: 0 and past time out at once
    for dl in (0, 1, dill.now() - 10):
        with Elapsed() as t:
            with pytest.raises(TimedOut):
                brecv(s, 1, dl)
        assert t.ms < 50
    # future
    with Elapsed() as t:
        with pytest.raises(TimedOut):
            brecv(s, 1, dill.now() + 40)
    assert 30 <= t.ms < 300
    # data already there: deadline 0 / past succeeds
    bsend(c, b"abcd")
    dill.msleep(dill.now() + 10)
    assert brecv(s, 2, 0) == b"ab"
    assert brecv(s, 2, dill.now() - 100) == b"cd"
    bsend(c, b"xy")
    assert brecv(s, 2, -1) == b"xy"
    bsend(c, b"zz")
    assert brecv(s, 2, None) == b"zz"


def test_deadline_send_nonblocking_completes(pair):
    c, s = pair
    bsend(c, b"x" * 1000, 0)  # room in the buffers: succeeds with deadline 0
    assert brecv(s, 1000, dill.now() + 1000) == b"x" * 1000


def test_send_timeout_partway_is_sticky_only_for_send(pair):
    c, s = pair
    big = bytes(16 * 1024 * 1024)
    with pytest.raises(TimedOut):
        bsend(c, big, dill.now() + 50)
    with pytest.raises(ConnectionResetError):
        bsend(c, b"x", -1)
    with pytest.raises(ConnectionResetError):
        tcp_done(c, -1)
    # the receive direction is unaffected
    bsend(s, b"hello")
    assert brecv(c, 5, dill.now() + 1000) == b"hello"


def test_send_timeout_before_any_byte_is_not_sticky(pair):
    c, s = pair
    chunk = bytes(65536)
    # fill the pipe until a send would block
    raw = c.socket
    while True:
        try:
            raw.send(chunk)
        except BlockingIOError:
            break
    # nothing was sent by the failed call: the direction is still usable
    with pytest.raises(TimedOut):
        bsend(c, b"y", 0)

    def drain():
        n = 0
        while True:
            try:
                n += len(s.brecv_some(65536, dill.now() + 100))
            except TimedOut:
                return n

    cr = dill.go(drain)
    bsend(c, b"z", dill.now() + 2000)
    cr.wait()
    dill.hclose(cr)


# ---------------------------------------------------------------- no loss


def test_short_read_timeout_loses_nothing(pair):
    c, s = pair
    bsend(c, b"ABC")
    with pytest.raises(TimedOut):
        brecv(s, 5, dill.now() + 30)
    bsend(c, b"DE")
    assert brecv(s, 5, dill.now() + 1000) == b"ABCDE"


def test_short_read_done_loses_nothing(pair):
    c, s = pair
    bsend(c, b"ABC")
    tcp_done(c)
    with pytest.raises(Done):
        brecv(s, 5, dill.now() + 1000)
    assert brecv(s, 3, 0) == b"ABC"
    with pytest.raises(Done):
        brecv(s, 1, 0)


def test_short_read_cancel_loses_nothing(pair):
    c, s = pair

    def reader():
        return brecv(s, 10, -1)

    bsend(c, b"12345")
    cr = dill.go(reader)
    dill.msleep(dill.now() + 20)
    dill.hclose(cr)
    bsend(c, b"67890")
    assert brecv(s, 10, dill.now() + 1000) == b"1234567890"


def test_brecvl_scatter_and_skip(pair):
    c, s = pair
    bsend(c, b"ABCDEFGHIJ")
    x = bytearray(3)
    y = bytearray(3)
    brecvl(s, [x, 3, y], dill.now() + 1000)
    assert x == b"ABC" and y == b"GHI"
    assert brecv(s, 1, 0) == b"J"
    # partial brecvl that times out pushes everything back
    bsend(c, b"1234")
    big = bytearray(10)
    with pytest.raises(TimedOut):
        brecvl(s, [bytearray(2), big], dill.now() + 30)
    assert brecv(s, 4, 0) == b"1234"


def test_bsendl_gather_large(pair):
    c, s = pair
    bufs = [bytes([i % 256]) * (i * 37 % 5000) for i in range(200)]
    data = b"".join(bufs)

    def reader():
        return brecv(s, len(data), dill.now() + 5000)

    cr = dill.go(reader)
    bsendl(c, bufs, dill.now() + 5000)
    bsendl(c, [], -1)
    assert cr.wait() == data
    dill.hclose(cr)


def test_memoryview_and_bytearray(pair):
    c, s = pair
    bsend(c, bytearray(b"ab"))
    bsend(c, memoryview(b"xcdx")[1:3])
    import array

    bsend(c, array.array("i", [1]))
    assert brecv(s, 4 + 4) == b"abcd" + struct.pack("i", 1)


def test_reset_mid_message(pair):
    c, s = pair
    bsend(c, b"half")
    c.close()  # hard close: RST
    with pytest.raises(ConnectionResetError):
        brecv(s, 100, dill.now() + 1000)
    # bytes that arrived before the reset may still be read; beyond them, reset
    with pytest.raises(ConnectionResetError):
        brecv(s, 100, 0)
    with pytest.raises(ConnectionResetError):
        bsend(s, b"x" * 100000, dill.now() + 1000)
        bsend(s, b"x" * 100000, dill.now() + 1000)


def test_peer_graceful_close_is_done(pair):
    c, s = pair
    bsend(c, b"bye")

    def closer():
        tcp_close(c, dill.now() + 1000)

    cr = dill.go(closer)
    assert brecv(s, 3) == b"bye"
    with pytest.raises(Done):
        brecv(s, 1)
    # our send direction still works until we are done
    tcp_close(s, dill.now() + 1000)
    cr.wait()
    dill.hclose(cr)


def test_tcp_close_deadline_zero_with_end_already_there(pair):
    c, s = pair
    bsend(c, b"last words")
    tcp_done(c)
    dill.msleep(dill.now() + 10)
    # deadline 0 is enough: the unread data and the peer's end are already there
    tcp_close(s, 0)
    assert s.closed
    # closed gracefully (drained, no RST): the peer sees a clean end
    with pytest.raises(Done):
        brecv(c, 1, dill.now() + 1000)
    c.close()


def test_tcp_close_on_listener():
    ls = tcp_listen(local4())
    tcp_close(ls, -1)
    assert ls.closed


# ---------------------------------------------------------------- busy and cancel


def test_ebusy_two_receivers(pair):
    c, s = pair
    cr = dill.go(brecv, s, 1, -1)
    with pytest.raises(OSError) as ei:
        brecv(s, 1, 0)
    assert ei.value.errno == errno.EBUSY
    with pytest.raises(OSError) as ei:
        s.brecv_some(1, 0)
    assert ei.value.errno == errno.EBUSY
    # sending is a different direction
    bsend(s, b"ok")
    bsend(c, b"Z")
    assert cr.wait() == b"Z"
    dill.hclose(cr)
    assert brecv(c, 2) == b"ok"


def test_ebusy_two_senders(pair):
    c, s = pair
    big = bytes(8 * 1024 * 1024)
    cr = dill.go(bsend, c, big, -1)
    with pytest.raises(OSError) as ei:
        bsend(c, b"x", 0)
    assert ei.value.errno == errno.EBUSY
    with pytest.raises(OSError) as ei:
        tcp_done(c, 0)
    assert ei.value.errno == errno.EBUSY
    assert brecv(s, len(big), dill.now() + 5000) == big
    cr.wait()
    dill.hclose(cr)


def _expect_canceled(fn, *args):
    out = []

    def run():
        try:
            fn(*args)
        except Canceled:
            out.append("canceled")
            raise
        out.append("returned")

    cr = dill.go(run)
    dill.msleep(dill.now() + 20)
    dill.hclose(cr)
    assert out == ["canceled"]


def test_cancel_points(listener):
    _expect_canceled(tcp_accept, listener, -1)
    c, s = tcp_pair()
    _expect_canceled(brecv, s, 1, -1)
    _expect_canceled(s.brecv_some, 1, -1)
    _expect_canceled(bsend, c, bytes(32 * 1024 * 1024), -1)
    c.close()
    s.close()


def test_cancel_connect():
    # a listener whose accept queue is full drops SYNs: connect blocks
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    addr = IPAddr("127.0.0.1", lsock.getsockname()[1])
    held = []
    blocked = None
    for _ in range(8):
        try:
            held.append(tcp_connect(addr, dill.now() + 200))
        except TimedOut:
            blocked = True
            break
    if not blocked:
        for h in held:
            h.close()
        lsock.close()
        pytest.skip("could not make connect block on this kernel")
    _expect_canceled(tcp_connect, addr, -1)
    for h in held:
        h.close()
    lsock.close()


def test_canceled_coroutine_io_completes_without_waiting(pair):
    c, s = pair
    bsend(c, b"abc")
    dill.msleep(dill.now() + 10)
    out = []

    def worker():
        try:
            dill.msleep(-1)
        finally:
            # canceled now: what can complete at once still does
            bsend(s, b"bye")
            out.append(brecv(s, 3, -1))
            try:
                brecv(s, 1, -1)
            except Canceled:
                out.append("canceled")

    cr = dill.go(worker)
    dill.hclose(cr)
    assert out == [b"abc", "canceled"]
    assert brecv(c, 3, 0) == b"bye"


def test_hclose_is_hard(pair):
    c, s = pair
    bsend(c, b"x" * 1000)
    dill.msleep(dill.now() + 10)
    s.close()  # unread data + SO_LINGER 0 -> RST
    with pytest.raises(ConnectionResetError):
        brecv(c, 1, dill.now() + 1000)


# ---------------------------------------------------------------- scale


def test_1000_concurrent_echo_clients():
    raise_fd_limit(2600)
    ls = tcp_listen(local4(), backlog=1024)
    n = 1000

    def handler(s):
        try:
            while True:
                bsend(s, brecv(s, 64, -1), -1)
        except Done:
            pass
        finally:
            s.close()

    def server(b):
        while True:
            s, _ = tcp_accept(ls, -1)
            b.go(handler, s)

    def client(i, results):
        s = tcp_connect(ls.addr, dill.now() + 10000)
        try:
            msg = (b"%06d" % i) * 10 + b"abcd"
            for _ in range(3):
                bsend(s, msg, dill.now() + 10000)
                assert brecv(s, 64, dill.now() + 10000) == msg
            results.append(i)
            tcp_done(s)
        finally:
            s.close()

    results = []
    with dill.bundle() as handlers, dill.bundle() as srv:
        srv.go(server, handlers)
        with dill.bundle() as clients:
            for i in range(n):
                clients.go(client, i, results)
            dill.bundle_wait(clients, dill.now() + 30000)
    assert sorted(results) == list(range(n))
    ls.close()
