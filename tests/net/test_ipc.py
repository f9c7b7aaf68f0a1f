"""IPC (UNIX-domain sockets): libdill's tests/ipc.c scenarios, fd passing, cancel."""

import errno
import os
import socket

import pytest

import dill
from dill import BadHandle, Canceled, Done, NotSupported, TimedOut
from dill.net import (
    brecv,
    brecvl,
    bsend,
    bsendl,
    ipc_accept,
    ipc_close,
    ipc_connect,
    ipc_done,
    ipc_fromfd,
    ipc_listen,
    ipc_listener_fromfd,
    ipc_pair,
    ipc_recvfd,
    ipc_sendfd,
    mrecv,
    tcp_done,
)
from nethelpers import Elapsed


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "ipc.test")


def test_deadline(path):
    ls = ipc_listen(path, 10)

    def client():
        s = ipc_connect(path, -1)
        try:
            dill.msleep(-1)
        finally:
            s.close()

    cr = dill.go(client)
    s = ipc_accept(ls, -1)
    with Elapsed() as t:
        with pytest.raises(TimedOut):
            brecv(s, 16, dill.now() + 30)
    assert 20 <= t.ms < 250
    with pytest.raises(NotSupported):
        mrecv(s, 0)
    s.close()
    dill.hclose(cr)
    ls.close()


def test_data_exchange_pair():
    a, b = ipc_pair()
    out = []

    def client(s):
        assert brecv(s, 3, -1) == b"ABC"
        bsend(s, b"DEF", -1)
        try:
            ipc_close(s, -1)
        except Canceled:
            out.append("canceled")
            raise

    cr = dill.go(client, b)
    bsend(a, b"ABC", -1)
    assert brecv(a, 3, -1) == b"DEF"
    with pytest.raises(Done):
        brecv(a, 3, -1)
    dill.msleep(dill.now() + 20)
    dill.hclose(cr)
    assert out == ["canceled"]
    a.close()


def test_graceful_close_both_sides():
    a, b = ipc_pair()

    def client(s):
        bsend(s, b"DEF", -1)
        ipc_close(s, dill.now() + 1000)

    cr = dill.go(client, b)
    assert brecv(a, 3, -1) == b"DEF"
    ipc_close(a, dill.now() + 1000)
    cr.wait()
    dill.hclose(cr)


def test_manual_termination():
    a, b = ipc_pair()

    def client(s):
        assert brecv(s, 3, -1) == b"ABC"
        with pytest.raises(Done):
            brecv(s, 3, -1)
        bsend(s, b"DEF", -1)
        ipc_close(s, -1)

    cr = dill.go(client, b)
    bsend(a, b"ABC", -1)
    ipc_done(a, -1)
    with pytest.raises(Done):
        ipc_done(a, -1)
    assert brecv(a, 3, -1) == b"DEF"
    with pytest.raises(Done):
        brecv(a, 3, -1)
    cr.wait()
    dill.hclose(cr)
    a.close()


def test_dos_emulation():
    a, b = ipc_pair()
    out = []

    def client(s):
        dill.msleep(dill.now() + 50)
        with Elapsed() as t:
            with pytest.raises(TimedOut):
                ipc_close(s, dill.now() + 100)
        out.append(t.ms)

    cr = dill.go(client, b)
    buf = bytes(2048)
    with pytest.raises(ConnectionResetError):
        while True:
            bsend(a, buf, dill.now() + 2000)
    with pytest.raises(ConnectionResetError):
        ipc_close(a, -1)
    cr.wait()
    dill.hclose(cr)
    assert 80 <= out[0] < 1000


def test_invalid_iolists():
    a, b = ipc_pair()
    bsendl(a, [], -1)  # nothing to send is fine
    with pytest.raises(TypeError):
        bsendl(a, b"not a list", -1)
    with pytest.raises(TypeError):
        bsendl(a, [object()], -1)
    a.close()
    b.close()


def test_skipping():
    a, b = ipc_pair()
    bsend(a, b"ABCDEFGHIJ")
    assert brecv(b, 3) == b"ABC"
    brecvl(b, [3])
    assert brecv(b, 3) == b"GHI"
    bsend(a, b"ABCDEFGHIJ")
    x, y = bytearray(3), bytearray(3)
    brecvl(b, [x, 3, y])
    assert (x, y) == (b"JAB", b"FGH")
    a.close()
    b.close()


def test_sendfd():
    a, b = ipc_pair()
    sp0, sp1 = socket.socketpair()
    bsend(a, b"ABC")
    ipc_sendfd(a, sp0.fileno())
    bsend(a, b"DEF")
    assert brecv(b, 3) == b"ABC"
    fd = ipc_recvfd(b, dill.now() + 1000)
    assert fd >= 0 and fd != sp0.fileno()
    assert brecv(b, 3) == b"DEF"
    os.write(fd, b"\x55")
    assert sp1.recv(1) == b"\x55"
    os.close(fd)
    sp0.close()
    sp1.close()
    # no fd attached: EPROTO, the byte stays readable
    bsend(a, b"Q")
    with pytest.raises(OSError) as ei:
        ipc_recvfd(b, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    assert brecv(b, 1) == b"Q"
    with pytest.raises(TimedOut):
        ipc_recvfd(b, dill.now() + 20)
    a.close()
    with pytest.raises((Done, ConnectionResetError)):
        ipc_recvfd(b, dill.now() + 1000)
    b.close()


def test_sendfd_object_and_cancel():
    a, b = ipc_pair()
    r, w = os.pipe()
    with open(w, "wb", buffering=0) as f:
        ipc_sendfd(a, f)
        got = ipc_recvfd(b, -1)
    os.write(got, b"z")
    assert os.read(r, 1) == b"z"
    os.close(got)
    os.close(r)
    out = []

    def waiter():
        try:
            ipc_recvfd(b, -1)
        except Canceled:
            out.append("canceled")
            raise

    cr = dill.go(waiter)
    dill.msleep(dill.now() + 10)
    dill.hclose(cr)
    assert out == ["canceled"]
    a.close()
    b.close()


def test_listen_connect_accept_and_errors(path):
    with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        ipc_connect(path, dill.now() + 1000)
    ls = ipc_listen(path)
    with pytest.raises(OSError) as ei:
        ipc_listen(path)  # not unlinked for you, as in libdill
    assert ei.value.errno == errno.EADDRINUSE
    c = ipc_connect(path, dill.now() + 1000)
    s = ipc_accept(ls, dill.now() + 1000)
    bsend(c, b"hi")
    assert brecv(s, 2) == b"hi"
    with pytest.raises(TimedOut):
        ipc_accept(ls, dill.now() + 10)
    with pytest.raises(NotSupported):
        tcp_done(s)
    with pytest.raises(NotSupported):
        ipc_accept(s, 0)
    c.close()
    s.close()
    ipc_close(ls)
    with pytest.raises(BadHandle):
        ipc_accept(ls, 0)


def test_cancel_accept_and_recv(path):
    ls = ipc_listen(path)
    a, b = ipc_pair()
    for fn, args in ((ipc_accept, (ls, -1)), (brecv, (a, 1, -1)),
                     (bsend, (a, bytes(64 * 1024 * 1024), -1))):
        out = []

        def run():
            try:
                fn(*args)
            except Canceled:
                out.append("canceled")
                raise

        cr = dill.go(run)
        dill.msleep(dill.now() + 10)
        dill.hclose(cr)
        assert out == ["canceled"], fn
    ls.close()
    a.close()
    b.close()


def test_fromfd(path):
    raw_a, raw_b = socket.socketpair()
    a = ipc_fromfd(raw_a)
    b = ipc_fromfd(raw_b)
    bsend(a, b"x")
    assert brecv(b, 1) == b"x"
    a.close()
    b.close()
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(path)
    lsock.listen()
    with pytest.raises(ValueError):
        ipc_fromfd(lsock)
    ls = ipc_listener_fromfd(lsock)
    c = ipc_connect(path, dill.now() + 1000)
    s = ipc_accept(ls, dill.now() + 1000)
    c.close()
    s.close()
    ls.close()
    with pytest.raises(ValueError):
        ipc_fromfd(socket.socket())


def test_lots_of_data_iol_style():
    """libdill iol.c: random-sized gathers/scatters with skips, counter mod 128."""
    import random

    rnd = random.Random(7)
    a, b = ipc_pair()

    def client():
        counter = 0
        for _ in range(300):
            bufs = []
            for _ in range(5):
                n = rnd.randrange(32)
                bufs.append(bytes((counter + i) % 128 for i in range(n)))
                counter += n
            bsendl(a, bufs, -1)
        ipc_close(a, -1)

    cr = dill.go(client)
    counter = 0
    rnd2 = random.Random(9)
    try:
        while True:
            spec = []
            for _ in range(5):
                n = rnd2.randrange(1, 32)
                spec.append(n if rnd2.random() < 0.1 else bytearray(n))
            try:
                brecvl(b, spec, -1)
            except Done:
                break
            for x in spec:
                if isinstance(x, int):
                    counter += x
                else:
                    assert bytes(x) == bytes((counter + i) % 128 for i in range(len(x)))
                    counter += len(x)
    finally:
        pass
    # what is left is shorter than the last request
    rest = b""
    while True:
        try:
            rest += b.brecv_some(100, 0)
        except Done:
            break
    assert rest == bytes((counter + i) % 128 for i in range(len(rest)))
    ipc_close(b, -1)
    cr.wait()
    dill.hclose(cr)
