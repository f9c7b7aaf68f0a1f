"""dill.green.select / dill.green.selectors, plus a smoke run of CPython's own tests."""

from __future__ import annotations

import os
import select as stdselect
import selectors as stdselectors
import subprocess
import sys
import time

import pytest

from dill import Canceled, go, hclose, msleep, now
from dill.green import select, selectors, socket


def later(ms):
    return now() + ms


def ticker(counter):
    while True:
        msleep(later(5))
        counter[0] += 1


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_select_ready_at_once(pair):
    a, b = pair
    assert select.select([a], [b], [], 0) == ([], [b], [])
    b.send(b"x")
    r, w, x = select.select([a], [], [], None)
    assert r == [a]


def test_select_waits_green(pair):
    a, b = pair
    ticks = [0]
    t = go(ticker, ticks)
    cr = go(select.select, [a.fileno()], [], [], 5)
    msleep(later(30))
    assert ticks[0] >= 2
    b.send(b"x")
    assert cr.wait() == ([a.fileno()], [], [])
    hclose(t)


def test_select_timeout(pair):
    a, b = pair
    t0 = time.monotonic()
    assert select.select([a], [], [], 0.05) == ([], [], [])
    assert 0.04 <= time.monotonic() - t0 < 1
    assert select.select([], [], [], 0.01) == ([], [], [])


def test_select_errors_as_stdlib():
    with pytest.raises(TypeError):
        select.select([], [], [], "nope")
    with pytest.raises(ValueError):
        select.select([], [], [], -1)
    with pytest.raises(TypeError):
        select.select(1, [], [])
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        select.select([r], [], [], 0)
    assert select.error is OSError


def test_select_iterators_and_duplicates(pair):
    a, b = pair
    b.send(b"x")
    r, w, x = select.select(iter([a]), (a,), [], 1)
    assert r == [a] and w == [a]


def test_cancel_in_select(pair):
    a, b = pair
    cr = go(select.select, [a], [], [])
    msleep(later(5))
    hclose(cr)
    b.send(b"ok")  # the fd works normally afterwards
    assert select.select([a], [], [], 1)[0] == [a]


def test_poll(pair):
    a, b = pair
    p = select.poll()
    p.register(a, select.POLLIN)
    assert p.poll(0) == []
    cr = go(p.poll)
    msleep(later(10))
    b.send(b"x")
    assert cr.wait() == [(a.fileno(), select.POLLIN)]
    t0 = time.monotonic()
    p.modify(a, select.POLLPRI)
    assert p.poll(30) == []
    assert time.monotonic() - t0 >= 0.025
    p.unregister(a)
    with pytest.raises(KeyError):
        p.unregister(a)
    with pytest.raises(TypeError):
        type(p)()


def test_cancel_in_poll(pair):
    a, b = pair
    p = select.poll()
    p.register(a, select.POLLIN)
    seen = []

    def poller():
        try:
            p.poll(-1)
        except Canceled:
            seen.append("canceled")
            raise
        seen.append("returned")  # pragma: no cover

    cr = go(poller)
    msleep(later(5))
    assert seen == []  # still waiting in poll
    hclose(cr)
    assert seen == ["canceled"]
    # the poll object is still usable afterwards
    b.send(b"x")
    assert p.poll(1000) == [(a.fileno(), select.POLLIN)]


@pytest.mark.skipif(not hasattr(stdselect, "epoll"), reason="no epoll")
def test_epoll(pair):
    a, b = pair
    with select.epoll() as ep:
        ep.register(a.fileno(), select.EPOLLIN)
        assert ep.poll(0) == []
        cr = go(ep.poll, 5)
        msleep(later(10))
        b.send(b"x")
        assert cr.wait() == [(a.fileno(), select.EPOLLIN)]
        a.recv(1)
        assert ep.poll(0.02) == []
        cr = go(ep.poll)
        msleep(later(5))
        hclose(cr)
    assert ep.closed


@pytest.mark.parametrize("name", ["SelectSelector", "PollSelector", "EpollSelector",
                                  "DefaultSelector"])
def test_selectors(pair, name):
    if not hasattr(selectors, name):
        pytest.skip(name)
    cls = getattr(selectors, name)
    std = getattr(stdselectors, name)
    assert issubclass(cls, stdselectors.BaseSelector)
    if name != "DefaultSelector":
        assert issubclass(cls, std)
    a, b = pair
    with cls() as sel:
        sel.register(a, selectors.EVENT_READ, "data")
        assert sel.select(0) == []
        t0 = time.monotonic()
        assert sel.select(0.03) == []
        assert time.monotonic() - t0 >= 0.025
        cr = go(sel.select)
        msleep(later(5))
        b.send(b"x")
        [(key, ev)] = cr.wait()
        assert key.fileobj is a and key.data == "data" and ev == selectors.EVENT_READ
        a.recv(1)
        cr = go(sel.select, None)
        msleep(later(5))
        hclose(cr)


def test_cancel_raises_canceled_inside(pair):
    a, b = pair
    seen = []

    def waiter():
        try:
            select.select([a], [], [])
        except Canceled:
            seen.append(True)
            raise

    cr = go(waiter)
    msleep(later(5))
    hclose(cr)
    assert seen == [True]


def test_cpython_smoke():
    """CPython's test_select and test_selectors pass under the green modules."""
    runner = os.path.join(os.path.dirname(__file__), "run_cpython_tests.py")
    r = subprocess.run([sys.executable, runner, "--modules", "test_select,test_selectors",
                        "--modes", "dill", "--jobs", "2", "--module-timeout", "50",
                        "--test-timeout", "20"],
                       capture_output=True, text=True, timeout=58)
    assert r.returncode == 0, r.stdout + r.stderr
