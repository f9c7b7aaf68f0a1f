"""A socket's fd and the hub's poller state: closing wakes waiters, GC forgets the fd."""

import gc

import pytest

import dill
from dill.net import brecv, bsend, ipc_pair


def test_close_wakes_a_coroutine_blocked_receiving():
    a, b = ipc_pair()
    cr = dill.go(brecv, b, 1, -1)
    b.close()
    with pytest.raises(dill.BadHandle):
        cr.wait(dill.now() + 2000)
    dill.hclose(cr)
    a.close()


def test_socket_dropped_without_close_does_not_poison_its_fd_number():
    a, b = ipc_pair()
    cr = dill.go(brecv, b, 1, -1)
    bsend(a, b"x")
    assert cr.wait() == b"x"
    cr.close()
    fds = {a._fd, b._fd}
    del a, b, cr
    gc.collect()
    a, b = ipc_pair()
    assert {a._fd, b._fd} & fds  # the fd numbers were reused
    cr = dill.go(brecv, b, 1, -1)
    bsend(a, b"y")
    assert cr.wait(dill.now() + 2000) == b"y"
    cr.close()
    a.close()
    b.close()
