"""Channels: rendezvous (or buffered) hand-off of Python objects between coroutines.

A channel has two ends; what is sent on one end is received on the other.  Each
direction is a ``_Half`` with a ``WaitQueue`` of blocked receivers, one of
blocked senders (each made on first park) and, for buffered channels, a
deque of values.  Queue entries
are ``dill._wait`` entries ``(task, epoch, index, value)``: ``index`` is -1 for
``chsend``/``chrecv`` and the clause index for ``choose``.  An entry whose wait
ended some other way (a timer, a cancel, another clause) is dead: wakers skip
it, and its owner only counts it (``give_up``), so nothing is ever searched.

Every hand-off wakes its peer through ``Hub.wake`` (inlining it measured 1%
of a ping-pong hop here: within noise, so not worth a second copy).

Invariant: a half never has both buffered values and blocked receivers.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterator, Sequence

from ._errors import Canceled, Done, TimedOut
from ._handle import Handle, not_a
from _thread import get_ident

from ._hub import (
    CLOSED, DONE, Hub, Reason, check_deadline, get_hub, reason_error, wrong_thread,
)
from ._wait import WaitQueue

__all__ = ["CHSEND", "CHRECV", "ChannelEnd", "chmake", "chsend", "chrecv", "chdone", "choose"]

CHSEND = 1
CHRECV = 2


class _Half:
    """One direction of a channel."""

    __slots__ = ("buf", "cap", "recvq", "sendq", "done")

    def __init__(self, cap: int) -> None:
        self.buf: Any = deque() if cap else ()
        self.cap = cap
        # Made on first park: a deque costs ~770 B even empty, and most
        # channels never have a receiver (or a sender) waiting on some side.
        self.recvq: WaitQueue | None = None
        self.sendq: WaitQueue | None = None
        self.done = False  # the sending end called chdone or one end closed

    def parked_recv(self) -> WaitQueue:
        """The receivers' queue, made on first use."""
        q = self.recvq
        if q is None:
            q = self.recvq = WaitQueue()
        return q

    def parked_send(self) -> WaitQueue:
        """The senders' queue, made on first use."""
        q = self.sendq
        if q is None:
            q = self.sendq = WaitQueue()
        return q

    def fail_waiters(self, why: Reason, senders: bool, receivers: bool) -> None:
        """Wake the parked senders and/or receivers with ``why``."""
        if senders and self.sendq:
            self.sendq.wake_all(why)
        if receivers and self.recvq:
            self.recvq.wake_all(why)


class ChannelEnd(Handle):
    """One end of a channel made by ``chmake``."""

    __slots__ = ("_closed", "_hub", "_in", "_out", "__weakref__")

    def __init__(self, hub: Hub, inbound: _Half, outbound: _Half) -> None:
        self._closed = False
        self._hub = hub
        self._in = inbound
        self._out = outbound

    def send(self, value: Any, deadline: int | None = -1) -> None:
        """``chsend(self, value, deadline)``."""
        chsend(self, value, deadline)

    def recv(self, deadline: int | None = -1) -> Any:
        """``chrecv(self, deadline)``."""
        return chrecv(self, deadline)

    def done(self) -> None:
        """``chdone(self)``."""
        chdone(self)

    def __iter__(self) -> Iterator[Any]:
        """Receive values until the other side is done."""
        while True:
            try:
                yield chrecv(self)
            except Done:
                return

    def check_close(self) -> None:
        if self._hub.thread_id != get_ident():
            raise wrong_thread(self)

    def on_close(self) -> None:
        # Blocked users of this end see BadHandle; blocked users of the peer end,
        # which can never be served now, see Done.
        out, inb = self._out, self._in
        out.done = inb.done = True
        out.fail_waiters(CLOSED, senders=True, receivers=False)
        inb.fail_waiters(CLOSED, senders=False, receivers=True)
        out.fail_waiters(DONE, senders=False, receivers=True)
        inb.fail_waiters(DONE, senders=True, receivers=False)
        if inb.buf:
            inb.buf.clear()  # values sent to us that nobody can receive now

    def __repr__(self) -> str:
        return f"<dill.ChannelEnd {'closed' if self._closed else 'open'}>"


def chmake(capacity: int = 0) -> tuple[ChannelEnd, ChannelEnd]:
    """Create a channel; return its two ends.

    ``capacity`` 0 is libdill's rendezvous channel; a positive capacity buffers
    that many values per direction.
    """
    if capacity.__class__ is not int:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
    if capacity < 0:
        raise ValueError(f"capacity must be >= 0, not {capacity}")
    hub = get_hub()
    a, b = _Half(capacity), _Half(capacity)
    return ChannelEnd(hub, b, a), ChannelEnd(hub, a, b)


def chsend(ch: ChannelEnd, value: Any, deadline: int | None = -1) -> None:
    """Send ``value``; block until a receiver takes it (or the buffer has room).

    Raises ``Done`` if this end is done or the peer end is closed, ``TimedOut``
    at the deadline (the value was then not delivered), ``Canceled``.
    """
    if ch.__class__ is not ChannelEnd or ch._closed:
        raise not_a(ch, ChannelEnd)
    if deadline.__class__ is not int:
        deadline = check_deadline(deadline)
    hub = ch._hub
    if hub.thread_id != get_ident():
        raise wrong_thread(ch)
    task = hub.current
    if task.canceled:
        raise Canceled()
    h = ch._out
    if h.done:
        raise Done()
    rq = h.recvq
    while rq:
        e = rq.popleft()
        r = e[0]
        if r.waiting and r.epoch == e[1]:  # hand the value to the first live receiver
            hub.wake(r, value if e[2] < 0 else (e[2], value))
            return
        rq.dead -= 1
    if len(h.buf) < h.cap:
        h.buf.append(value)
        return
    if deadline == 0:
        raise TimedOut()
    sq = h.parked_send()
    e = (task, task.epoch, -1, value)
    sq.append(e)
    v = hub.block(task, "chsend", ch, deadline)
    if v is None:
        return
    if v is not DONE and v is not CLOSED:  # those emptied the queue
        sq.withdraw(e)
    raise reason_error(task, v)


def _take_sender(hub: Hub, sq: WaitQueue) -> tuple | None:
    """Pop the first live blocked sender, wake it, return its entry."""
    while sq:
        e = sq.popleft()
        s = e[0]
        if s.waiting and s.epoch == e[1]:
            hub.wake(s, None if e[2] < 0 else (e[2], None))
            return e
        sq.dead -= 1
    return None


def chrecv(ch: ChannelEnd, deadline: int | None = -1) -> Any:
    """Receive a value; block until a sender provides one.

    Raises ``Done`` once the other side is done and nothing is buffered,
    ``TimedOut`` at the deadline, ``Canceled``.
    """
    if ch.__class__ is not ChannelEnd or ch._closed:
        raise not_a(ch, ChannelEnd)
    if deadline.__class__ is not int:
        deadline = check_deadline(deadline)
    hub = ch._hub
    if hub.thread_id != get_ident():
        raise wrong_thread(ch)
    task = hub.current
    if task.canceled:
        raise Canceled()
    h = ch._in
    buf = h.buf
    if buf:
        v = buf.popleft()
        if h.sendq:
            e = _take_sender(hub, h.sendq)
            if e is not None:
                buf.append(e[3])
        return v
    if h.sendq:  # take the value of the first live sender
        e = _take_sender(hub, h.sendq)
        if e is not None:
            return e[3]
    if h.done:
        raise Done()
    if deadline == 0:
        raise TimedOut()
    rq = h.parked_recv()
    e = (task, task.epoch, -1, None)
    rq.append(e)
    v = hub.block(task, "chrecv", ch, deadline)
    if v.__class__ is not Reason:
        return v
    if v is not DONE and v is not CLOSED:  # those emptied the queue
        rq.withdraw(e)
    raise reason_error(task, v)


def chdone(ch: ChannelEnd) -> None:
    """Close this end's outbound direction: a broadcast "no more values".

    Blocked and later senders on this end raise ``Done``; receivers on the
    other end drain what is buffered, then every receive raises ``Done``.
    A second ``chdone`` raises ``Done``.  Never blocks.
    """
    if ch.__class__ is not ChannelEnd or ch._closed:
        raise not_a(ch, ChannelEnd)
    if ch._hub.thread_id != get_ident():
        raise wrong_thread(ch)
    h = ch._out
    if h.done:
        raise Done("this end is already done")
    h.done = True
    h.fail_waiters(DONE, senders=True, receivers=True)


def _clause_error(exc: BaseException, index: int) -> BaseException:
    exc.index = index  # type: ignore[attr-defined]
    return exc


def _bad_clause(i: int, cl: Any) -> BaseException:
    """The error for clause ``i``, which failed the fast validity check."""
    if not isinstance(cl, (tuple, list)) or not cl:
        return TypeError(f"clause {i} must be (CHRECV, ch) or (CHSEND, ch, value), not {cl!r}")
    op = cl[0]
    if op not in (CHRECV, CHSEND):
        return ValueError(f"clause {i}: unknown operation {op!r} (use CHSEND or CHRECV)")
    if len(cl) != (2 if op == CHRECV else 3):
        return TypeError(f"clause {i}: (CHRECV, ch) or (CHSEND, ch, value), not {cl!r}")
    ch = cl[1]
    if ch.__class__ is not ChannelEnd or ch._closed:
        return _clause_error(not_a(ch, ChannelEnd), i)
    return _clause_error(wrong_thread(ch), i)


def choose(clauses: Sequence[Any], deadline: int | None = -1) -> tuple[int, Any]:
    """Perform exactly one of several channel operations; return ``(index, value)``.

    Clauses are ``(CHRECV, ch)`` and ``(CHSEND, ch, value)``.  The first clause
    in list order that can proceed at once wins; otherwise the first that
    becomes possible.  ``value`` is what was received (``None`` for a send).  A
    clause whose channel is done raises ``Done`` with ``.index`` set.  Every
    clause is validated before any is performed.
    """
    if deadline.__class__ is not int:
        deadline = check_deadline(deadline)
    if clauses.__class__ is not list and clauses.__class__ is not tuple:
        try:
            clauses = list(clauses)
        except TypeError:
            raise TypeError(f"clauses must be a sequence, not {type(clauses).__name__}") from None
    hub = get_hub()
    tid = hub.thread_id
    # Validate every clause first (hot: no allocation, one pass).
    for cl in clauses:
        if (cl.__class__ is not tuple and cl.__class__ is not list) or len(cl) < 2:
            raise _bad_clause(clauses.index(cl), cl)
        op = cl[0]
        ch = cl[1]
        if ((op != CHRECV or len(cl) != 2) and (op != CHSEND or len(cl) != 3)) \
                or ch.__class__ is not ChannelEnd or ch._closed or ch._hub.thread_id != tid:
            raise _bad_clause(clauses.index(cl), cl)
    if tid != get_ident():
        raise wrong_thread(clauses[0][1]) if clauses else RuntimeError("wrong thread")
    task = hub.current
    if task.canceled:
        raise Canceled()
    # The first clause that can proceed at once wins.
    i = 0
    for cl in clauses:
        if cl[0] == CHRECV:
            h = cl[1]._in
            buf = h.buf
            if buf:
                v = buf.popleft()
                if h.sendq:
                    e = _take_sender(hub, h.sendq)
                    if e is not None:
                        buf.append(e[3])
                return i, v
            e = _take_sender(hub, h.sendq) if h.sendq else None
            if e is not None:
                return i, e[3]
            if h.done:
                raise _clause_error(Done(), i)
        else:
            h = cl[1]._out
            if h.done:
                raise _clause_error(Done(), i)
            rq = h.recvq
            while rq:
                e = rq.popleft()
                r = e[0]
                if r.waiting and r.epoch == e[1]:
                    hub.wake(r, cl[2] if e[2] < 0 else (e[2], cl[2]))
                    return i, None
                rq.dead -= 1
            if len(h.buf) < h.cap:
                h.buf.append(cl[2])
                return i, None
        i += 1
    if deadline == 0:
        raise TimedOut()
    # Park on every clause; the first to fire wins, the others are withdrawn.
    epoch = task.epoch
    parked = []
    i = 0
    for cl in clauses:
        if cl[0] == CHRECV:
            q = cl[1]._in.parked_recv()
            e = (task, epoch, i, None)
        else:
            q = cl[1]._out.parked_send()
            e = (task, epoch, i, cl[2])
        q.append(e)
        parked.append((q, e))
        i += 1
    v = hub.block(task, "choose", clauses, deadline)
    if v.__class__ is Reason:
        for q, e in parked:
            q.withdraw(e)
        raise reason_error(task, v)
    index, value = v
    # The winning clause's waker popped its entry (or, on DONE/CLOSED, emptied
    # that queue); withdraw every other clause's.
    won = parked[index][0]
    for q, e in parked:
        if q is not won:
            q.withdraw(e)
    if value.__class__ is Reason:
        raise _clause_error(reason_error(task, value), index)
    return v
