"""A green ``_thread``: locks and threads that block only the calling coroutine.

Importable without patching; ``dill.patch()`` copies the names listed in
``__implements__`` onto the real ``_thread`` module.

* ``start_new_thread(fn, args)`` runs ``fn`` as a coroutine of the calling OS
  thread's hub, canceled at exit.  Every green thread starts there,
  ``threading.Thread``'s too; ``green_threads`` is their one registry.
* ``get_ident()`` is per coroutine (the OS thread's ident in its root code).
* ``LockType``/``allocate_lock()`` and ``RLock`` block only the calling
  coroutine, with the stdlib's timeouts; ``_owner`` is the task holding one.
* ``_local`` (``threading.local``) is per coroutine; a green thread's values
  die with it.

The primitives may be shared between OS threads (a waiter of another hub is
woken through ``call_threadsafe``); their intended use is the coroutines of one
OS thread, as in a patched process.
"""

from __future__ import annotations

import _thread as _real
import functools as _functools
import os as _os
import sys as _sys
import warnings as _warnings
import weakref as _weakref
# The originals, bound before dill.patch() can replace them.
from _thread import TIMEOUT_MAX, error, exit, exit_thread, get_native_id, interrupt_main
from _thread import allocate_lock as _mutex
from _thread import get_ident as _real_get_ident
from _thread import stack_size
from contextvars import Context as _Context
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


# Python 3.13 made the lock type its own constructor (threading.Lock is it).
LOCK_IS_A_TYPE = _sys.version_info >= (3, 13)


def _me() -> Any:
    return get_hub().current


def _lock_deadline(blocking: Any, timeout: Any) -> int:
    """Deadline for ``Lock.acquire(blocking, timeout)``, with the stdlib's errors."""
    timeout = seconds(timeout)
    if timeout == -1:
        return -1 if blocking else 0
    if not blocking:
        raise ValueError("can't specify a timeout for a non-blocking call")
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

    def locked(self) -> bool:
        """True if the lock is held."""
        return self._owner is not None

    # Condition's protocol: it takes the lock back even in a canceled coroutine.
    def _acquire_restore(self, state: Any) -> None:
        self._acquire(-1, True)
        if state is not None:
            self._count, self._owner = state


class LockType(_Lock):
    """A green ``_thread.lock`` (``allocate_lock()``); ``_owner``: its last acquirer."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError("type '_thread.lock' is not an acceptable base type")

    def __new__(cls) -> Any:
        if not LOCK_IS_A_TYPE:
            raise TypeError(f"cannot create '{cls.__module__}.{cls.__name__}' instances")
        self = object.__new__(cls)
        self._init()
        return self

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
        if (args or kwargs) and LOCK_IS_A_TYPE:
            _warnings.warn("Passing arguments to RLock is deprecated and will be removed "
                           "in 3.15", DeprecationWarning, stacklevel=2)
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
    return hub.thread_id if task is hub.root else id(task)


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


# Bundles of green threads inherited by a forked child: never closed nor
# collected there (their coroutines belong to the parent's hub, gone in the
# child, and a collected bundle would try to close them).
_inherited_bundles: list = []


def _after_fork_in_child() -> None:
    """The parent's green threads are gone in a forked child, as its other OS
    threads are: the child's first green thread makes a bundle of its own hub."""
    b = getattr(_os_local, "bundle", None)
    if b is not None:
        _inherited_bundles.append(b)
        _os_local.bundle = None


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)


def close_threads() -> None:
    """Cancel the green threads still running in this OS thread (at exit)."""
    b, _os_local.bundle = getattr(_os_local, "bundle", None), None
    if b is not None:
        b.close()


def raise_pending() -> None:
    """Raise what a green thread handed the root (a signal's KeyboardInterrupt)
    in calls that may not wait (``start``, ``join``), as a main thread would."""
    task = _me()
    if task.pending_exc is not None:
        raise reason_error(task, INTERRUPT)


def start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
    """Start ``function(*args, **kwargs)`` as a coroutine; return its ident.
    Canceled at exit; what it raises goes to ``sys.unraisablehook``."""
    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    if not callable(function):
        raise TypeError("first arg must be callable")
    ident = spawn_thread(function, args, kwargs or {})
    raise_pending()
    return ident


def spawn_thread(function: Any, args: tuple = (), kwargs: Any = None) -> int:
    """``start_new_thread`` without its argument checks and ``raise_pending``."""
    idents: list = []
    thread_bundle().go(_run_thread, function, args, kwargs or {}, idents)
    return idents[0]


def _run_thread(function: Any, args: tuple, kwargs: dict, idents: list) -> None:
    """Every green thread's body (not a closure: its arguments must not outlive it)."""
    ident = get_ident()
    idents.append(ident)
    green_threads[ident] = None
    # For the tools: the Thread (whose bound _bootstrap this is), else the function.
    get_hub().current.label = getattr(function, "__self__", function)
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
    """Per-coroutine attributes (``threading.local``): each coroutine's dict is
    kept by the object, keyed weakly by its task, and swapped in per access; it
    dies with its coroutine, and a cycle through the object is freed with it."""

    __slots__ = ("_local__dicts", "_local__args", "_local__lock", "__dict__", "__weakref__")

    def __new__(cls, *args: Any, **kw: Any) -> Any:
        if (args or kw) and (cls.__init__ is object.__init__):
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        oset = object.__setattr__
        oset(self, "_local__args", (args, kw))
        dicts = _weakref.WeakKeyDictionary()
        dicts[_me()] = {}  # the creator's: its __init__ runs as the call's own
        oset(self, "_local__dicts", dicts)
        oset(self, "_local__lock", _real.RLock())
        return self


def _per_coroutine(op: Any, writes: bool) -> Any:
    """``op(self, name, *value)`` on the calling coroutine's dict (made, and
    ``__init__`` run, on its first touch), swapped in as ``__dict__`` and out
    again after: the object never keeps a finished coroutine's values alive."""

    def method(self: _local, name: str, *value: Any) -> Any:
        if writes and name == "__dict__":
            raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' is read-only")
        get = object.__getattribute__
        with get(self, "_local__lock"):
            before = get(self, "__dict__")
            dicts = get(self, "_local__dicts")
            me = _me()
            d = dicts.get(me)
            try:
                if d is not None:
                    object.__setattr__(self, "__dict__", d)
                else:
                    d = dicts[me] = {}
                    object.__setattr__(self, "__dict__", d)
                    cls = type(self)
                    if cls.__init__ is not object.__init__:
                        args, kw = get(self, "_local__args")
                        cls.__init__(self, *args, **kw)
                return op(self, name, *value)
            finally:
                object.__setattr__(self, "__dict__", before)

    method.__name__ = op.__name__
    return method


_local.__getattribute__ = _per_coroutine(object.__getattribute__, False)  # type: ignore[method-assign]
_local.__setattr__ = _per_coroutine(object.__setattr__, True)  # type: ignore[method-assign]
_local.__delattr__ = _per_coroutine(object.__delattr__, True)  # type: ignore[method-assign]
