"""A green ``threading``: threads are dill coroutines, primitives block one coroutine.

Importable without patching (``from dill.green import threading``);
``dill.patch()`` copies the names in ``__implements__`` onto the real
``threading`` module.  Everything behaves like the stdlib, except:

* A ``Thread`` is a coroutine of the hub (OS thread) that starts it:
  ``start()`` is a ``dill.go`` (it runs the thread at once until it first
  blocks), ``join(timeout)`` waits for it.  It is not tied to the lifetime of
  the coroutine that started it.  At interpreter exit non-daemon green
  threads are waited for (after the ``threading._register_atexit`` callbacks,
  e.g. ``concurrent.futures``'), then daemon ones are closed: canceled, their
  blocking call raises ``dill.Canceled`` and their ``finally`` blocks run.
  Closing (``hclose``) the coroutine a thread runs in, or interpreter exit for
  a daemon, ends it silently; ``Canceled`` is not reported by ``excepthook``.
* Blocking calls (``Lock.acquire``, ``Condition.wait``, ``Event.wait``,
  ``Semaphore.acquire``, ``Barrier.wait``, ``Thread.join``) block only the
  calling coroutine; in a canceled coroutine a call that would have to wait
  raises ``dill.Canceled``, one that can complete at once does.
  ``Condition.wait`` re-acquires its lock before raising ``Canceled``, so
  ``with cond:`` stays balanced.
* ``local`` is per coroutine; ``get_ident()`` is per coroutine (the OS
  thread's ident in its root code); ``get_native_id()`` is the OS thread's.
* ``current_thread()`` in a coroutine that no ``Thread`` started returns a
  fresh dummy thread object each time (not listed by ``enumerate()``); in a
  thread of ``_thread.start_new_thread`` it returns one dummy, registered in
  ``threading._active`` as the stdlib does for a foreign thread.
* A ``KeyboardInterrupt`` raised in a green thread (a signal's, e.g. from
  ``_thread.interrupt_main()``) goes to the OS thread's root code, as a real
  main thread would get it; ``SystemExit`` goes to ``excepthook`` (whose
  default ignores it), as in the stdlib.
* ``settrace``/``setprofile`` apply to new OS threads only, as in the stdlib;
  green threads run under the tracing of the OS thread they live in.
"""

from __future__ import annotations

import sys as _sys
import threading as _std
import warnings as _warnings
from collections import deque as _deque
from time import monotonic as _time
from typing import Any

from .._errors import Canceled
from .._hub import INTERRUPT, TIMEOUT, get_hub, reason_error
from . import thread as _thread
from .thread import (
    TIMEOUT_MAX, LockType, RLock as _RLock, _block, _current_hub, _deadline_after, _local,
    _mutex, _notify, _Waiter, allocate_lock as _allocate_lock, get_ident, get_native_id,
    stack_size, start_new_thread as _start_new_thread,
)

# Originals of the real module, captured before anything can patch them.
_orig_current_thread = _std.current_thread
_orig_enumerate = _std.enumerate
_orig_main_thread = _std.main_thread
_orig_excepthook = _std.excepthook
# threading._start_new_thread exists up to Python 3.12 (3.13: _start_joinable_thread).
_orig_start_new_thread = getattr(_std, "_start_new_thread", None)
_StdThread = _std.Thread
_newname = _std._newname
_std_active = _std._active
_std_active_limbo_lock = _std._active_limbo_lock
# Python < 3.13: threading._shutdown waits on the "tstate" locks of non-daemon
# threads in threading._shutdown_locks (looked up each time: a fork replaces it).
_HAVE_SHUTDOWN_LOCKS = hasattr(_std, "_shutdown_locks")

ThreadError = _std.ThreadError
BrokenBarrierError = _std.BrokenBarrierError
ExceptHookArgs = _std.ExceptHookArgs
excepthook = _std.excepthook
setprofile = _std.setprofile
settrace = _std.settrace
getprofile = getattr(_std, "getprofile", None)
gettrace = getattr(_std, "gettrace", None)

Lock = _allocate_lock
RLock = _RLock
local = _local

__all__ = [n for n in _std.__all__]

# What dill.patch() copies onto the real ``threading`` module.
__implements__ = [
    "Thread", "Timer", "Lock", "RLock", "_CRLock", "Condition", "Semaphore",
    "BoundedSemaphore", "Event", "Barrier", "local", "current_thread", "currentThread",
    "enumerate", "active_count", "activeCount", "main_thread", "get_ident",
    "_DummyThread", "_allocate_lock",
]
# Not ``_start_new_thread``: the stdlib's own Thread class (dill's workers,
# ``get_original``) must still start OS threads.

_CRLock = _RLock

# Green threads running (ident -> Thread); the lock guards every join queue.
_active: dict = {}


def _repr_module(cls: type) -> str:
    """The module a repr shows: ``threading`` for this module's classes, as the stdlib's."""
    mod = cls.__module__
    return "threading" if mod == __name__ else mod


# -------------------------------------------------------------- Condition


class Condition:
    """A green condition variable (see ``threading.Condition``)."""

    def __init__(self, lock: Any = None) -> None:
        if lock is None:
            lock = _RLock()
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        for name in ("_release_save", "_acquire_restore", "_is_owned"):
            try:
                setattr(self, name, getattr(lock, name))
            except AttributeError:
                pass
        if isinstance(lock, LockType):
            self._is_owned = lock.locked  # what the acquire(False) probe finds, cheaper
        self._m = _mutex()
        self._waiters: Any = _deque()

    def __enter__(self) -> Any:
        return self._lock.__enter__()

    def __exit__(self, *args: Any) -> Any:
        return self._lock.__exit__(*args)

    def __repr__(self) -> str:
        return f"<Condition({self._lock}, {len(self._waiters)})>"

    def _release_save(self) -> Any:
        self._lock.release()

    def _acquire_restore(self, x: Any) -> None:
        self._lock.acquire()

    def _is_owned(self) -> bool:
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def _reacquire(self, saved: Any) -> None:
        """Take the lock back, even in a canceled coroutine."""
        lock = self._lock
        restore = getattr(lock, "_acquire_restore_uncancelable", None)
        if restore is not None:
            restore(saved)
        elif isinstance(lock, LockType):
            lock._acquire_uncancelable()
        else:
            self._acquire_restore(saved)

    def wait(self, timeout: Any = None) -> bool:
        """Release the lock, wait for a notify or the timeout, re-acquire the lock.

        Returns False on timeout.  In a coroutine canceled while it waits, the
        lock is re-acquired first, then ``Canceled`` is raised.
        """
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        if timeout is None:
            deadline = -1
        elif timeout > 0:
            deadline = _deadline_after(timeout)
        else:
            deadline = 0
        hub = get_hub()
        task = hub.current
        if deadline == 0:
            # Non-blocking: give the lock up and take it back, like the stdlib.
            self._reacquire(self._release_save())
            return False
        if task.canceled:
            raise Canceled()
        w = _Waiter(task, hub)
        m = self._m
        m.acquire()
        self._waiters.append(w)
        m.release()
        try:
            saved = self._release_save()
        except BaseException:
            with m:
                self._waiters.remove(w)
            raise
        m.acquire()
        v = _block(hub, task, m, deadline)
        if v is not True:
            with m:
                w.dead = True
                try:
                    self._waiters.remove(w)
                except ValueError:
                    pass
        self._reacquire(saved)
        if v is True:
            return True
        if v is TIMEOUT:
            return False
        raise reason_error(task, v)

    def wait_for(self, predicate: Any, timeout: Any = None) -> Any:
        """Wait until ``predicate()`` is true (see ``threading.Condition.wait_for``)."""
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = _time() + waittime
                else:
                    waittime = endtime - _time()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` coroutines waiting on the condition."""
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        waiters = self._waiters
        if not waiters:
            return
        cur = _current_hub()
        with self._m:
            while n > 0 and waiters:
                w = waiters.popleft()
                if _notify(w, True, cur, self._renotify):
                    n -= 1

    def _renotify(self) -> None:
        # A waiter of another OS thread had given up: pass the wake-up on.
        with self._m:
            cur = _current_hub()
            waiters = self._waiters
            while waiters:
                if _notify(waiters.popleft(), True, cur, self._renotify):
                    return

    def notify_all(self) -> None:
        """Wake up every coroutine waiting on the condition."""
        self.notify(len(self._waiters))

    def notifyAll(self) -> None:
        """Deprecated alias of ``notify_all``."""
        _warnings.warn("notifyAll() is deprecated, use notify_all() instead",
                       DeprecationWarning, stacklevel=2)
        self.notify_all()

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()
        self._m = _mutex()
        self._waiters = _deque()


# -------------------------------------------------------------- Semaphore


class Semaphore(_thread._Grantable):
    """A green semaphore (see ``threading.Semaphore``); releases are FIFO hand-overs."""

    __slots__ = ("_m", "_value", "_waiters", "__weakref__")

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._m = _mutex()
        self._value = value
        self._waiters: Any = _deque()

    def __repr__(self) -> str:
        cls = self.__class__
        return (f"<{_repr_module(cls)}.{cls.__qualname__} at {id(self):#x}:"
                f" value={self._value}>")

    def acquire(self, blocking: Any = True, timeout: Any = None) -> bool:
        """Take one unit; see ``threading.Semaphore.acquire``."""
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        if not blocking:
            deadline = 0
        elif timeout is None:
            deadline = -1
        elif timeout > 0:
            deadline = _deadline_after(timeout)
        else:
            deadline = 0
        m = self._m
        m.acquire()
        if self._value > 0:
            self._value -= 1
            m.release()
            return True
        if deadline == 0:
            m.release()
            return False
        return self._acquire_slow(deadline)

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        """Give ``n`` units back, to waiters first."""
        if n < 1:
            raise ValueError("n must be one or more")
        m = self._m
        m.acquire()
        self._check_release(n)
        for _ in range(n):
            if not self._pass_on():
                self._value += 1
        m.release()

    def _check_release(self, n: int) -> None:
        pass

    def _grant(self, task: Any) -> None:
        pass

    def _release_unit(self) -> None:
        if not self._pass_on():
            self._value += 1
        self._m.release()

    def __exit__(self, t: Any, v: Any, tb: Any) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    """A semaphore that raises ValueError when released above its initial value."""

    __slots__ = ("_initial_value",)

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    def __repr__(self) -> str:
        cls = self.__class__
        return (f"<{_repr_module(cls)}.{cls.__qualname__} at {id(self):#x}:"
                f" value={self._value}/{self._initial_value}>")

    def _check_release(self, n: int) -> None:
        if self._value + n > self._initial_value:
            self._m.release()
            raise ValueError("Semaphore released too many times")


# ------------------------------------------------------------------ Event


class Event:
    """A green event flag (see ``threading.Event``).

    Its own waiter list rather than the stdlib's ``Condition`` (no ``_cond``):
    a set/wait round trip costs half as much.
    """

    def __init__(self) -> None:
        self._m = _mutex()
        self._flag = False
        self._waiters: list = []

    def __repr__(self) -> str:
        cls = self.__class__
        status = "set" if self._flag else "unset"
        return f"<{_repr_module(cls)}.{cls.__qualname__} at {id(self):#x}: {status}>"

    def _at_fork_reinit(self) -> None:
        self._m = _mutex()
        self._waiters = []

    def is_set(self) -> bool:
        """True once ``set()`` was called (and not cleared)."""
        return self._flag

    def isSet(self) -> bool:
        """Deprecated alias of ``is_set``."""
        _warnings.warn("isSet() is deprecated, use is_set() instead",
                       DeprecationWarning, stacklevel=2)
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        with self._m:
            self._flag = True
            waiters, self._waiters = self._waiters, []
        if waiters:
            cur = _current_hub()
            for w in waiters:
                _notify(w, True, cur)

    def clear(self) -> None:
        """Reset the flag."""
        self._flag = False

    def wait(self, timeout: Any = None) -> bool:
        """Block until the flag is set or the timeout passes; return the flag."""
        if self._flag:
            return True
        if timeout is None:
            deadline = -1
        elif timeout > 0:
            deadline = _deadline_after(timeout)
        else:
            return self._flag
        hub = get_hub()
        task = hub.current
        if task.canceled:
            raise Canceled()
        m = self._m
        m.acquire()
        if self._flag:
            m.release()
            return True
        w = _Waiter(task, hub)
        self._waiters.append(w)
        v = _block(hub, task, m, deadline)
        if v is True:
            return True
        with m:
            w.dead = True
            try:
                self._waiters.remove(w)
            except ValueError:
                pass
        if v is TIMEOUT:
            return self._flag
        raise reason_error(task, v)


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
        cls = self.__class__
        if self.broken:
            return f"<{_repr_module(cls)}.{cls.__qualname__} at {id(self):#x}: broken>"
        return (f"<{_repr_module(cls)}.{cls.__qualname__} at {id(self):#x}:"
                f" waiters={self.n_waiting}/{self.parties}>")

    def _wait(self, timeout: Any) -> None:
        try:
            super()._wait(timeout)
        except Canceled:
            self._break()
            raise


# ----------------------------------------------------------------- Thread


def _raise_pending(hub: Any) -> None:
    """Raise in the root what a green thread handed it (a signal's KeyboardInterrupt).

    The hub delivers it at the root's next wait; ``start()`` and ``join()``,
    which may not wait, deliver it too, as a real main thread would see it.
    """
    if hub is not None:
        task = hub.current
        if task.pending_exc is not None:
            raise reason_error(task, INTERRUPT)


def _current_daemon() -> bool:
    hub = _current_hub()
    if hub is None or hub.current is hub.root:
        return _orig_current_thread().daemon
    t = _active.get(id(hub.current))
    return True if t is None else t.daemon


class Thread:
    """A green thread: a dill coroutine with ``threading.Thread``'s interface.

    ``start()`` launches ``run()`` with ``dill.go`` in the calling OS thread's
    hub; ``join(timeout)`` blocks only the calling coroutine.  Non-daemon
    green threads are waited for at interpreter exit; daemon ones are closed
    (canceled) then.
    """

    _initialized = False

    def __init__(self, group: Any = None, target: Any = None, name: Any = None,
                 args: Any = (), kwargs: Any = None, *, daemon: Any = None) -> None:
        if not isinstance(self, Thread):
            # The stdlib's own subclasses (``_MainThread``, made again after a
            # fork) call the patched ``threading.Thread.__init__``.
            _StdThread.__init__(self, group, target, name, args, kwargs, daemon=daemon)
            return
        assert group is None, "group argument must be None for now"
        if kwargs is None:
            kwargs = {}
        if name:
            name = str(name)
        else:
            name = _newname("Thread-%d")
            if target is not None:
                try:
                    name += f" ({target.__name__})"
                except AttributeError:
                    pass
        self._target = target
        self._name = name
        self._args = args
        self._kwargs = kwargs
        self._daemonic = _current_daemon() if daemon is None else bool(daemon)
        self._ident: Any = None
        self._native_id: Any = None
        self._is_started = False
        self._is_stopped = False
        self._handle: Any = None
        self._hub: Any = None
        # Held while the thread runs (the stdlib's name): join() waits on it.
        self._tstate_lock: Any = None
        self._initialized = True
        self._stderr = _sys.stderr

    def __repr__(self) -> str:
        assert self._initialized, "Thread.__init__() was not called"
        self.is_alive()  # sets _is_stopped if the thread has ended
        status = "initial"
        if self._is_started:
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
        from .._coroutine import go

        if not self._initialized:
            raise RuntimeError("thread.__init__() not called")
        if self._is_started:
            raise RuntimeError("threads can only be started once")
        self._is_started = True
        self._hub = get_hub()
        lock = self._tstate_lock = _allocate_lock()
        lock.acquire()
        if not self._daemonic and _HAVE_SHUTDOWN_LOCKS:
            with _std._shutdown_locks_lock:
                _std._shutdown_locks.add(lock)
        hub = self._hub
        try:
            starter = getattr(_std, "_start_new_thread", None)
            if starter is None or starter is _orig_start_new_thread or starter is _start_new_thread:
                self._handle = go(self._bootstrap)
            else:  # replaced (by a test, say): let it start us, or fail
                starter(self._bootstrap, ())
        except BaseException:
            self._is_started = False
            self._tstate_lock = None
            self._forget_tstate_lock(lock)
            raise
        _raise_pending(hub)

    def _forget_tstate_lock(self, lock: Any) -> None:
        if not self._daemonic and _HAVE_SHUTDOWN_LOCKS:
            with _std._shutdown_locks_lock:
                _std._shutdown_locks.discard(lock)

    def _bootstrap(self) -> None:
        task = self._hub.current
        ident = self._ident = id(task)
        self._native_id = get_native_id()
        _active[ident] = self
        lock = self._tstate_lock
        try:
            try:
                self.run()
            except Canceled:
                pass
            except KeyboardInterrupt:
                raise  # a signal's exception: the hub hands it to the root
            except BaseException:
                _invoke_excepthook(self)  # SystemExit too; the default hook ignores it
        finally:
            _active.pop(ident, None)
            _thread._release_sentinels(ident)
            self._forget_tstate_lock(lock)
            lock.release()

    def run(self) -> None:
        """The thread's activity: calls the target (override it in subclasses)."""
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        finally:
            del self._target, self._args, self._kwargs

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
        if lock.acquire(block, timeout):
            lock.release()
            self._stop()

    def join(self, timeout: Any = None) -> None:
        """Wait until the thread ends, or ``timeout`` seconds (None: forever)."""
        if not self._initialized:
            raise RuntimeError("Thread.__init__() not called")
        if not self._is_started:
            raise RuntimeError("cannot join thread before it is started")
        if self._ident is not None and self._ident == get_ident():
            raise RuntimeError("cannot join current thread")
        if timeout is None:
            self._wait_for_tstate_lock()
        else:
            # the behavior of a negative timeout isn't documented, but
            # historically .join(timeout=x) for x<0 has acted as if timeout=0
            self._wait_for_tstate_lock(timeout=max(timeout, 0))
        _raise_pending(_current_hub())

    @property
    def name(self) -> str:
        assert self._initialized, "Thread.__init__() not called"
        return self._name

    @name.setter
    def name(self, name: Any) -> None:
        assert self._initialized, "Thread.__init__() not called"
        self._name = str(name)

    @property
    def ident(self) -> Any:
        assert self._initialized, "Thread.__init__() not called"
        return self._ident

    @property
    def native_id(self) -> Any:
        assert self._initialized, "Thread.__init__() not called"
        return self._native_id

    def is_alive(self) -> bool:
        """True from ``start()`` until ``run()`` ends."""
        assert self._initialized, "Thread.__init__() not called"
        if self._is_stopped or not self._is_started:
            return False
        self._wait_for_tstate_lock(False)
        return not self._is_stopped

    @property
    def daemon(self) -> bool:
        assert self._initialized, "Thread.__init__() not called"
        return self._daemonic

    @daemon.setter
    def daemon(self, daemonic: Any) -> None:
        if not self._initialized:
            raise RuntimeError("Thread.__init__() not called")
        if self._is_started:
            raise RuntimeError("cannot set daemon status of active thread")
        self._daemonic = bool(daemonic)

    def isDaemon(self) -> bool:
        """Deprecated: use the ``daemon`` attribute."""
        _warnings.warn("isDaemon() is deprecated, get the daemon attribute instead",
                       DeprecationWarning, stacklevel=2)
        return self.daemon

    def setDaemon(self, daemonic: Any) -> None:
        """Deprecated: set the ``daemon`` attribute."""
        _warnings.warn("setDaemon() is deprecated, set the daemon attribute instead",
                       DeprecationWarning, stacklevel=2)
        self.daemon = daemonic

    def getName(self) -> str:
        """Deprecated: use the ``name`` attribute."""
        _warnings.warn("getName() is deprecated, get the name attribute instead",
                       DeprecationWarning, stacklevel=2)
        return self.name

    def setName(self, name: Any) -> None:
        """Deprecated: set the ``name`` attribute."""
        _warnings.warn("setName() is deprecated, set the name attribute instead",
                       DeprecationWarning, stacklevel=2)
        self.name = name


class _DummyThread(Thread):
    """What ``current_thread()`` returns in a coroutine no ``Thread`` started.

    Made without ``ident`` (by the stdlib's ``current_thread()`` in an OS
    thread ``threading`` does not know), it stands for that OS thread and
    registers itself in ``threading._active``, as the stdlib's does.
    """

    def __init__(self, ident: Any = None) -> None:
        super().__init__(name=_newname("Dummy-%d"), daemon=True)
        self._is_started = True
        self._native_id = get_native_id()
        if ident is None:
            ident = self._ident = _thread._real_get_ident()
            with _std_active_limbo_lock:
                _std_active[ident] = self
        else:
            self._ident = ident

    def is_alive(self) -> bool:
        return True

    def join(self, timeout: Any = None) -> None:
        raise RuntimeError("cannot join a dummy thread")


def _invoke_excepthook(thread: Thread) -> None:
    hook = excepthook
    if hook is _orig_excepthook:
        hook = _std.excepthook  # honour ``threading.excepthook = ...`` when patched
    exc_type, exc_value, exc_tb = _sys.exc_info()
    args = ExceptHookArgs([exc_type, exc_value, exc_tb, thread])
    try:
        hook(args)
    except Exception as exc:
        exc.__suppress_context__ = True
        del exc
        stderr = _sys.stderr if _sys.stderr is not None else thread._stderr
        if stderr is not None:
            print("Exception in threading.excepthook:", file=stderr, flush=True)
        if _sys.excepthook is not None:
            _sys.excepthook(*_sys.exc_info())
    finally:
        args = None  # break the reference cycle


class Timer(Thread):
    """Call a function after ``interval`` seconds, unless ``cancel()`` comes first."""

    def __init__(self, interval: float, function: Any, args: Any = None,
                 kwargs: Any = None) -> None:
        Thread.__init__(self)
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        self.finished = Event()

    def cancel(self) -> None:
        """Stop the timer if it has not fired yet."""
        self.finished.set()

    def run(self) -> None:
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()


# ------------------------------------------------------------- functions


def current_thread() -> Any:
    """The ``Thread`` running the calling coroutine (the OS thread's in root code)."""
    hub = _current_hub()
    if hub is None:
        return _orig_current_thread()
    task = hub.current
    if task is hub.root:
        return _orig_current_thread()
    ident = id(task)
    t = _active.get(ident)
    if t is not None:
        return t
    if ident in _thread._raw:
        # A thread of _thread.start_new_thread: one dummy, in threading._active,
        # as the stdlib does for a foreign thread.
        t = _std_active.get(ident)
        if not isinstance(t, _DummyThread):
            t = _DummyThread(ident)
            with _std_active_limbo_lock:
                _std_active[ident] = t
                _thread._green_dummies.add(ident)
        return t
    return _DummyThread(ident)


def currentThread() -> Any:
    """Deprecated alias of ``current_thread``."""
    _warnings.warn("currentThread() is deprecated, use current_thread() instead",
                   DeprecationWarning, stacklevel=2)
    return current_thread()


def main_thread() -> Any:
    """The main OS thread's ``Thread`` object."""
    return _orig_main_thread()


def enumerate() -> list:
    """Every live OS thread known to ``threading`` plus every running green thread."""
    return _orig_enumerate() + list(_active.values())


def active_count() -> int:
    """``len(enumerate())``."""
    return len(enumerate())


def activeCount() -> int:
    """Deprecated alias of ``active_count``."""
    _warnings.warn("activeCount() is deprecated, use active_count() instead",
                   DeprecationWarning, stacklevel=2)
    return active_count()


def _forget_shutdown_locks() -> None:
    """Green threads' locks out of ``threading._shutdown_locks``: _at_exit joins them."""
    if not _HAVE_SHUTDOWN_LOCKS:
        return
    with _std._shutdown_locks_lock:
        locks = _std._shutdown_locks
        for lock in [x for x in locks if isinstance(x, LockType)]:
            locks.discard(lock)


def _at_exit() -> None:
    """Interpreter exit (from ``threading._shutdown``): join non-daemon green
    threads of this hub, then close the daemon ones and raw ``_thread`` ones."""
    _forget_shutdown_locks()
    hub = _current_hub()
    if hub is None:
        return
    task = hub.current
    if task.canceled:
        return
    while True:
        waiting = [t for t in list(_active.values())
                   if not t._daemonic and t._hub is hub and not t._is_stopped]
        if not waiting:
            break
        for t in waiting:
            t.join()
    for t in list(_active.values()):
        if t._hub is hub and t._handle is not None:
            t._handle.close()
    _thread._close_raw()


try:
    _std._register_atexit(_at_exit)
except (AttributeError, RuntimeError):  # pragma: no cover - at shutdown already
    import atexit as _atexit
    _atexit.register(_at_exit)

for _name in __all__:
    if _name not in globals():  # a newer Python's names we do not replace
        globals()[_name] = getattr(_std, _name)
del _name
