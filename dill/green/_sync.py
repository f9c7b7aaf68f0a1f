"""What every green primitive shares: the timeout conversion, the wait, the hand-over.

A primitive guards its state and its ``WaitQueue`` with a real mutex, held for
a few statements in task code: never while blocked, never in a thread-safe
callback.  A waiter of another OS thread's hub is woken in its own thread and
may have given up meanwhile: ``hand_over`` records its entry first, and
``wait_in`` (the one give-up path) finds the record and keeps what it was
handed, as if it came just before the timeout.  So the callback only wakes.
"""

from __future__ import annotations

import _thread
import math
import operator
import threading
import types
from typing import Any

from .._errors import Canceled
from .._hub import TIMEOUT, RemoteWait, get_hub, now_ns, reason_error
from .._wait import WaitQueue, entry_live
from ._util import rebind

__all__ = ["deadline_in", "seconds", "wait_in", "hand_over", "green_copy", "Units"]

_get_ident = _thread.get_ident
_os_thread_count = _thread._count  # threads started by the real _thread, running
_main_ident = threading.main_thread().ident

# Entries handed something by another OS thread, until their waiter settles them.
_granted: set = set()


def seconds(timeout: Any) -> Any:
    """``timeout`` as a number, with the stdlib's TypeError for anything else."""
    return timeout if isinstance(timeout, float) else operator.index(timeout)


def deadline_in(timeout: Any) -> int:
    """The ``now()`` deadline ``timeout`` seconds from now: the one conversion.

    ``None`` (or infinity) is -1, never; ``<= 0`` is 0, try once; otherwise it
    is rounded up from nanoseconds, so that the wait lasts at least ``timeout``
    (a deadline ``d`` fires once ``now() >= d``).  NaN raises ValueError.
    Virtual inside ``dill.testing.virtual_clock`` (``now_ns``).
    """
    if timeout is None or timeout == math.inf:
        return -1
    if timeout <= 0:
        return 0
    return -(-(now_ns() + math.ceil(timeout * 1e9)) // 1_000_000)


def wait_in(q: WaitQueue, m: Any, op: str, obj: Any, deadline: int,
            uncancelable: bool = False) -> Any:
    """Wait in ``q``, guarded by the real mutex ``m`` (held; released here).

    Parks the calling task, releases ``m`` and blocks (``op`` on ``obj``, the
    wait record).  Returns ``True`` when ``hand_over`` woke it, else the
    ``Reason`` the wait ended with, its entry given up.  A canceled task gets
    ``Canceled`` at once (unless ``uncancelable``).
    """
    hub = get_hub()
    task = hub.current
    if task.canceled and not uncancelable:
        m.release()
        raise Canceled()
    q.park(task)
    entry = q[-1]
    hub.enable_threadsafe()  # another OS thread may release us
    # If one may owe the wake-up, an idle hub must sleep on its wake-up pipe
    # rather than report a deadlock it cannot see.
    token = RemoteWait(hub) if _os_thread_count() or hub.thread_id != _main_ident else None
    m.release()
    v = (hub.block_uncancelable(task, op, obj) if uncancelable
         else hub.block(task, op, obj, deadline))
    if token is not None:
        token.release()
    if v is not True:
        with m:
            q.withdraw(entry)
            if entry not in _granted:
                return v
    _granted.discard(entry)
    return True


def hand_over(q: WaitQueue) -> Any:
    """With the guarding mutex held: wake the first waiter still waiting with
    ``True`` (what it waits for is now its own); return its task, or ``None``."""
    me = _get_ident()
    while q:
        e = q[0]
        t = e[0]
        if t.hub.thread_id != me:
            # Not given up yet (wait_in settles it under the mutex, keeping this).
            if t.epoch == e[1]:
                _granted.add(e)
                break
        elif entry_live(e):
            break
        q.popleft()
        q.dead -= 1
    return q.wake_one(True)


def green_copy(cls: type, bases: tuple, namespace: dict) -> type:
    """The stdlib class ``cls`` on ``bases``, its functions seeing ``namespace``."""
    ns = {k: rebind(v, namespace) if isinstance(v, types.FunctionType) else v
          for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    ns["__module__"] = namespace["__name__"]
    return type(cls.__name__, bases, ns)


class Units:
    """Base of ``Lock``, ``RLock`` and ``Semaphore``: a released unit goes straight
    to the first waiter (FIFO, no barging); a free unit is taken even by a
    canceled task.  Subclasses have ``_m``, ``_waiters``, ``_op`` (wait-record
    name), ``_take()`` (``_m`` held: take a free unit, else False) and
    ``_give(task)`` (``_m`` held: the unit is ``task``'s; ``None``: free)."""

    __slots__ = ()
    _op = "lock"

    def _acquire(self, deadline: int, uncancelable: bool = False, op: str | None = None,
                 obj: Any = None) -> bool:
        """Take a unit, waiting until ``deadline`` for one handed over."""
        m = self._m
        m.acquire()
        if self._take():
            m.release()
            return True
        if deadline == 0:
            m.release()
            return False
        v = wait_in(self._waiters, m, op or self._op, self if obj is None else obj,
                    deadline, uncancelable)
        if v is True:
            return True
        if v is TIMEOUT:
            return False
        exc = reason_error(get_hub().current, v)
        if uncancelable:  # a signal's exception: take the unit all the same, then raise
            self._acquire(-1, True)
        raise exc

    def _put(self) -> None:
        """``_m`` held: hand one unit to a waiter, or keep it free."""
        self._give(hand_over(self._waiters))

    def __exit__(self, *exc: object) -> None:
        self.release()
