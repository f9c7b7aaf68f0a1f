"""A green ``threading``: threads are dill coroutines, primitives block one coroutine.

Importable without patching; ``dill.patch()`` copies the names in
``__implements__`` onto the real ``threading`` module.  Everything behaves like
the stdlib, except:

* A ``Thread`` is a coroutine of the hub (OS thread) that starts it: ``start()``
  runs it at once until it first blocks; it is not tied to the lifetime of the
  coroutine that started it.  At interpreter exit non-daemon green threads are
  waited for (after the ``threading._register_atexit`` callbacks); the others
  keep running through the atexit handlers registered after ``dill`` was
  imported, then are closed: canceled, their ``finally`` blocks run, and
  ``Canceled`` is not reported by ``excepthook``.
* Blocking calls block only the calling coroutine; in a canceled coroutine a
  call that would have to wait raises ``dill.Canceled``, one that can complete
  at once does.  ``Condition.wait`` re-acquires its lock before raising it.
* ``local`` and ``get_ident()`` are per coroutine (the OS thread's ident in its
  root code); ``get_native_id()`` is the OS thread's.
* ``current_thread()`` in a coroutine no ``Thread`` started returns a fresh
  dummy each time; in a thread of ``_thread.start_new_thread``, one dummy,
  registered in ``threading._active`` as the stdlib does for a foreign thread.
* A ``KeyboardInterrupt`` raised in a green thread goes to the OS thread's root
  code, as a real main thread would get it; ``SystemExit`` goes to
  ``excepthook`` (whose default ignores it), as in the stdlib.
* ``settrace``/``setprofile`` apply to new OS threads only, as in the stdlib.
"""

from __future__ import annotations

import threading as _std
from typing import Any
from weakref import WeakSet as _WeakSet

from .._errors import Canceled
from .._hub import TIMEOUT, get_hub, reason_error
from .._wait import WaitQueue
from ._sync import Units, deadline_in, green_copy, hand_over, wait_in
from ._util import LiveNamespace, rebind
from .thread import (
    LOCK_IS_A_TYPE, LockType, RLock, _local, _mutex, allocate_lock as _allocate_lock, close_threads,
    get_ident, get_native_id, green_threads, raise_pending, spawn_thread,
)

# The stdlib's names (a newer Python's too), where this module has none.
__all__ = [n for n in _std.__all__]
for _name in __all__:
    globals().setdefault(_name, getattr(_std, _name))
del _name

# Originals of the real module, captured before anything can patch them.
_orig_current_thread = _std.current_thread
_orig_enumerate = _std.enumerate
# What Thread.start calls, which a test may replace (3.13: _start_joinable_thread).
_STARTER = "_start_new_thread" if hasattr(_std, "_start_new_thread") else "_start_joinable_thread"
_orig_starter = getattr(_std, _STARTER)
_StdThread = _std.Thread
_newname = _std._newname
_std_active = _std._active
_std_active_limbo_lock = _std._active_limbo_lock
# Python < 3.13: threading._shutdown waits on the "tstate" locks of non-daemon
# threads in threading._shutdown_locks (looked up each time: a fork replaces it).
_HAVE_SHUTDOWN_LOCKS = hasattr(_std, "_shutdown_locks")

Lock = LockType if LOCK_IS_A_TYPE else _allocate_lock
local = _local

# What dill.patch() copies onto the real ``threading`` module.
__implements__ = [
    "Thread", "Timer", "Lock", "RLock", "_CRLock", "Condition", "Semaphore",
    "BoundedSemaphore", "Event", "Barrier", "local", "current_thread", "currentThread",
    "enumerate", "active_count", "activeCount", "main_thread", "get_ident",
    "_DummyThread", "_allocate_lock",
]
# (Not _start_new_thread: the stdlib's Thread, dill's workers', starts OS threads.)

_CRLock = RLock


def _repr(obj: Any, state: str) -> str:
    """The stdlib's repr, naming ``threading`` for this module's classes."""
    cls = type(obj)
    mod = "threading" if cls.__module__ == __name__ else cls.__module__
    return f"<{mod}.{cls.__qualname__} at {id(obj):#x}: {state}>"


# -------------------------------------------------------------- Condition


class Condition(_std.Condition):
    """A green condition variable: ``wait`` and ``notify`` are dill's;
    ``wait_for``, ``notify_all``, ``notifyAll`` and ``with`` the stdlib's own."""

    def __init__(self, lock: Any = None) -> None:
        super().__init__(RLock() if lock is None else lock)
        if isinstance(lock, LockType):
            self._is_owned = lock.locked  # what the acquire(False) probe finds, cheaper
        self._m = _mutex()
        self._waiters = WaitQueue()
        self._waits_as = ("condition", self)  # the wait record (a queue names its own)

    def wait(self, timeout: Any = None) -> bool:
        """Release the lock, wait for a notify (True) or the timeout (False),
        re-acquire the lock, even in a coroutine canceled meanwhile."""
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        deadline = deadline_in(timeout)
        if deadline == 0:
            # Non-blocking: give the lock up and take it back, like the stdlib.
            self._acquire_restore(self._release_save())
            return False
        task = get_hub().current
        if task.canceled:
            raise Canceled()
        m = self._m
        m.acquire()  # held until parked: a notify cannot slip in between
        try:
            saved = self._release_save()
        except BaseException:
            m.release()
            raise
        v = wait_in(self._waiters, m, *self._waits_as, deadline)
        self._acquire_restore(saved)
        if v is True or v is TIMEOUT:
            return v is True
        raise reason_error(task, v)

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` coroutines waiting on the condition."""
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        with self._m:
            while n > 0 and hand_over(self._waiters) is not None:
                n -= 1

    def _at_fork_reinit(self) -> None:
        super()._at_fork_reinit()
        self._m = _mutex()


# -------------------------------------------------------------- Semaphore


class Semaphore(Units):
    """A green semaphore (see ``threading.Semaphore``); releases are FIFO hand-overs."""

    __slots__ = ("_m", "_value", "_waiters", "__weakref__")
    _op = "semaphore"

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._m = _mutex()
        self._value = value
        self._waiters = WaitQueue()

    def __repr__(self) -> str:
        return _repr(self, f"value={self._value}")

    def acquire(self, blocking: Any = True, timeout: Any = None) -> bool:
        """Take one unit; see ``threading.Semaphore.acquire``."""
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        return self._acquire(deadline_in(timeout) if blocking else 0)

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        """Give ``n`` units back, to waiters first."""
        if n < 1:
            raise ValueError("n must be one or more")
        with self._m:
            self._check_release(n)
            for _ in range(n):
                self._put()

    def _check_release(self, n: int) -> None:
        pass

    def _take(self) -> bool:
        if self._value > 0:
            self._value -= 1
            return True
        return False

    def _give(self, task: Any) -> None:
        if task is None:
            self._value += 1


class BoundedSemaphore(Semaphore):
    """A semaphore that raises ValueError when released above its initial value."""

    __slots__ = ("_initial_value",)

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    def __repr__(self) -> str:
        return _repr(self, f"value={self._value}/{self._initial_value}")

    def _check_release(self, n: int) -> None:
        if self._value + n > self._initial_value:
            raise ValueError("Semaphore released too many times")


# ------------------------------------------------------------------ Event


class Event:
    """A green event flag (see ``threading.Event``), with its own wait queue
    rather than the stdlib's ``Condition``: a set/wait costs half as much."""

    def __init__(self) -> None:
        self._m = _mutex()
        self._flag = False
        self._waiters = WaitQueue()

    def __repr__(self) -> str:
        return _repr(self, "set" if self._flag else "unset")

    def _at_fork_reinit(self) -> None:
        self._m = _mutex()
        self._waiters = WaitQueue()

    def is_set(self) -> bool:
        """True once ``set()`` was called (and not cleared)."""
        return self._flag

    isSet = _std.Event.isSet

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        with self._m:
            self._flag = True
            if self._waiters:
                self._waiters.wake_all(True)

    def clear(self) -> None:
        """Reset the flag."""
        self._flag = False

    def wait(self, timeout: Any = None) -> bool:
        """Block until the flag is set or the timeout passes; return the flag."""
        if self._flag:
            return True
        deadline = deadline_in(timeout)
        m = self._m
        m.acquire()
        if self._flag or deadline == 0:
            m.release()
            return self._flag
        v = wait_in(self._waiters, m, "event", self, deadline)
        if v is True or v is TIMEOUT:
            return self._flag or v is True
        raise reason_error(get_hub().current, v)


# ---------------------------------------------------------------- Barrier


class Barrier(_std.Barrier):
    """A green barrier (see ``threading.Barrier``).

    A party canceled while it waits breaks the barrier (the others get
    ``BrokenBarrierError``) and raises ``Canceled``.
    """

    def __init__(self, parties: int, action: Any = None, timeout: Any = None) -> None:
        super().__init__(parties, action, timeout)
        self._cond = Condition(Lock())

    def __repr__(self) -> str:
        return _repr(self, "broken" if self.broken
                     else f"waiters={self.n_waiting}/{self.parties}")

    def _wait(self, timeout: Any) -> None:
        try:
            super()._wait(timeout)
        except Canceled:
            self._break()
            raise


# ----------------------------------------------------------------- Thread


class Thread:
    """A green thread: a coroutine of the hub that starts it, with the stdlib's
    interface (``__init__``, ``run``, the properties and deprecated accessors
    are the stdlib's own); ``join`` blocks only the calling coroutine."""

    _initialized = False
    run = _StdThread.run
    name = _StdThread.name
    ident = _StdThread.ident
    native_id = _StdThread.native_id
    daemon = _StdThread.daemon
    isDaemon = _StdThread.isDaemon
    setDaemon = _StdThread.setDaemon
    getName = _StdThread.getName
    setName = _StdThread.setName

    def __init__(self, group: Any = None, target: Any = None, name: Any = None,
                 args: Any = (), kwargs: Any = None, *, daemon: Any = None) -> None:
        if not isinstance(self, Thread):
            # The stdlib's own subclasses (``_MainThread``, made again after a
            # fork) call the patched ``threading.Thread.__init__``.
            _StdThread.__init__(self, group, target, name, args, kwargs, daemon=daemon)
            return
        _std_thread_init(self, group, target, name, args, kwargs, daemon=daemon)
        self._is_stopped = False
        self._hub: Any = None
        # Held while the thread runs (the stdlib's name): join() waits on it.
        self._tstate_lock: Any = None

    def __repr__(self) -> str:
        assert self._initialized, "Thread.__init__() was not called"
        self.is_alive()  # sets _is_stopped if the thread has ended
        status = "initial"
        if self._started.is_set():
            status = "started"
        if self._is_stopped:
            status = "stopped"
        if self._daemonic:
            status += " daemon"
        if self._ident is not None:
            status += " %s" % self._ident
        return "<%s(%s, %s)>" % (self.__class__.__name__, self._name, status)

    def start(self) -> None:
        """Start the thread: ``run()`` becomes a coroutine that runs at once."""
        if not self._initialized:
            raise RuntimeError("thread.__init__() not called")
        if self._started.is_set():
            raise RuntimeError("threads can only be started once")
        self._started.set()
        self._hub = get_hub()
        lock = self._tstate_lock = _allocate_lock()
        lock.acquire()
        self._shutdown_lock(lock, True)
        starter = getattr(_std, _STARTER)
        try:
            (spawn_thread if starter is _orig_starter else starter)(self._bootstrap, ())
        except BaseException:
            self._started.clear()
            self._tstate_lock = None
            self._shutdown_lock(lock, False)
            raise
        raise_pending()

    def _shutdown_lock(self, lock: Any, add: bool) -> None:
        """Python < 3.13: (un)list a non-daemon thread's lock for ``threading._shutdown``."""
        if not self._daemonic and _HAVE_SHUTDOWN_LOCKS:
            with _std._shutdown_locks_lock:
                (_std._shutdown_locks.add if add else _std._shutdown_locks.discard)(lock)

    def _bootstrap(self) -> None:
        ident = self._ident = get_ident()
        self._native_id = get_native_id()
        green_threads[ident] = self
        lock = self._tstate_lock
        try:
            try:
                self.run()
            except Canceled:
                pass
            except KeyboardInterrupt:
                raise  # a signal's exception: the hub hands it to the root
            except BaseException:
                self._invoke_excepthook(self)  # SystemExit too; the default hook ignores it
        finally:
            self._shutdown_lock(lock, False)
            lock.release()

    def _stop(self) -> None:
        self._is_stopped = True
        self._tstate_lock = None

    def _reset_internal_locks(self, is_alive: bool) -> None:
        """After a fork (``threading._after_fork``): nothing to reset."""

    def _wait_for_tstate_lock(self, block: bool = True, timeout: Any = -1) -> None:
        """Wait (or look, ``block=False``) for the end of ``run()``; mark it stopped."""
        lock = self._tstate_lock
        if lock is None:
            return  # already stopped
        deadline = deadline_in(None if timeout == -1 else timeout) if block else 0
        if lock._acquire(deadline, op="join", obj=self):
            lock.release()
            self._stop()

    def join(self, timeout: Any = None) -> None:
        """Wait until the thread ends, or ``timeout`` seconds (None: forever)."""
        if not self._initialized:
            raise RuntimeError("Thread.__init__() not called")
        if not self._started.is_set():
            raise RuntimeError("cannot join thread before it is started")
        if self._ident is not None and self._ident == get_ident():
            raise RuntimeError("cannot join current thread")
        self._wait_for_tstate_lock(timeout=-1 if timeout is None else max(timeout, 0))
        raise_pending()

    def is_alive(self) -> bool:
        """True from ``start()`` until ``run()`` ends."""
        assert self._initialized, "Thread.__init__() not called"
        if self._is_stopped or not self._started.is_set():
            return False
        self._wait_for_tstate_lock(False)
        return not self._is_stopped



class _DummyThread(Thread):
    """``current_thread()`` in a coroutine no ``Thread`` started (registered in
    ``threading._active`` for a bare ``start_new_thread``'s or an unknown OS thread)."""

    def __init__(self, ident: Any = None, register: bool = True) -> None:
        super().__init__(name=_newname("Dummy-%d"), daemon=True)
        self._started.set()
        self._native_id = get_native_id()
        self._ident = _std.get_ident() if ident is None else ident
        if register:
            with _std_active_limbo_lock:
                _std_active[self._ident] = self

    def is_alive(self) -> bool:
        if self._started.is_set():
            return True
        raise RuntimeError("thread is not alive")

    def join(self, timeout: Any = None) -> None:
        raise RuntimeError("cannot join a dummy thread")


# The stdlib's own, with this module's Thread and Event.
Timer = green_copy(_std.Timer, (Thread,), globals())
# The stdlib's, calling ``threading.excepthook`` if it was set, else ours.
_make_invoke_excepthook = rebind(_std._make_invoke_excepthook, LiveNamespace(_std, globals()))


def _invoke_excepthook(thread: Thread) -> None:
    """Report what ``thread`` raised (an invoker made then, not for each thread)."""
    _make_invoke_excepthook()(thread)


# ------------------------------------------------------------- functions


def current_thread() -> Any:
    """The ``Thread`` running the calling coroutine (the OS thread's in root code)."""
    task = get_hub().current
    if task is task.hub.root:
        return _orig_current_thread()
    ident = id(task)
    t = green_threads.get(ident)
    if t is not None:
        return t
    if ident in green_threads:
        # A bare start_new_thread's: one dummy, as the stdlib makes for a foreign thread.
        t = _std_active.get(ident)
        return t if isinstance(t, _DummyThread) else _DummyThread(ident)
    return _DummyThread(ident, register=False)  # a plain coroutine: a fresh one each time


currentThread = rebind(_std.currentThread, globals())


def enumerate() -> list:
    """Every live OS thread known to ``threading`` plus every running green thread."""
    return _orig_enumerate() + [t for t in green_threads.values() if t is not None]


def active_count() -> int:
    """``len(enumerate())``."""
    return len(enumerate())


activeCount = rebind(_std.activeCount, globals())


def _at_exit() -> None:
    """At exit (``threading._shutdown``): join this hub's non-daemon threads.

    The daemon threads keep running, as the stdlib's do, until the atexit
    handlers have run (``close_threads``): one of those may still need them
    (multiprocessing's joins a Queue's feeder thread to flush what was put;
    its forked children, on 3.13, call ``threading._shutdown`` first).
    """
    if _HAVE_SHUTDOWN_LOCKS:  # _at_exit joins them: out of threading._shutdown's list
        with _std._shutdown_locks_lock:
            _std._shutdown_locks.difference_update(
                [x for x in _std._shutdown_locks if isinstance(x, LockType)])
    hub = get_hub()
    if hub.current.canceled:
        return
    while True:
        waiting = [t for t in list(green_threads.values()) if t is not None
                   and not t._daemonic and t._hub is hub and not t._is_stopped]
        if not waiting:
            break
        for t in waiting:
            t.join()


# The stdlib's Thread.__init__ on a snapshot of its names (it runs for every thread),
# ours among them; not in threading._dangling (CPython's test cleanup waits on it).
_std_thread_init = rebind(_StdThread.__init__, {
    **vars(_std), **globals(), "_make_invoke_excepthook": lambda: _invoke_excepthook,
    "_dangling": _WeakSet()})

import atexit as _atexit  # noqa: E402

# The daemon threads left are canceled (their finally blocks run) after the
# atexit handlers registered after this import, which run first; after _at_exit
# too (atexit comes after threading._shutdown).  A forked multiprocessing child
# clears the atexit handlers: its daemon threads just end, as real ones do.
_atexit.register(close_threads)
try:
    _std._register_atexit(_at_exit)
except (AttributeError, RuntimeError):  # pragma: no cover - at shutdown already
    _atexit.register(_at_exit)
