"""Handles: close semantics, `with`, subclassing (the guide's tcp_connection)."""

import pytest

import dill
from dill import Canceled, Handle, coroutine, go, hclose, msleep, now


def test_every_runtime_object_is_a_handle():
    a, b = dill.chmake()
    cr = go(lambda: None)
    bund = dill.bundle()
    for h in (a, b, cr, bund):
        assert isinstance(h, Handle)
        assert not h.closed
        with h as same:
            assert same is h
        assert h.closed
        h.close()  # twice: no-op
        hclose(h)  # and via hclose


def test_close_method_equals_hclose():
    cr = go(msleep, -1)
    cr.close()  # cancels and waits, like hclose
    assert cr.closed and cr.finished
    a, b = dill.chmake()
    a.close()
    with pytest.raises(dill.BadHandle):
        dill.chsend(a, 1, 0)
    with pytest.raises(dill.Done):
        dill.chsend(b, 1, 0)
    b.close()


class Counter(Handle):
    """A minimal user handle (libdill tests/handle.c: hmake/hclose)."""

    def __init__(self):
        self.status = 1
        self.closes = 0

    def on_close(self):
        self.status = 2
        self.closes += 1


def test_subclass_on_close_runs_exactly_once():
    h = Counter()
    assert h.status == 1 and not h.closed
    hclose(h)
    assert h.status == 2 and h.closed
    hclose(h)
    h.close()
    with h:
        pass
    assert h.closes == 1


def test_subclass_check_raises_badhandle_after_close():
    class Thing(Handle):
        def use(self):
            self._check()
            return "used"

    t = Thing()
    assert t.use() == "used"
    t.close()
    with pytest.raises(dill.BadHandle):
        t.use()


def test_subclass_with_slots():
    class Slotted(Handle):
        __slots__ = ("_closed", "x")

        def __init__(self):
            self._closed = False
            self.x = 1

    s = Slotted()
    hclose(s)
    assert s.closed


def test_subclass_is_not_accepted_as_channel():
    h = Counter()
    with pytest.raises(dill.NotSupported):
        dill.chsend(h, 1, 0)
    with pytest.raises(dill.NotSupported):
        dill.bundle_wait(h)
    h.close()
    with pytest.raises(dill.BadHandle):
        dill.chrecv(h, 0)


# ----------------------------------------- the guide's asynchronous object

class TcpConnection(Handle):
    """The guide's tcp_connection: an object owning a sender and a receiver."""

    def __init__(self, log):
        self.log = log
        self.outbox, self._out_peer = dill.chmake()
        self.inbox, self._in_peer = dill.chmake()
        self.sender = go(self._tcp_sender())
        self.receiver = go(self._tcp_receiver())

    @coroutine
    def _tcp_sender(self):
        try:
            for msg in self._out_peer:
                self.log.append(("sent", msg))
        except Canceled:
            self.log.append("sender stopped")
            raise

    @coroutine
    def _tcp_receiver(self):
        try:
            n = 0
            while True:
                msleep(now() + 2)
                n += 1
                dill.chsend(self._in_peer, n)
        except Canceled:
            self.log.append("receiver stopped")
            raise

    def send(self, msg):
        self._check()
        dill.chsend(self.outbox, msg)

    def recv(self):
        self._check()
        return dill.chrecv(self.inbox)

    def on_close(self):
        hclose(self.sender)
        hclose(self.receiver)
        for h in (self.outbox, self._out_peer, self.inbox, self._in_peer):
            hclose(h)


def test_tcp_connection_owns_two_coroutines_closed_with_with():
    log = []
    with TcpConnection(log) as conn:
        conn.send("hello")
        assert conn.recv() == 1
        assert conn.recv() == 2
    assert conn.closed
    assert conn.sender.closed and conn.receiver.closed
    assert ("sent", "hello") in log
    assert log[-2:] == ["sender stopped", "receiver stopped"]
    n = len(log)
    msleep(now() + 5)
    assert len(log) == n  # no leftover coroutine runs after close
    with pytest.raises(dill.BadHandle):
        conn.send("late")


def test_tcp_connection_closed_inside_a_coroutine_tree():
    # main -> foo -> (object owning two coroutines): closing foo closes all
    log = []

    @coroutine
    def foo():
        with TcpConnection(log) as conn:
            conn.send("x")
            msleep(-1)

    cr = go(foo())
    msleep(now() + 5)
    hclose(cr)
    assert "sender stopped" in log and "receiver stopped" in log
