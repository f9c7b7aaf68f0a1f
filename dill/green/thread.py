"""A green ``_thread``: locks and threads that block only the calling coroutine.

Importable without patching.  ``dill.patch()`` copies the names listed in
``__implements__`` onto the real ``_thread`` module.

* ``start_new_thread(fn, args)`` launches ``fn`` as a dill coroutine in the
  calling OS thread's hub (like a thread started with ``_thread``, nobody waits
  for it at exit: it is canceled then).  It is how every green thread starts,
  ``threading.Thread``'s too, and ``green_threads`` is their one registry.
* ``get_ident()`` is per coroutine: the OS thread's ident in its root code,
  a unique number in each coroutine.
* ``LockType``/``allocate_lock()`` and ``RLock`` block only the calling
  coroutine.  An acquire that can succeed at once succeeds even in a canceled
  coroutine; one that would have to wait raises ``dill.Canceled`` there.
  Timeouts are the stdlib's (seconds, ``-1``: forever, ``0``/non-blocking: try
  once).  ``_owner`` is the task holding the lock (a ``Lock``'s last acquirer).
* ``_local`` (``threading.local``) is per coroutine; a green thread's values
  die with it.

The primitives are safe to share between OS threads (a waiter in another
thread's hub is woken through ``call_threadsafe``), but their intended use is
coordinating the coroutines of one OS thread, as in a patched process.
"""

from __future__ import annotations

import _thread as _real
import functools as _functools
from contextvars import Context as _Context
from contextvars import ContextVar as _ContextVar
from typing import Any

from greenlet import getcurrent as _getcurrent

from .._coroutine import Bundle
from .._errors import Canceled
from .._hub import INTERRUPT, get_hub, reason_error, report_unraisable
from .._hub import _local as _hub_local
from .._wait import WaitQueue
from ._sync import Units, deadline_in, seconds

__all__ = [
    "LockType", "RLock", "allocate_lock", "allocate", "start_new_thread", "start_new",
    "get_ident", "get_native_id", "stack_size", "TIMEOUT_MAX", "error", "exit",
    "exit_thread", "interrupt_main",
]

# What dill.patch() copies onto the real ``_thread`` module.
__implements__ = [
    "LockType", "RLock", "allocate_lock", "allocate", "start_new_thread", "start_new",
    "get_ident", "_local", "_count",
]

# Originals, captured before anything can patch them.
_mutex = _real.allocate_lock
_real_get_ident = _real.get_ident

TIMEOUT_MAX = _real.TIMEOUT_MAX
error = _real.error
exit = _real.exit
exit_thread = _real.exit_thread
interrupt_main = _real.interrupt_main
get_native_id = _real.get_native_id
stack_size = _real.stack_size


def _me() -> Any:
    return get_hub().current


def _lock_deadline(blocking: Any, timeout: Any) -> int:
    """Deadline for ``Lock.acquire(blocking, timeout)``, with the stdlib's errors."""
    if blocking is True and timeout.__class__ is int and timeout == -1:
        return -1
    timeout = seconds(timeout)
    if not blocking:
        if timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0
    if timeout == -1:
        return -1
    if timeout < 0:
        raise ValueError("timeout value must be positive")
    if timeout > TIMEOUT_MAX:
        raise OverflowError("timeout value is too large")
    return deadline_in(timeout)


# ------------------------------------------------------------------ locks


class _BuiltinFunction(_functools.partial):
    """A function that, like a builtin, does not bind as a method (``class T:
    lock_type = _thread.allocate_lock``, then ``self.lock_type()``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<built-in function {self.__name__}>"


class _Lock(Units):
    """What ``LockType`` and ``RLock`` share; ``_owner`` is the task holding it."""

    __slots__ = ("_m", "_owner", "_waiters", "__weakref__")

    def _init(self) -> None:
        self._m = _mutex()
        self._owner = None
        self._waiters = WaitQueue()

    def acquire(self, blocking: Any = True, timeout: Any = -1) -> bool:
        """Acquire the lock (an ``RLock`` again by its owner); see ``threading.Lock``."""
        return self._acquire(_lock_deadline(blocking, timeout))

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.release()

    def locked(self) -> bool:
        """True if the lock is held."""
        return self._owner is not None

    # Condition's protocol: it takes the lock back even in a canceled coroutine.
    def _acquire_restore(self, state: Any) -> None:
        self._acquire(-1, True)
        if state is not None:
            self._count, self._owner = state


class LockType(_Lock):
    """A green ``_thread.lock``: ``acquire`` blocks only the calling coroutine.

    Made by ``allocate_lock()``; like the stdlib's, the type itself cannot be
    instantiated.  ``_owner`` is its last acquirer.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is LockType:
            raise TypeError(f"cannot create '{cls.__module__}.{cls.__name__}' instances")
        return object.__new__(cls)

    def release(self) -> None:
        """Release the lock (from any coroutine); hands it to the first waiter."""
        with self._m:
            if self._owner is None:
                raise RuntimeError("release unlocked lock")
            self._put()

    def _take(self) -> bool:
        if self._owner is None:
            self._owner = _me()
            return True
        return False

    def _give(self, task: Any) -> None:
        self._owner = task

    _release_save = release
    _at_fork_reinit = _Lock._init
    acquire_lock = _Lock.acquire
    release_lock = release
    locked_lock = _Lock.locked

    def __repr__(self) -> str:
        state = "locked" if self._owner is not None else "unlocked"
        return f"<{state} {type(self).__module__}.{type(self).__qualname__} object at {id(self):#x}>"


_object_new = object.__new__


def allocate_lock() -> LockType:
    """A new green lock."""
    self = _object_new(LockType)
    self._init()
    return self


allocate_lock = _functools.update_wrapper(_BuiltinFunction(allocate_lock), allocate_lock)
allocate = allocate_lock


class RLock(_Lock):
    """A green reentrant lock, owned by a coroutine."""

    __slots__ = ("_count",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._init()
        self._count = 0

    def release(self) -> None:
        """Release once; the lock is free when the count drops to zero."""
        self._unwind(False)

    def _unwind(self, fully: bool) -> tuple:
        """Release once (or ``fully``); return the state ``_acquire_restore`` restores."""
        with self._m:
            me = _me()
            if self._owner is not me:
                raise RuntimeError("cannot release un-acquired lock")
            state = (self._count, me)
            self._count = 0 if fully else self._count - 1
            if not self._count:
                self._put()
            return state

    def _take(self) -> bool:
        me = _me()
        if self._owner is None:
            self._owner = me
            self._count = 1
            return True
        if self._owner is me:
            self._count += 1
            return True
        return False

    def _give(self, task: Any) -> None:
        self._owner = task
        self._count = 0 if task is None else 1

    def _is_owned(self) -> bool:
        return self._owner is _me()

    def _release_save(self) -> tuple:
        return self._unwind(True)

    def _recursion_count(self) -> int:
        return self._count if self._owner is _me() else 0

    def _at_fork_reinit(self) -> None:
        self.__init__()

    def __repr__(self) -> str:
        owner = self._owner
        return (f"<{'locked' if owner is not None else 'unlocked'} "
                f"{type(self).__module__}.{type(self).__qualname__} object "
                f"owner={id(owner) if owner is not None else 0} count={self._count} "
                f"at {id(self):#x}>")


# ---------------------------------------------------------------- threads


def get_ident() -> int:
    """Per-coroutine ident: the OS thread's ident in root code, else unique."""
    try:
        hub = _hub_local.hub
    except AttributeError:
        return _real_get_ident()
    task = hub.current
    if task is hub.root:
        return hub.thread_id
    return id(task)


# The one registry of green threads, while they run: ident -> their
# ``threading.Thread`` (``None`` for a thread of a bare ``start_new_thread``).
green_threads: dict = {}
# Per OS thread: the bundle its green threads run in (closed at exit).
_os_local = _real._local()


def thread_bundle() -> Bundle:
    """The calling OS thread's bundle of green threads (made on first use)."""
    b = getattr(_os_local, "bundle", None)
    if b is None:
        b = _os_local.bundle = Bundle()
    return b


def close_threads() -> None:
    """Cancel the green threads still running in this OS thread (at exit)."""
    b = getattr(_os_local, "bundle", None)
    if b is not None:
        _os_local.bundle = None
        b.close()


def raise_pending() -> None:
    """Raise in the root what a green thread handed it (a signal's KeyboardInterrupt).

    The hub delivers it at the root's next wait; ``start()`` and ``join()``,
    which may not wait, deliver it too, as a real main thread would see it.
    """
    task = _me()
    if task.pending_exc is not None:
        raise reason_error(task, INTERRUPT)


def start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
    """Start ``function(*args, **kwargs)`` as a coroutine; return its ident.

    Like a ``_thread`` thread, it is not waited for at exit (it is canceled
    then); an exception it raises is reported by ``sys.unraisablehook``.
    """
    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    if not callable(function):
        raise TypeError("first arg must be callable")
    idents: list = []
    thread_bundle().go(_run_thread, function, args, kwargs or {}, idents)
    raise_pending()
    return idents[0]


def _run_thread(function: Any, args: tuple, kwargs: dict, idents: list) -> None:
    """The body of every green thread (a function, not a closure: what the thread
    was given must not outlive it)."""
    ident = get_ident()
    idents.append(ident)
    green_threads[ident] = None
    try:
        function(*args, **kwargs)
    except (SystemExit, Canceled):
        pass
    except KeyboardInterrupt:
        raise  # to the root, like a signal's exception (the hub delivers it)
    except BaseException as e:
        report_unraisable(e, function, "Exception ignored in thread started by")
    finally:
        del green_threads[ident]
        # Its context (its threading.local values) dies with it, not when
        # the worker greenlet is next reused.
        _getcurrent().gr_context = _Context()


start_new = start_new_thread


def _count() -> int:
    """Green threads running (those of ``threading.Thread`` included, as in the stdlib)."""
    return len(green_threads)


# ------------------------------------------------------------------ local


class _local:
    """Per-coroutine attributes (``threading.local``).

    Each coroutine (and each OS thread's root code) sees its own ``__dict__``
    (kept in a context variable, swapped in for each access); a subclass's
    ``__init__`` runs again, with the constructor's arguments, the first time
    a new coroutine touches the object.
    """

    __slots__ = ("_local__var", "_local__args", "_local__lock", "__dict__", "__weakref__")

    def __new__(cls, *args: Any, **kw: Any) -> Any:
        if (args or kw) and (cls.__init__ is object.__init__):
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        oset = object.__setattr__
        oset(self, "_local__args", (args, kw))
        var = _ContextVar(f"dill.green.local.{id(self):x}")
        oset(self, "_local__var", var)
        oset(self, "_local__lock", _real.RLock())
        var.set((_me(), {}))
        return self


def _enter(self: _local) -> tuple:
    """Swap in the calling coroutine's dict (made, and ``__init__`` run, on its
    first touch); return what ``_leave`` needs."""
    get = object.__getattribute__
    lock = get(self, "_local__lock")
    lock.acquire()
    before = get(self, "__dict__")
    var = get(self, "_local__var")
    me = _me()
    pair = var.get(None)
    if pair is not None and pair[0] is me:
        object.__setattr__(self, "__dict__", pair[1])
        return lock, before
    d: dict = {}
    var.set((me, d))
    object.__setattr__(self, "__dict__", d)
    cls = type(self)
    if cls.__init__ is not object.__init__:
        try:
            args, kw = get(self, "_local__args")
            cls.__init__(self, *args, **kw)
        except BaseException:
            _leave(self, (lock, before))
            raise
    return lock, before


def _leave(self: _local, entered: tuple) -> None:
    # Put the dict that was there back, so that the object never keeps a
    # finished coroutine's values alive.
    object.__setattr__(self, "__dict__", entered[1])
    entered[0].release()


def _per_coroutine(op: Any, writes: bool) -> Any:
    """``op(self, name, *value)`` run on the calling coroutine's ``__dict__``."""

    def method(self: _local, name: str, *value: Any) -> Any:
        if writes and name == "__dict__":
            raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' is read-only")
        entered = _enter(self)
        try:
            return op(self, name, *value)
        finally:
            _leave(self, entered)

    method.__name__ = op.__name__
    return method


_local.__getattribute__ = _per_coroutine(object.__getattribute__, False)  # type: ignore[method-assign]
_local.__setattr__ = _per_coroutine(object.__setattr__, True)  # type: ignore[method-assign]
_local.__delattr__ = _per_coroutine(object.__delattr__, True)  # type: ignore[method-assign]
_local.__module__ = "dill.green.thread"
