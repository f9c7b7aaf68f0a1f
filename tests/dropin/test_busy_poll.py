"""Busy-poll loops in green threads make progress by design.

A green thread is never preempted: a loop that polls a non-blocking socket would
never let the thread that sends it the data run.  Every green non-blocking call
that cannot complete (``BlockingIOError``, an empty zero-timeout
``select``/``poll``/``epoll``/selector) first lets the other ready coroutines run
once; a call that succeeds does not yield.  Each loop below is bounded, so a
regression fails instead of hanging.
"""

from __future__ import annotations

import errno

import pytest

from dill import yield_
from dill.green import select, selectors, socket, threading
from test_green_socket import pair  # noqa: F401  (the fixture: a green socketpair)

pytestmark = pytest.mark.timeout(20)

BOUND = 100000  # polls before a loop gives up (each poll yields: a few ms in all)


def _later(fn, *args):
    """Run ``fn(*args)`` in a green thread, only once this one lets it run.

    (``start()`` runs the new thread at once, up to its first yield.)
    """
    def run():
        yield_()
        fn(*args)

    t = threading.Thread(target=run)
    t.start()
    return t


def _poll_until(pred, poll):
    """Call ``poll()`` until ``pred()``; False if the bound ran out first."""
    for _ in range(BOUND):
        if pred():
            return True
        poll()
    return pred()


def test_recv_loop_lets_the_sender_run(pair):
    """urllib3's test_headers_sent_with_add shape: settimeout(0), recv until complete."""
    a, b = pair
    a.settimeout(0)
    t = _later(b.sendall, b"x" * 100000)
    buf = bytearray()

    def poll():
        try:
            buf.extend(a.recv(65536))
        except BlockingIOError:
            pass

    assert _poll_until(lambda: len(buf) == 100000, poll)
    t.join()


def test_accept_loop_lets_the_client_connect():
    with socket.create_server(("127.0.0.1", 0)) as srv:
        srv.setblocking(False)
        t = _later(lambda: socket.create_connection(srv.getsockname()).close())
        got = []

        def poll():
            try:
                got.append(srv.accept()[0])
            except BlockingIOError:
                pass

        assert _poll_until(lambda: got, poll)
        got[0].close()
        t.join()


def test_connect_ex_loop_completes():
    with socket.create_server(("127.0.0.1", 0)) as srv:
        c = socket.socket()
        c.setblocking(False)
        codes = []
        assert _poll_until(lambda: codes and codes[-1] in (0, errno.EISCONN),
                           lambda: codes.append(c.connect_ex(srv.getsockname())))
        c.close()


def test_send_loop_lets_the_reader_drain(pair):
    a, b = pair
    a.setblocking(False)
    total = 2000000
    got = []

    def reader():
        n = 0
        while n < total:
            n += len(b.recv(65536))
        got.append(n)

    t = _later(reader)
    sent = [0]

    def poll():
        try:
            sent[0] += a.send(b"y" * min(65536, total - sent[0]))
        except BlockingIOError:
            pass

    assert _poll_until(lambda: sent[0] == total, poll)
    t.join()
    assert got == [total]


def _zero_timeout_pollers(sock):
    """Each zero-timeout readiness check of the green modules, watching ``sock``."""
    p = select.poll()
    p.register(sock, select.POLLIN)
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    return {"select": lambda: select.select([sock], [], [], 0)[0],
            "poll": lambda: p.poll(0),
            "epoll": lambda: ep.poll(0),
            "selector": lambda: sel.select(0)}, (ep.close, sel.close)


@pytest.mark.parametrize("kind", ["select", "poll", "epoll", "selector"])
def test_zero_timeout_readiness_loop_lets_the_sender_run(pair, kind):
    a, b = pair
    pollers, closers = _zero_timeout_pollers(a)
    t = _later(b.send, b"!")
    ready = []
    assert _poll_until(lambda: ready, lambda: ready.extend(pollers[kind]()))
    t.join()
    for close in closers:
        close()


def test_zero_timeout_select_on_nothing_yields():
    ran = []
    t = _later(ran.append, 1)
    assert _poll_until(lambda: ran, lambda: select.select([], [], [], 0))
    t.join()


def test_success_does_not_yield(pair):
    """The yield is on the failure path only: a call that completes keeps running."""
    a, b = pair
    a.settimeout(0)
    b.send(b"abc")
    ran = []
    t = _later(ran.append, 1)
    assert a.recv(1) == b"a"
    assert select.select([a], [], [], 0)[0] == [a]
    assert ran == []
    assert a.recv(10) == b"bc"
    with pytest.raises(BlockingIOError):
        a.recv(10)
    assert ran == [1]
    t.join()
