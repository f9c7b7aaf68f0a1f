"""Threads interop: ``to_thread`` (a bounded worker pool) and ``Portal``.

Everything here talks to a hub from another OS thread only through
``hub.call_threadsafe`` (whose callbacks only wake tasks), so no hub state is
ever touched from the wrong thread.  Both cross the threads through one
hand-off (``_Handoff``).  While another thread owes a hub a wake-up (a
``to_thread`` call in flight, an open ``Portal``) a ``RemoteWait`` token is
held, so an idle hub sleeps on its wake-up pipe rather than reporting a
deadlock; a hub that uses none of this pays nothing.

The pool uses the ``_thread`` primitives captured at import time, so it keeps
running real OS threads when ``dill.patch`` turns ``threading`` green.
"""

from __future__ import annotations

import _thread
import os
import sys
from collections import deque
from contextvars import copy_context
from typing import Any, Callable

from greenlet import GreenletExit

from ._coroutine import Bundle, Call, _unpack
from ._errors import BadHandle, Canceled, TimedOut
from ._handle import Handle
from ._hub import (
    TIMEOUT, Hub, RemoteWait, _local, check_deadline, get_hub, now, reason_error,
    report_unraisable,
)
from ._wait import WaitQueue

__all__ = ["to_thread", "Portal", "set_max_workers", "worker_idents", "own_thread_idents",
           "start_own_thread"]

_allocate_lock = _thread.allocate_lock
_start_new_thread = _thread.start_new_thread
_get_ident = _thread.get_ident


# ------------------------------------------------------------------ the pool


def _default_workers() -> int:
    return min(32, (os.cpu_count() or 1) + 4)


class _Pool:
    """A bounded pool of OS threads shared by every hub of the process.

    Threads start lazily, one per job while none is idle, up to ``max``; jobs
    beyond that wait in FIFO order.  Workers are daemonic (an abandoned
    blocking call never keeps the process alive) and live until the pool
    shrinks (``set_max_workers``).
    """

    def __init__(self, max_workers: int) -> None:
        self.max = max_workers
        self.mutex = _allocate_lock()
        self.jobs: deque = deque()
        self.idle: list[list] = []  # [lock, job] slots of idle workers
        self.nthreads = 0
        self.idents: set[int] = set()
        self.started = 0

    def submit(self, job: Any) -> None:
        with self.mutex:
            if self.idle:
                slot = self.idle.pop()
                slot[1] = job
                slot[0].release()
                return
            self.jobs.append(job)
            if self.nthreads >= self.max:
                return
            self.nthreads += 1
            self.started += 1
            n = self.started
        _start_new_thread(self._worker, (n,))

    def _worker(self, n: int) -> None:
        me = _get_ident()
        self.idents.add(me)
        lock = _allocate_lock()
        lock.acquire()
        slot = [lock, None]
        mutex = self.mutex
        try:
            while True:
                with mutex:
                    if self.nthreads > self.max:  # the pool shrank
                        self.nthreads -= 1
                        return
                    if self.jobs:
                        job = self.jobs.popleft()
                    else:
                        job = None
                        self.idle.append(slot)
                if job is None:
                    lock.acquire()  # submit() hands us a job and releases it
                    job, slot[1] = slot[1], None
                job.run()
                job = None
        finally:
            self.idents.discard(me)


_pool = _Pool(_default_workers())


def _after_fork() -> None:  # the child has none of the parent's threads
    global _pool, _own_lock
    _pool = _Pool(_pool.max)
    _own_lock = _allocate_lock()  # a thread that is gone may have held it
    _own.clear()
    _ending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def set_max_workers(n: int | None = None) -> int:
    """Set the bound of the ``to_thread`` pool (None: the default); return the old one.

    Shrinking takes effect as workers finish their current call.
    """
    if n is None:
        n = _default_workers()
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"max workers must be an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"max workers must be at least 1, not {n}")
    pool = _pool
    with pool.mutex:
        old, pool.max = pool.max, n
        extra = []
        excess = pool.nthreads - n
        while excess > 0 and pool.idle:  # wake idle extras so they exit
            excess -= 1
            slot = pool.idle.pop()
            slot[1] = _EXIT
            extra.append(slot)
        for slot in extra:
            slot[0].release()
    # more room: start threads for queued jobs
    while True:
        with pool.mutex:
            if not pool.jobs or pool.nthreads >= pool.max or pool.idle:
                break
            pool.nthreads += 1
            pool.started += 1
            k = pool.started
        _start_new_thread(pool._worker, (k,))
    return old


class _Exit:
    def run(self) -> None:
        pass


_EXIT = _Exit()


def worker_idents() -> frozenset[int]:
    """Thread idents (``threading.get_ident()``) of the pool's live workers."""
    return frozenset(_pool.idents)


# dill's own OS threads outside the pool (the blocking detector's watchdog, the
# inspection listener, the pytest plugin's watchdog), by ident: registered from
# the moment they are started, forgotten once they are gone.
_own_lock = _allocate_lock()
_own: set[int] = set()
_ending: set[int] = set()  # of those, the ones whose function has returned


def start_own_thread(fn: Callable, args: tuple = ()) -> int:
    """Start ``fn(*args)`` in a real OS thread that is dill's own: ``dill.patch()``
    never counts it as the program's.  Returns its ident."""
    def run() -> None:
        try:
            fn(*args)
        finally:
            with _own_lock:
                _ending.add(_get_ident())

    with _own_lock:
        ident = _start_new_thread(run, ())
        _own.add(ident)
        _ending.discard(ident)  # idents are reused: an old thread's end is not ours
    return ident


def own_thread_idents() -> frozenset[int]:
    """Idents of every OS thread dill itself runs: pool workers and the threads
    of ``start_own_thread``, from their start until they are gone."""
    with _own_lock:
        if _ending:
            gone = _ending.difference(sys._current_frames())  # no frame left: exited
            _own.difference_update(gone)
            _ending.difference_update(gone)
        return frozenset(_pool.idents) | frozenset(_own)


# ----------------------------------------------------------- the hand-off

# One lock guards the race between a producer finishing and its waiter giving
# up; both sides hold it only to flip a flag.
_handover = _allocate_lock()


class _Handoff:
    """One call crossing between OS threads: its outcome and who waits for it.

    The waiter is either a task of some hub (it blocks there, holding a
    ``RemoteWait`` so that its idle hub waits instead of reporting a
    deadlock, and is woken through that hub's ``call_threadsafe``) or a plain
    OS thread (blocked on a lock).  The producer, in another thread, calls
    ``finish`` exactly once.  A task may give up first (cancel, deadline):
    the outcome is then dropped, and an exception in it reported through
    ``sys.unraisablehook`` (``what`` names the call in that report).
    """

    __slots__ = ("what", "task", "token", "lock", "result", "exc", "abandoned", "finished")

    def __init__(self, what: str) -> None:
        self.what = what
        self.task: Any = None
        self.token: RemoteWait | None = None
        self.lock: Any = None
        self.result: Any = None
        self.exc: BaseException | None = None
        self.abandoned = False  # the waiting task gave up (set in its hub's thread)
        self.finished = False   # the producer finished (set in its thread)

    # ------------------------------------------------------------ waiter side

    def wait_task(self, hub: Hub, op: str, obj: Any, deadline: int,
                  submit: Callable[[], None],
                  abandon: Callable[[], None] | None = None) -> Any:
        """Block the current task of ``hub`` until ``finish``; return the result.

        ``submit()`` starts the producer.  On cancel or deadline this gives up
        (``abandon()`` then runs, if the outcome had not come yet) and raises.
        """
        task = self.task = hub.current
        token = self.token = RemoteWait(hub)
        try:
            submit()
        except BaseException:
            token.release()
            raise
        v = hub.block(task, op, obj, deadline)
        if v is None:
            token.release()
            return self._outcome()
        with _handover:
            self.abandoned = True
            finished = self.finished
        token.release()  # idempotent: _deliver may still be queued
        if finished:  # the outcome came, but a cancel or timeout woke us first
            self._report(self.exc)
            self.exc = self.result = None
        elif abandon is not None:
            abandon()
        raise reason_error(task, v)

    def wait_thread(self, submit: Callable[[], None]) -> Any:
        """Block the calling OS thread (no hub involved) until ``finish``."""
        lock = self.lock = _allocate_lock()
        lock.acquire()
        submit()
        lock.acquire()
        return self._outcome()

    def _outcome(self) -> Any:
        exc = self.exc
        if exc is not None:
            self.exc = None
            try:
                raise exc
            finally:
                exc = None
        result, self.result = self.result, None
        return result

    # ---------------------------------------------------------- producer side

    def finish(self, result: Any, exc: BaseException | None) -> None:
        """Hand the outcome to the waiter (from any thread), once."""
        with _handover:
            self.finished = True
            abandoned = self.abandoned
            if not abandoned:
                self.result, self.exc = result, exc
        if abandoned:
            self._report(exc)
        elif self.lock is not None:
            self.lock.release()
        else:
            self.task.hub.call_threadsafe(self._deliver)

    def _deliver(self) -> None:
        """In the waiter's hub, from the scheduler: wake it (unless it gave up)."""
        self.token.release()  # type: ignore[union-attr]
        if not self.abandoned:
            self.task.hub.wake(self.task, None)
        self.task = None

    def _report(self, exc: BaseException | None) -> None:
        if exc is not None and not isinstance(exc, Canceled):
            report_unraisable(exc, self, f"{self.what}: the call raised after its "
                              "caller gave up (canceled or timed out)")

    def __repr__(self) -> str:
        return f"<dill.{self.what} call>"


# ---------------------------------------------------------------- to_thread


class _Job(_Handoff):
    """A ``to_thread`` call: run by a pool worker, waited for by a task."""

    __slots__ = ("ctx", "fn", "args", "kwargs")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        super().__init__("to_thread")
        self.ctx: Any = copy_context()
        self.fn: Any = fn
        self.args: Any = args
        self.kwargs: Any = kwargs

    def run(self) -> None:
        """In a worker thread."""
        fn, args, kwargs, ctx = self.fn, self.args, self.kwargs, self.ctx
        self.fn = self.args = self.kwargs = self.ctx = None
        try:
            result = ctx.run(fn, *args, **kwargs)
        except BaseException as e:
            self.finish(None, e)
        else:
            self.finish(result, None)


def to_thread(fn: Callable, *args: Any, deadline: int | None = -1, **kwargs: Any) -> Any:
    """Run the blocking ``fn(*args, **kwargs)`` in a worker thread; return its result.

    Only the calling coroutine waits (root code may call it too).  The pool is
    bounded (``min(32, os.cpu_count() + 4)`` threads shared by all hubs;
    calls beyond it queue).  ``fn`` runs in a copy of the caller's context
    variables.  Its exception is raised here.

    On cancel or at the deadline this raises ``Canceled`` / ``TimedOut`` at
    once; the thread finishes on its own and its result is dropped (an
    exception is reported through ``sys.unraisablehook``).  A caller that is
    already canceled, or whose deadline has already passed (0 included), gets
    the error without ``fn`` being started.
    """
    if deadline.__class__ is not int:
        deadline = check_deadline(deadline)
    if not callable(fn):
        raise TypeError(f"to_thread() needs a callable, not {type(fn).__name__}")
    hub = get_hub()
    if hub.current.canceled:
        raise Canceled()
    if deadline >= 0 and deadline <= now():
        raise TimedOut()
    job = _Job(fn, args, kwargs)
    return job.wait_task(hub, "to_thread", fn, deadline, lambda: _pool.submit(job))


# -------------------------------------------------------------------- Portal


class _Request(_Handoff):
    """One ``Portal.call`` crossing from a foreign thread into the portal's hub."""

    __slots__ = ("fn", "args", "kwargs", "runner")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        super().__init__("Portal.call")
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.runner: Any = None  # the coroutine running it, in the portal's hub


class Portal(Handle):
    """Lets other OS threads run code in this thread's hub.

    Make it in the hub's thread; from any other thread,
    ``portal.call(fn, *args)`` runs ``fn(*args)`` (a plain callable or an
    unstarted ``@coroutine`` call) as a new coroutine in this hub, blocks the
    calling thread until it finishes and returns its result or raises its
    exception.  (Called from a coroutine of another dill hub, only that
    coroutine waits, and canceling it cancels the call.)

    Calls run whenever this hub's thread is blocked in any dill call — for
    instance in ``portal.serve(deadline)``, ``to_thread(t.join)``, ``msleep``
    or ``bundle_wait``::

        with Portal() as portal:
            t = threading.Thread(target=work, args=(portal,))
            t.start()
            to_thread(t.join)        # serves portal calls while it waits

    ``hclose(portal)`` cancels the calls in flight (their callers get
    ``Canceled``); later calls raise ``BadHandle``.  An open portal with no
    pending call costs nothing: its dispatcher coroutine sleeps and the hub
    only finds out about a call when the calling thread wakes it.
    """

    __slots__ = ("_closed", "_hub", "_mutex", "_requests", "_bundle", "_dispatcher",
                 "_stopped", "_servers", "_token", "__weakref__")

    def __init__(self) -> None:
        self._closed = False
        hub = self._hub = get_hub()
        self._mutex = _allocate_lock()
        self._requests: deque[_Request] = deque()
        self._stopped = False
        self._servers = WaitQueue()
        self._bundle = Bundle()
        self._dispatcher: Any = None
        # Other threads may call in at any time: the idle hub must wait for them.
        self._token = RemoteWait(hub)
        try:
            self._bundle.go(self._dispatch)
        except BaseException:
            self._token.release()
            self._closed = True
            raise

    # ------------------------------------------------------- in the hub's thread

    def _dispatch(self) -> None:
        hub = self._hub
        me = self._dispatcher = hub.current
        requests = self._requests
        go_ = self._bundle.go
        while True:
            while requests:
                req = requests.popleft()
                if not req.abandoned:
                    go_(self._serve_one, req)
            v = hub.block(me, "portal", self, -1)
            if v is not None:
                raise reason_error(me, v)

    def _kick(self) -> None:
        """call_threadsafe callback: a request is queued."""
        d = self._dispatcher
        if d is not None:
            self._hub.wake(d, None)

    def _serve_one(self, req: _Request) -> None:
        req.runner = self._hub.current
        try:
            fn, args, kwargs = _unpack(req.fn, req.args, req.kwargs)
            result = fn(*args, **(kwargs or {}))
        except GreenletExit:
            req.finish(None, Canceled("the portal's thread is exiting"))
            raise
        except BaseException as e:
            req.finish(None, e)
        else:
            req.finish(result, None)
        req.runner = None

    def _cancel_request(self, req: _Request) -> None:
        """call_threadsafe callback: the caller (a coroutine elsewhere) gave up."""
        runner = req.runner
        if runner is not None and not req.finished:
            self._hub.cancel(runner)

    def serve(self, deadline: int | None = -1) -> None:
        """Block this hub's root/coroutine, serving calls, until the deadline or ``stop()``.

        Returns at the deadline like ``msleep``, at once after ``stop()`` was
        called (from any thread), or when the portal is closed.
        """
        self._check()
        if deadline.__class__ is not int:
            deadline = check_deadline(deadline)
        hub = self._hub
        if _get_ident() != hub.thread_id:
            raise RuntimeError("Portal.serve() must be called in the portal's own thread")
        task = hub.current
        if task.canceled:
            raise Canceled()
        if self._stopped:
            return
        self._servers.park(task)
        v = hub.block(task, "portal", self, deadline)
        if v is not None:
            self._servers.give_up()
            if v is not TIMEOUT:
                raise reason_error(task, v)

    def _wake_servers(self) -> None:
        self._servers.wake_all()

    def check_close(self) -> None:
        if _get_ident() != self._hub.thread_id:
            raise RuntimeError("close a Portal in its own thread")

    def on_close(self) -> None:
        with self._mutex:
            pending = list(self._requests)
            self._requests.clear()
        self._token.release()
        self._wake_servers()
        for req in pending:
            req.finish(None, Canceled("the portal was closed"))
        self._dispatcher = None
        self._bundle.close()  # cancels calls in flight: their callers get Canceled

    # ------------------------------------------------------- from other threads

    def stop(self) -> None:
        """Make ``serve()`` return (now and from then on).  Callable from any thread."""
        self._stopped = True
        if _get_ident() == self._hub.thread_id:
            self._wake_servers()
        elif not self._closed:
            try:
                self._hub.call_threadsafe(self._wake_servers)
            except RuntimeError:
                pass

    def call(self, fn: Callable | Call, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as a new coroutine in the portal's hub; wait for it.

        Returns its result or raises its exception; ``Canceled`` if the portal
        is closed meanwhile, ``BadHandle`` if it is closed already,
        ``RuntimeError`` from the portal's own thread (it would deadlock).
        """
        hub = self._hub
        me = _get_ident()
        if me == hub.thread_id:
            raise RuntimeError("Portal.call() from the portal's own thread would deadlock; "
                               "call the function directly or use go()")
        if fn.__class__ is not Call and not callable(fn):
            raise TypeError(f"Portal.call() needs a callable or a @coroutine call, "
                            f"not {type(fn).__name__}")
        req = _Request(fn, args, kwargs)
        my_hub = getattr(_local, "hub", None)
        if my_hub is None:  # a plain thread: block it
            return req.wait_thread(lambda: self._submit(req))
        # This thread runs dill code: only the calling coroutine waits, and
        # canceling it cancels the call.
        if my_hub.current.canceled:
            raise Canceled()
        return req.wait_task(my_hub, "portal", self, -1, lambda: self._submit(req),
                             abandon=lambda: self._abandon(req))

    def _abandon(self, req: _Request) -> None:
        try:
            self._hub.call_threadsafe(lambda: self._cancel_request(req))
        except RuntimeError:  # pragma: no cover - enable_threadsafe ran in __init__
            pass

    def _submit(self, req: _Request) -> None:
        with self._mutex:
            if self._closed:
                raise BadHandle("the Portal is closed")
            self._requests.append(req)
        try:
            self._hub.call_threadsafe(self._kick)
        except RuntimeError:  # pragma: no cover - enable_threadsafe ran in __init__
            raise BadHandle("the Portal is closed") from None

    def __repr__(self) -> str:
        return f"<dill.Portal {'closed' if self._closed else 'open'}>"
