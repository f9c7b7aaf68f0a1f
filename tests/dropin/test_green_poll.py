"""dill.green.select.poll keeps the C object's argument rules and its one-poll-at-a-time rule."""

from __future__ import annotations

import os

import pytest

from dill.green import select, threading

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


@pytest.mark.parametrize("timeout", [2 ** 31, 1 << 64, -(1 << 64)])
def test_timeout_beyond_a_c_int_overflows(pipe, timeout):
    p = select.poll()
    p.register(pipe[0], select.POLLIN)
    with pytest.raises(OverflowError):
        p.poll(timeout)


@pytest.mark.parametrize("timeout", [None, -1000, -1, -0.1, -1e-100])
def test_any_negative_timeout_blocks(pipe, timeout):
    r, w = pipe
    p = select.poll()
    p.register(r, select.POLLIN)
    t = threading.Thread(target=p.poll, args=(timeout,))
    t.start()
    t.join(0.05)
    assert t.is_alive()
    os.write(w, b"!")
    t.join()


def test_a_second_concurrent_poll_raises(pipe):
    r, w = pipe
    p = select.poll()
    p.register(r, select.POLLIN)
    t = threading.Thread(target=p.poll)
    t.start()
    t.join(0.02)
    with pytest.raises(RuntimeError, match="concurrent poll"):
        p.poll(0)
    os.write(w, b"!")
    t.join()
    assert p.poll(0) == [(r, select.POLLIN)]  # the flag is cleared after the wait
