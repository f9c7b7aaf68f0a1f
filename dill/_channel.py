"""Channels: rendezvous (or buffered) hand-off of Python objects between coroutines.

A channel has two ends; what is sent on one end is received on the other.  Each
direction is a ``_Half`` with a wait slot of blocked receivers, one of blocked
senders and, for buffered channels, a deque of values.  A wait slot is
``None`` (nobody waits), the lone waiter's entry itself, or a ``WaitQueue``
once a second one parks: a coroutine parked alone costs no queue (a
``WaitQueue``, a deque, is 768 B) and its hand-off is a slot load and store.
Entries are ``dill._wait`` entries ``(task, epoch, index, value)``: ``index``
is -1 for ``chsend``/``chrecv`` and the clause index for ``choose``.  An entry
whose wait ended some other way (a timer, a cancel, another clause) is dead:
wakers skip it, and its owner only counts it (``give_up``), so nothing is ever
searched.

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
from ._wait import WaitQueue, entry_live, wake_entry

__all__ = ["CHSEND", "CHRECV", "ChannelEnd", "chmake", "chsend", "chrecv", "chdone", "choose"]

CHSEND = 1
CHRECV = 2


class _Half:
    """One direction of a channel."""

    __slots__ = ("buf", "cap", "recvq", "sendq", "done")

    def __init__(self, cap: int) -> None:
        self.buf: Any = deque() if cap else ()
        self.cap = cap
        # Wait slots (module docstring): None, a lone entry or a WaitQueue.
        self.recvq: Any = None
        self.sendq: Any = None
        self.done = False  # the sending end called chdone or one end closed

    def fail_waiters(self, why: Reason, senders: bool, receivers: bool) -> None:
        """Wake the parked senders and/or receivers with ``why`` (their slots empty)."""
        if senders and self.sendq is not None:
            _wake_all(self.sendq, why)
            self.sendq = None
        if receivers and self.recvq is not None:
            _wake_all(self.recvq, why)
            self.recvq = None


def _parked(slot: Any, e: tuple) -> Any:
    """The wait slot ``slot`` with the entry ``e`` parked last."""
    if slot is None:
        return e
    if slot.__class__ is tuple:  # a second waiter: now they need a queue
        q = WaitQueue()
        q.append(slot)
        slot = q
    slot.append(e)
    return slot


def _withdrawn(slot: Any, e: tuple) -> Any:
    """The wait slot ``slot`` once the wait of ``e`` ended some other way."""
    if slot is e:
        return None
    if slot.__class__ is WaitQueue:
        # (If a waker took our lone entry before the queue was made, this
        # counts a dead entry the queue lacks: the count is a heuristic.)
        slot.withdraw(e)
    return slot  # else a waker already took (and skipped) our lone entry


def _wake_all(slot: Any, why: Reason) -> None:
    """Wake the waiters of a non-empty wait slot with ``why``."""
    if slot.__class__ is tuple:
        wake_entry(slot, why)
    else:
        slot.wake_all(why)


def _take_receiver(h: _Half) -> tuple | None:
    """Remove and return the first live receiver parked on ``h`` (``None``: none)."""
    q = h.recvq
    if q.__class__ is tuple:
        h.recvq = None
        return q if entry_live(q) else None
    return q.pop_live() if q else None


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
    e = h.recvq
    if e is not None:
        if e.__class__ is tuple:  # _take_receiver inlined for a lone receiver: the hot hand-off
            h.recvq = None
            if not (e[0].waiting and e[0].epoch == e[1]):
                e = None
        else:
            e = e.pop_live()
        if e is not None:  # hand the value to the first live receiver
            hub.wake(e[0], value if e[2] < 0 else (e[2], value))
            return
    if len(h.buf) < h.cap:
        h.buf.append(value)
        return
    if deadline == 0:
        raise TimedOut()
    e = (task, task.epoch, -1, value)
    sq = h.sendq
    # _parked() without the call for a lone sender (as in chrecv).
    h.sendq = e if sq is None else _parked(sq, e)
    v = hub.block(task, "chsend", ch, deadline)
    if v is None:
        return
    if v is not DONE and v is not CLOSED:  # those emptied the slot
        h.sendq = _withdrawn(h.sendq, e)
    raise reason_error(task, v)


def _take_sender(hub: Hub, h: _Half) -> tuple | None:
    """Remove the first live sender parked on ``h``, wake it, return its entry."""
    q = h.sendq
    if q.__class__ is tuple:
        h.sendq = None
        e = q if entry_live(q) else None
    else:
        e = q.pop_live()
    if e is not None:
        hub.wake(e[0], None if e[2] < 0 else (e[2], None))
    return e


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
            e = _take_sender(hub, h)
            if e is not None:
                buf.append(e[3])
        return v
    if h.sendq:  # take the value of the first live sender
        e = _take_sender(hub, h)
        if e is not None:
            return e[3]
    if h.done:
        raise Done()
    if deadline == 0:
        raise TimedOut()
    e = (task, task.epoch, -1, None)
    rq = h.recvq
    # _parked() without the call for a lone receiver: the ping-pong park.
    h.recvq = e if rq is None else _parked(rq, e)
    v = hub.block(task, "chrecv", ch, deadline)
    if v.__class__ is not Reason:
        return v
    if v is not DONE and v is not CLOSED:  # those emptied the slot
        h.recvq = _withdrawn(h.recvq, e)
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
        if cl.__class__ is tuple or cl.__class__ is list:
            n = len(cl)
            if n == 2 and cl[0] == CHRECV or n == 3 and cl[0] == CHSEND:
                ch = cl[1]
                if ch.__class__ is ChannelEnd and not ch._closed and ch._hub.thread_id == tid:
                    continue
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
                    e = _take_sender(hub, h)
                    if e is not None:
                        buf.append(e[3])
                return i, v
            if h.sendq:
                e = _take_sender(hub, h)
                if e is not None:
                    return i, e[3]
            if h.done:
                raise _clause_error(Done(), i)
        else:
            h = cl[1]._out
            if h.done:
                raise _clause_error(Done(), i)
            if h.recvq is not None:
                e = _take_receiver(h)
                if e is not None:
                    hub.wake(e[0], cl[2] if e[2] < 0 else (e[2], cl[2]))
                    return i, None
            if len(h.buf) < h.cap:
                h.buf.append(cl[2])
                return i, None
        i += 1
    if deadline == 0:
        raise TimedOut()
    # Park on every clause; the first to fire wins, the others are withdrawn.
    # The common slot, empty when parked on and still ours when withdrawn, is
    # handled inline: _parked and _withdrawn are two calls per clause.
    epoch = task.epoch
    parked = []
    i = 0
    for cl in clauses:
        if cl[0] == CHRECV:
            h = cl[1]._in
            e = (task, epoch, i, None)
            q = h.recvq
            h.recvq = e if q is None else _parked(q, e)
        else:
            h = cl[1]._out
            e = (task, epoch, i, cl[2])
            q = h.sendq
            h.sendq = e if q is None else _parked(q, e)
        parked.append((h, e))
        i += 1
    v = hub.block(task, "choose", clauses, deadline)
    # The winning clause's waker took its entry (or, on DONE/CLOSED, emptied
    # that slot); withdraw every other clause's.
    index = -1 if v.__class__ is Reason else v[0]
    for h, e in parked:
        if e[2] != index:
            if clauses[e[2]][0] == CHRECV:
                q = h.recvq
                h.recvq = None if q is e else _withdrawn(q, e)
            else:
                q = h.sendq
                h.sendq = None if q is e else _withdrawn(q, e)
    if index < 0:
        raise reason_error(task, v)
    index, value = v
    if value.__class__ is Reason:
        raise _clause_error(reason_error(task, value), index)
    return v
