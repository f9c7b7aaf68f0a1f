"""A green ``_thread``: locks and threads that block only the calling coroutine.

Importable without patching.  ``dill.patch()`` copies the names listed in
``__implements__`` onto the real ``_thread`` module.

* ``start_new_thread(fn, args)`` launches ``fn`` as a dill coroutine in the
  calling OS thread's hub (like a thread started with ``_thread``, nobody waits
  for it at exit: it is canceled then).
* ``get_ident()`` is per coroutine: the OS thread's ident in its root code,
  a unique number in each coroutine.
* ``LockType``/``allocate_lock()`` and ``RLock`` block only the calling
  coroutine.  An acquire that can succeed at once succeeds even in a canceled
  coroutine; one that would have to wait raises ``dill.Canceled`` there.
  Timeouts are the stdlib's (seconds, ``-1``: forever, ``0``/non-blocking: try
  once), waited on dill deadlines rounded up to the next millisecond.
* ``_local`` (``threading.local``) is per coroutine.

The primitives are safe to share between OS threads (a waiter in another
thread's hub is woken through ``call_threadsafe``), but their intended use is
coordinating the coroutines of one OS thread, as in a patched process.
"""

from __future__ import annotations

import _thread as _real
import functools as _functools
import math as _math
import operator as _operator
import sys as _sys
import threading as _std
from collections import deque as _deque
from contextvars import ContextVar as _ContextVar
from time import monotonic_ns as _monotonic_ns
from typing import Any

from .._errors import Canceled
from .._hub import INTERRUPT, TIMEOUT, get_hub, reason_error
from .._hub import _local as _hub_local

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
_std_active = _std._active
_std_limbo = _std._limbo

TIMEOUT_MAX = _real.TIMEOUT_MAX
error = _real.error
exit = _real.exit
exit_thread = _real.exit_thread
interrupt_main = _real.interrupt_main
get_native_id = _real.get_native_id
stack_size = _real.stack_size
_excepthook = _real._excepthook
_ExceptHookArgs = _real._ExceptHookArgs

_NS_PER_MS = 1_000_000


# --------------------------------------------------------------- timeouts


def _seconds(timeout: Any) -> Any:
    """``timeout`` as a number, with the stdlib's TypeError for anything else."""
    c = timeout.__class__
    if c is float or c is int:
        return timeout
    if isinstance(timeout, float):
        return float(timeout)
    return _operator.index(timeout)


def _deadline_after(secs: float) -> int:
    """The dill deadline ``secs`` (> 0) seconds from now, rounded up.

    Computed from nanoseconds so that the wait lasts at least ``secs``: a
    deadline ``d`` fires once ``now() >= d``, i.e. at ``d`` ms or later.
    """
    if secs == _math.inf:
        return -1
    return -(-(_monotonic_ns() + _math.ceil(secs * 1e9)) // _NS_PER_MS)


def _lock_deadline(blocking: Any, timeout: Any) -> int:
    """Deadline for ``Lock.acquire(blocking, timeout)``: 0 try once, -1 forever."""
    timeout = _seconds(timeout)
    if not blocking:
        if timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0
    if timeout == -1:
        return -1
    if timeout < 0:
        raise ValueError("timeout value must be positive")
    if timeout != timeout:
        raise ValueError("Invalid value NaN (not a number)")
    if timeout > TIMEOUT_MAX:
        raise OverflowError("timeout value is too large")
    if timeout == 0:
        return 0
    return _deadline_after(timeout)


# ---------------------------------------------------------------- waiting


class _Waiter:
    """One blocked coroutine in a primitive's wait queue."""

    __slots__ = ("task", "hub", "dead")

    def __init__(self, task: Any, hub: Any) -> None:
        self.task = task
        self.hub = hub
        self.dead = False  # set by the waiter when it gave up (timeout, cancel)


def _current_hub() -> Any:
    return getattr(_hub_local, "hub", None)


# Idents of green dummy threads that ``threading.current_thread()`` registered
# in the stdlib's ``threading._active`` (for threads of ``start_new_thread``).
_green_dummies: set = set()


def _other_os_threads() -> bool:
    """True if ``threading`` knows of OS threads other than the calling one."""
    _green_dummies.intersection_update(_std_active.keys())
    return len(_std_limbo) + len(_std_active.keys() - _green_dummies) > 1


def _block(hub: Any, task: Any, m: Any, deadline: int, uncancelable: bool = False) -> Any:
    """Release the primitive's mutex ``m`` (held) and wait; return the wake value.

    The hub's wake-up pipe is enabled so that a release from another OS thread
    can reach us; while other OS threads exist the wait also counts as a
    remote wait, so the hub does not report a deadlock it cannot see.
    """
    hub.enable_threadsafe()
    remote = len(_std_active) + len(_std_limbo) > 1 and (
        not _green_dummies or _other_os_threads())
    if remote:
        hub.remote_waits += 1
    m.release()
    try:
        if uncancelable:
            return hub.wait_uncancelable(task)
        return hub.wait(task, deadline)
    finally:
        if remote:
            hub.remote_waits -= 1


def _notify(w: _Waiter, value: Any, cur: Any, retry: Any = None) -> bool:
    """Wake waiter ``w`` with ``value``; False if it is no longer waiting.

    For a waiter of another hub the answer is only known in that hub's thread:
    this returns True and ``retry()`` runs there if the wake-up came too late.
    """
    hub = w.hub
    if hub is cur:
        task = w.task
        if task.waiting and not w.dead:
            hub.wake(task, value)
            return True
        return False
    hub.call_threadsafe(lambda: _remote_notify(w, value, retry))
    return True


def _remote_notify(w: _Waiter, value: Any, retry: Any) -> None:
    task = w.task
    if task.waiting and not w.dead:
        w.hub.wake(task, value)
    elif retry is not None:
        retry()


class _Grantable:
    """Shared logic of the primitives that hand a unit over to a waiter.

    ``release`` gives the unit straight to the first waiter still waiting
    (FIFO, no barging); ``_grant(task)`` records the new owner and
    ``_release_unit()`` (mutex held, releases it) takes the unit back when a
    waiter of another OS thread turned out to have given up meanwhile.
    """

    __slots__ = ()

    def _pass_on(self) -> bool:
        """With the mutex held: hand one unit to a waiter; False if none waits."""
        waiters = self._waiters
        if not waiters:
            return False
        cur = _current_hub()
        while waiters:
            w = waiters.popleft()
            if w.hub is cur:
                t = w.task
                if t.waiting:
                    self._grant(t)
                    cur.wake(t, True)
                    return True
            else:
                self._grant(w.task)
                w.hub.call_threadsafe(lambda w=w: self._remote_grant(w))
                return True
        return False

    def _remote_grant(self, w: _Waiter) -> None:
        t = w.task
        if t.waiting and not w.dead:
            w.hub.wake(t, True)
        else:
            self._m.acquire()
            self._release_unit()

    def _acquire_slow(self, deadline: int, uncancelable: bool = False) -> bool:
        """Mutex held and the unit not free: wait for it (releases the mutex)."""
        m = self._m
        hub = get_hub()
        task = hub.current
        if task.canceled and not uncancelable:
            m.release()
            raise Canceled()
        w = _Waiter(task, hub)
        waiters = self._waiters
        waiters.append(w)
        pending = None
        while True:
            v = _block(hub, task, m, deadline, uncancelable)
            if v is True:
                break
            m.acquire()
            if uncancelable and v is INTERRUPT:
                # KeyboardInterrupt & co: keep waiting, raise once we own the unit.
                pending = reason_error(task, v)
                if w not in waiters:
                    waiters.append(w)
                continue
            w.dead = True
            try:
                waiters.remove(w)
            except ValueError:
                pass
            m.release()
            if v is TIMEOUT:
                return False
            raise reason_error(task, v)
        if pending is not None:
            raise pending
        return True


# ------------------------------------------------------------------ locks


class _BuiltinFunction(_functools.partial):
    """A function that, like a builtin, does not bind as a method.

    ``class T: lock_type = _thread.allocate_lock`` then ``self.lock_type()``
    calls it with no argument, as with the stdlib's builtin.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<built-in function {self.__name__}>"


def _builtin(fn: Any) -> Any:
    b = _BuiltinFunction(fn)
    b.__name__ = fn.__name__
    b.__qualname__ = fn.__qualname__
    b.__module__ = fn.__module__
    b.__doc__ = fn.__doc__
    b.__wrapped__ = fn
    return b


class LockType(_Grantable):
    """A green ``_thread.lock``: ``acquire`` blocks only the calling coroutine.

    Made by ``allocate_lock()``; like the stdlib's, the type itself cannot be
    instantiated.
    """

    __slots__ = ("_m", "_locked", "_waiters", "__weakref__")

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is LockType:
            raise TypeError(f"cannot create '{cls.__module__}.{cls.__name__}' instances")
        return object.__new__(cls)

    def __init__(self) -> None:
        self._m = _mutex()
        self._locked = False
        self._waiters: _deque = _deque()

    def acquire(self, blocking: Any = True, timeout: Any = -1) -> bool:
        """Acquire the lock; see ``threading.Lock.acquire``."""
        if blocking is True and timeout == -1 and timeout.__class__ is int:
            deadline = -1
        else:
            deadline = _lock_deadline(blocking, timeout)
        m = self._m
        m.acquire()
        if not self._locked:
            self._locked = True
            m.release()
            return True
        if deadline == 0:
            m.release()
            return False
        return self._acquire_slow(deadline)

    def _acquire_uncancelable(self) -> None:
        """Acquire, waiting through a cancellation (Condition.wait's re-acquire)."""
        m = self._m
        m.acquire()
        if not self._locked:
            self._locked = True
            m.release()
            return
        self._acquire_slow(-1, True)

    def release(self) -> None:
        """Release the lock (from any coroutine); wakes the first waiter."""
        m = self._m
        m.acquire()
        if not self._locked:
            m.release()
            raise RuntimeError("release unlocked lock")
        self._release_unit()

    def _grant(self, task: Any) -> None:
        pass  # stays locked, now for the waiter

    def _release_unit(self) -> None:
        if not self._pass_on():
            self._locked = False
        self._m.release()

    def locked(self) -> bool:
        """True if the lock is held."""
        return self._locked

    def _at_fork_reinit(self) -> None:
        self._m = _mutex()
        self._locked = False
        self._waiters = _deque()

    acquire_lock = acquire
    release_lock = release
    locked_lock = locked

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "locked" if self._locked else "unlocked"
        return f"<{state} {type(self).__module__}.{type(self).__qualname__} object at {id(self):#x}>"


_object_new = object.__new__


def allocate_lock() -> LockType:
    """A new green lock."""
    self = _object_new(LockType)
    self._m = _mutex()
    self._locked = False
    self._waiters = _deque()
    return self


allocate_lock = _builtin(allocate_lock)
allocate = allocate_lock


def _me() -> Any:
    return get_hub().current


class RLock(_Grantable):
    """A green reentrant lock, owned by a coroutine."""

    __slots__ = ("_m", "_owner", "_count", "_waiters", "__weakref__")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._m = _mutex()
        self._owner: Any = None
        self._count = 0
        self._waiters: _deque = _deque()

    def acquire(self, blocking: Any = True, timeout: Any = -1) -> bool:
        """Acquire (again, if the calling coroutine owns it already)."""
        if blocking is True and timeout == -1 and timeout.__class__ is int:
            deadline = -1
        else:
            deadline = _lock_deadline(blocking, timeout)
        me = _me()
        m = self._m
        m.acquire()
        owner = self._owner
        if owner is None:
            self._owner = me
            self._count = 1
            m.release()
            return True
        if owner is me:
            self._count += 1
            m.release()
            return True
        if deadline == 0:
            m.release()
            return False
        return self._acquire_slow(deadline)

    __enter__ = acquire

    def release(self) -> None:
        """Release once; the lock is free when the count drops to zero."""
        me = _me()
        m = self._m
        m.acquire()
        if self._owner is not me:
            m.release()
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count:
            m.release()
            return
        self._release_unit()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _grant(self, task: Any) -> None:
        self._owner = task
        self._count = 1

    def _release_unit(self) -> None:
        self._owner = None
        self._count = 0
        self._pass_on()
        self._m.release()

    # Condition's protocol
    def _is_owned(self) -> bool:
        return self._owner is _me()

    def _release_save(self) -> tuple:
        me = _me()
        m = self._m
        m.acquire()
        if self._owner is not me:
            m.release()
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, me)
        self._release_unit()
        return state

    def _acquire_restore(self, state: tuple) -> None:
        self.acquire()
        self._count, self._owner = state

    def _acquire_restore_uncancelable(self, state: tuple) -> None:
        m = self._m
        m.acquire()
        if self._owner is None:
            self._owner = state[1]
            m.release()
        else:
            self._acquire_slow(-1, True)
        self._count, self._owner = state

    def _recursion_count(self) -> int:
        return self._count if self._owner is _me() else 0

    def locked(self) -> bool:
        return self._owner is not None

    def _at_fork_reinit(self) -> None:
        self._m = _mutex()
        self._owner = None
        self._count = 0
        self._waiters = _deque()

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


# Coroutines started by start_new_thread and still running: ident -> handle.
_raw: dict = {}
# Handles of those that were ending (kept until they have finished).
_ending: list = []


def start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
    """Start ``function(*args, **kwargs)`` as a coroutine; return its ident.

    Like a ``_thread`` thread, it is not waited for at exit (it is canceled
    then); an exception it raises is reported by ``sys.unraisablehook``.
    """
    from .._coroutine import go

    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    if not callable(function):
        raise TypeError("first arg must be callable")
    cell: list = []

    def bootstrap() -> None:
        ident = get_ident()
        cell.append(ident)
        _raw[ident] = None  # its handle, once go() returned
        try:
            function(*args, **(kwargs or {}))
        except (SystemExit, Canceled):
            pass
        except KeyboardInterrupt:
            raise  # to the root, like a signal's exception (the hub delivers it)
        except BaseException as e:
            from .._hub import report_unraisable
            report_unraisable(e, function, "Exception ignored in thread started by")
        finally:
            h = _raw.pop(ident, None)
            if h is not None:
                _ending.append(h)  # dropping the handle of a running coroutine warns
            _release_sentinels(ident)

    if _ending:
        _ending[:] = [x for x in _ending if not x.finished]
    h = go(bootstrap)
    ident = cell[0]
    if ident in _raw:
        _raw[ident] = h
    task = h._hub.current
    if task.pending_exc is not None:  # a KeyboardInterrupt the thread handed the root
        raise reason_error(task, INTERRUPT)
    return ident


start_new = start_new_thread


def _count() -> int:
    """Green threads started by ``start_new_thread`` and still running."""
    return len(_raw)


def _close_raw() -> None:
    """At exit: cancel what start_new_thread started in this thread's hub."""
    hub = _current_hub()
    for h in list(_raw.values()):
        if h is not None and hub is not None and h._hub is hub:
            h.close()


def _set_sentinel() -> LockType:
    """A lock released when the calling green thread ends (stdlib ``threading``'s hook)."""
    lock = allocate_lock()
    lock.acquire()
    _sentinels.setdefault(get_ident(), []).append(lock)
    return lock


_sentinels: dict = {}


def _release_sentinels(ident: int) -> None:
    for lock in _sentinels.pop(ident, ()):
        lock.release()


# ------------------------------------------------------------------ local


class _local:
    """Per-coroutine attributes (``threading.local``).

    Each coroutine (and each OS thread's root code) sees its own ``__dict__``;
    a subclass's ``__init__`` runs again, with the constructor's arguments, the
    first time a new coroutine touches the object.  A coroutine's values go
    away with it.
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
        d: dict = {}
        oset(self, "__dict__", d)
        var.set((_me(), d))
        return self


def _local_dict(self: _local) -> tuple:
    var = object.__getattribute__(self, "_local__var")
    me = _me()
    pair = var.get(None)
    if pair is not None and pair[0] is me:
        return pair[1], False
    d: dict = {}
    var.set((me, d))
    return d, True


def _local_enter(self: _local) -> Any:
    d, new = _local_dict(self)
    lock = object.__getattribute__(self, "_local__lock")
    lock.acquire()
    try:
        object.__setattr__(self, "__dict__", d)
        if new:
            cls = type(self)
            if cls.__init__ is not object.__init__:
                args, kw = object.__getattribute__(self, "_local__args")
                cls.__init__(self, *args, **kw)
    except BaseException:
        lock.release()
        raise
    return lock


def _local_getattribute(self: _local, name: str) -> Any:
    lock = _local_enter(self)
    try:
        return object.__getattribute__(self, name)
    finally:
        lock.release()


def _local_setattr(self: _local, name: str, value: Any) -> None:
    if name == "__dict__":
        raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' is read-only")
    lock = _local_enter(self)
    try:
        object.__setattr__(self, name, value)
    finally:
        lock.release()


def _local_delattr(self: _local, name: str) -> None:
    if name == "__dict__":
        raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' is read-only")
    lock = _local_enter(self)
    try:
        object.__delattr__(self, name)
    finally:
        lock.release()


_local.__getattribute__ = _local_getattribute  # type: ignore[method-assign]
_local.__setattr__ = _local_setattr  # type: ignore[method-assign]
_local.__delattr__ = _local_delattr  # type: ignore[method-assign]
_local.__module__ = "dill.green.thread"
