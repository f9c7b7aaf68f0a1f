"""A green ``queue``: ``get``/``put``/``join`` block only the calling coroutine.

Importable without patching; ``dill.patch()`` copies the names in
``__implements__`` onto the real ``queue`` module.  ``Queue``,
``LifoQueue`` and ``PriorityQueue`` are the stdlib's own code run on
``dill.green.threading`` locks and conditions, so they behave exactly like the
stdlib's (including subclass hooks ``_init``/``_qsize``/``_put``/``_get``).
``Empty``, ``Full`` (and ``ShutDown`` where the Python version has it) are the
stdlib's classes, so ``except queue.Empty`` catches both kinds of queue.

In a canceled coroutine, a ``get``/``put`` that can complete at once does;
one that would have to wait raises ``dill.Canceled``.
"""

from __future__ import annotations

import queue as _std
import types as _types
from collections import deque as _deque
from typing import Any

from .._errors import Canceled
from .._hub import TIMEOUT, get_hub, reason_error
from . import threading
from .thread import _block, _current_hub, _deadline_after, _mutex, _notify, _Waiter

__all__ = list(_std.__all__)

# What dill.patch() copies onto the real ``queue`` module.
__implements__ = ["Queue", "LifoQueue", "PriorityQueue", "SimpleQueue"]

# The stdlib module's globals (Empty, Full, ShutDown, heappush, time, ...), with
# ``threading`` resolving to the green module for the copied methods.
for _k, _v in vars(_std).items():
    if not _k.startswith("__") and _k not in globals():
        globals()[_k] = _v
threading = threading  # noqa: PLW0127 - the name the stdlib methods look up

Empty = _std.Empty
Full = _std.Full


def _green_class(cls: type, bases: tuple) -> type:
    """A copy of the stdlib class ``cls`` whose methods see this module's globals."""
    ns: dict = {}
    for k, v in cls.__dict__.items():
        if k in ("__dict__", "__weakref__"):
            continue
        if isinstance(v, _types.FunctionType):
            nf = _types.FunctionType(v.__code__, globals(), v.__name__, v.__defaults__,
                                     v.__closure__)
            nf.__kwdefaults__ = v.__kwdefaults__
            nf.__qualname__ = v.__qualname__
            nf.__doc__ = v.__doc__
            nf.__module__ = __name__
            v = nf
        ns[k] = v
    ns["__module__"] = __name__
    return type(cls.__name__, bases, ns)


Queue = _green_class(_std.Queue, (object,))
PriorityQueue = _green_class(_std.PriorityQueue, (Queue,))
LifoQueue = _green_class(_std.LifoQueue, (Queue,))
Queue.__doc__ = ("Create a green queue object with a given maximum size (see "
                 "``queue.Queue``).\n\nIf maxsize is <= 0, the queue size is infinite.")


class SimpleQueue:
    """A green unbounded FIFO queue (see ``queue.SimpleQueue``)."""

    def __init__(self) -> None:
        self._queue: _deque = _deque()
        self._m = _mutex()
        self._waiters: _deque = _deque()

    def put(self, item: Any, block: bool = True, timeout: Any = None) -> None:
        """Put ``item`` into the queue; never blocks (the arguments are ignored)."""
        with self._m:
            self._queue.append(item)
            self._wake_one()

    def _wake_one(self) -> None:
        # Mutex held.  A woken getter retries; one that gave up passes it on.
        waiters = self._waiters
        if waiters:
            cur = _current_hub()
            while waiters:
                if _notify(waiters.popleft(), True, cur, self._rewake):
                    return

    def _rewake(self) -> None:
        with self._m:
            if self._queue:
                self._wake_one()

    def put_nowait(self, item: Any) -> None:
        """Same as ``put(item)``."""
        self.put(item)

    def get(self, block: bool = True, timeout: Any = None) -> Any:
        """Remove and return an item, waiting for one if ``block``.

        Raises ``Empty`` when none came in ``timeout`` seconds (or at once when
        not blocking).
        """
        if not block:
            deadline = 0
        elif timeout is None:
            deadline = -1
        else:
            if timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            deadline = _deadline_after(timeout) if timeout > 0 else 0
        m = self._m
        q = self._queue
        hub = task = None
        while True:
            m.acquire()
            if q:
                item = q.popleft()
                if q and self._waiters:
                    self._wake_one()
                m.release()
                return item
            if deadline == 0:
                m.release()
                raise Empty
            if hub is None:
                hub = get_hub()
                task = hub.current
            if task.canceled:
                m.release()
                raise Canceled()
            w = _Waiter(task, hub)
            self._waiters.append(w)
            v = _block(hub, task, m, deadline)
            if v is True:
                continue
            with m:
                w.dead = True
                try:
                    self._waiters.remove(w)
                except ValueError:
                    pass
                if q and self._waiters:
                    self._wake_one()
            if v is TIMEOUT:
                raise Empty
            raise reason_error(task, v)

    def get_nowait(self) -> Any:
        """Same as ``get(False)``."""
        return self.get(False)

    def empty(self) -> bool:
        """True if the queue is empty."""
        return not self._queue

    def qsize(self) -> int:
        """The number of items in the queue."""
        return len(self._queue)

    __class_getitem__ = classmethod(_types.GenericAlias)


del _k, _v
