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

from .._hub import TIMEOUT, get_hub, reason_error
from .._wait import WaitQueue
from . import threading
from ._sync import deadline_in, green_copy, hand_over, wait_in
from .thread import _mutex

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

Queue = green_copy(_std.Queue, (object,), globals())


def _name_waits(self: Any, maxsize: int = 0) -> None:
    """The stdlib's ``__init__``, then its conditions' waits named for the tools."""
    _init(self, maxsize)
    self.not_empty._waits_as = ("queue.get", self)
    self.not_full._waits_as = ("queue.put", self)
    self.all_tasks_done._waits_as = ("join", self)


_init = Queue.__init__
Queue.__init__ = _name_waits
PriorityQueue = green_copy(_std.PriorityQueue, (Queue,), globals())
LifoQueue = green_copy(_std.LifoQueue, (Queue,), globals())
Queue.__doc__ = ("Create a green queue object with a given maximum size (see "
                 "``queue.Queue``).\n\nIf maxsize is <= 0, the queue size is infinite.")


class SimpleQueue:
    """A green unbounded FIFO queue (see ``queue.SimpleQueue``)."""

    def __init__(self) -> None:
        self._queue: _deque = _deque()
        self._m = _mutex()
        self._waiters = WaitQueue()

    def put(self, item: Any, block: bool = True, timeout: Any = None) -> None:
        """Put ``item`` into the queue; never blocks (the arguments are ignored)."""
        with self._m:
            self._queue.append(item)
            hand_over(self._waiters)  # the getter woken takes it, or the next one

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
        elif timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        else:
            deadline = deadline_in(timeout)
        m = self._m
        q = self._queue
        while True:
            m.acquire()
            if q:
                item = q.popleft()
                m.release()
                return item
            if deadline == 0:
                m.release()
                raise Empty
            v = wait_in(self._waiters, m, "queue.get", self, deadline)
            if v is TIMEOUT:
                raise Empty
            if v is not True:
                raise reason_error(get_hub().current, v)

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
