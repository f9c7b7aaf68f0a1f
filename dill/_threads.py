"""Threads interop: ``to_thread`` (a bounded worker pool) and ``Portal``.

Everything here talks to a hub from another OS thread only through
``hub.call_threadsafe`` (whose callbacks only wake tasks), so no hub state is
ever touched from the wrong thread.  While another thread owes a hub a wake-up
(a ``to_thread`` call in flight, an open ``Portal``) the hub's
``remote_waits`` is nonzero, so an idle hub sleeps on its wake-up pipe rather
than reporting a deadlock; a hub that uses none of this pays nothing.

The pool uses the ``_thread`` primitives captured at import time, so it keeps
running real OS threads when ``dill.patch`` turns ``threading`` green.
"""

from __future__ import annotations

import _thread
import os
from collections import deque
from contextvars import copy_context
from typing import Any, Callable

from greenlet import GreenletExit

from ._coroutine import Bundle, Call, _unpack
from ._errors import BadHandle, Canceled, TimedOut
from ._handle import Handle
from ._hub import (
    TIMEOUT, Hub, _local, check_deadline, get_hub, now, reason_error, report_unraisable,
)

__all__ = ["to_thread", "Portal", "set_max_workers", "worker_idents", "own_thread_idents"]

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


def _after_fork() -> None:  # the child has none of the parent's workers
    global _pool
    _pool = _Pool(_pool.max)


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


def own_thread_idents() -> frozenset[int]:
    """Idents of every OS thread dill itself runs: pool workers, the detector's watchdog."""
    from ._detector import watchdog_idents

    return frozenset(_pool.idents) | watchdog_idents()


# ---------------------------------------------------------------- to_thread

# One lock guards the hand-over between a worker finishing and its caller
# giving up; both sides hold it only to flip a flag.
_handover = _allocate_lock()


class _Job:
    __slots__ = ("hub", "task", "ctx", "fn", "args", "kwargs", "result", "exc",
                 "abandoned", "delivering", "delivered")

    def __init__(self, hub: Hub, task: Any, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.hub = hub
        self.task = task
        self.ctx: Any = copy_context()
        self.fn: Any = fn
        self.args: Any = args
        self.kwargs: Any = kwargs
        self.result: Any = None
        self.exc: BaseException | None = None
        self.abandoned = False   # the caller gave up (set in the hub's thread)
        self.delivering = False  # the worker queued deliver() (set in the worker)
        self.delivered = False   # deliver() ran (set in the hub's thread)

    def run(self) -> None:
        """In a worker thread."""
        fn, args, kwargs, ctx = self.fn, self.args, self.kwargs, self.ctx
        self.fn = self.args = self.kwargs = self.ctx = None
        try:
            self.result = ctx.run(fn, *args, **kwargs)
        except BaseException as e:
            self.exc = e
        with _handover:
            abandoned = self.abandoned
            self.delivering = not abandoned
        if abandoned:
            self.report()
            return
        self.hub.call_threadsafe(self.deliver)

    def deliver(self) -> None:
        """In the hub's thread, from the scheduler: wake the caller."""
        hub = self.hub
        hub.remote_waits -= 1
        self.delivered = True
        if self.abandoned:  # the caller gave up after the worker finished
            self.report()
        else:  # a no-op if a cancel or timeout woke it first: see to_thread
            hub.wake(self.task, None)
        self.task = None

    def report(self) -> None:
        exc, self.exc, self.result = self.exc, None, None
        if exc is not None:
            report_unraisable(exc, self, "to_thread: the call raised after its "
                              "caller gave up (canceled or timed out)")

    def __repr__(self) -> str:
        return "<dill.to_thread call>"


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
    task = hub.current
    if task.canceled:
        raise Canceled()
    if deadline >= 0 and deadline <= now():
        raise TimedOut()
    hub.enable_threadsafe()
    job = _Job(hub, task, fn, args, kwargs)
    hub.remote_waits += 1
    try:
        _pool.submit(job)
    except BaseException:
        hub.remote_waits -= 1
        raise
    v = hub.wait(task, deadline)
    if v is None:
        exc = job.exc
        if exc is not None:
            job.exc = None
            try:
                raise exc
            finally:
                exc = None
        result, job.result = job.result, None
        return result
    # Gave up: timed out, canceled or interrupted.
    with _handover:
        job.abandoned = True
        delivering = job.delivering
    if not delivering:  # the worker will see ``abandoned`` and report itself
        hub.remote_waits -= 1
        job.task = None
    elif job.delivered:  # it finished, but a cancel/timeout woke us first
        job.report()
    # else: deliver() is on its way; it releases remote_waits and reports.
    raise reason_error(task, v)


# -------------------------------------------------------------------- Portal


class _Request:
    """One ``Portal.call`` crossing from a foreign thread into the hub."""

    __slots__ = ("fn", "args", "kwargs", "result", "exc", "done_lock", "notify",
                 "task", "abandoned", "finished")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.result: Any = None
        self.exc: BaseException | None = None
        self.done_lock: Any = None   # a plain thread blocks on this ...
        self.notify: Any = None      # ... a coroutine of another hub is woken by this
        self.task: Any = None        # the coroutine running it, in the portal's hub
        self.abandoned = False       # the caller gave up (canceled)
        self.finished = False

    def finish(self, result: Any, exc: BaseException | None) -> None:
        """In the portal's hub: hand the outcome to the caller."""
        with _handover:
            self.finished = True
            abandoned = self.abandoned
            if not abandoned:
                self.result, self.exc = result, exc
        if abandoned:
            if exc is not None and not isinstance(exc, Canceled):
                report_unraisable(exc, self, "Portal.call: the call raised after "
                                  "its caller gave up")
            return
        if self.done_lock is not None:
            self.done_lock.release()
        else:
            self.notify()


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
                 "_stopped", "_servers", "__weakref__")

    def __init__(self) -> None:
        self._closed = False
        hub = self._hub = get_hub()
        hub.enable_threadsafe()
        self._mutex = _allocate_lock()
        self._requests: deque[_Request] = deque()
        self._stopped = False
        self._servers: list = []
        self._bundle = Bundle()
        self._dispatcher: Any = None
        hub.remote_waits += 1
        try:
            self._bundle.go(self._dispatch)
        except BaseException:
            hub.remote_waits -= 1
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
            v = hub.wait(me, -1)
            if v is not None:
                raise reason_error(me, v)

    def _kick(self) -> None:
        """call_threadsafe callback: a request is queued."""
        d = self._dispatcher
        if d is not None:
            self._hub.wake(d, None)

    def _serve_one(self, req: _Request) -> None:
        req.task = self._hub.current
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
        req.task = None

    def _cancel_request(self, req: _Request) -> None:
        """call_threadsafe callback: the caller (a coroutine elsewhere) gave up."""
        task = req.task
        if task is not None and not req.finished:
            self._hub.cancel(task)

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
        self._servers.append(task)
        try:
            v = hub.wait(task, deadline)
        finally:
            if task in self._servers:
                self._servers.remove(task)
        if v is not None and v is not TIMEOUT:
            raise reason_error(task, v)

    def _wake_servers(self) -> None:
        servers, self._servers = self._servers, []
        for t in servers:
            self._hub.wake(t, None)

    def on_close(self) -> None:
        hub = self._hub
        if _get_ident() != hub.thread_id:
            self._closed = False
            raise RuntimeError("close a Portal in its own thread")
        with self._mutex:
            pending = list(self._requests)
            self._requests.clear()
        hub.remote_waits -= 1
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
        if my_hub is not None:  # this thread runs dill code: let its hub go on
            return self._call_from_hub(my_hub, req)
        lock = req.done_lock = _allocate_lock()
        lock.acquire()
        self._submit(req)
        lock.acquire()
        return self._outcome(req)

    def _submit(self, req: _Request) -> None:
        with self._mutex:
            if self._closed:
                raise BadHandle("the Portal is closed")
            self._requests.append(req)
        try:
            self._hub.call_threadsafe(self._kick)
        except RuntimeError:  # pragma: no cover - enable_threadsafe ran in __init__
            raise BadHandle("the Portal is closed") from None

    @staticmethod
    def _outcome(req: _Request) -> Any:
        exc = req.exc
        if exc is not None:
            req.exc = None
            try:
                raise exc
            finally:
                exc = None
        result, req.result = req.result, None
        return result

    def _call_from_hub(self, my_hub: Hub, req: _Request) -> Any:
        """The caller is a coroutine of another hub: only it waits."""
        task = my_hub.current
        if task.canceled:
            raise Canceled()
        my_hub.enable_threadsafe()

        def woken() -> None:  # in my_hub's thread
            my_hub.remote_waits -= 1
            if not req.abandoned:  # else the task may be waiting on something else
                my_hub.wake(task, None)

        req.notify = lambda: my_hub.call_threadsafe(woken)
        my_hub.remote_waits += 1
        try:
            self._submit(req)
        except BaseException:
            my_hub.remote_waits -= 1
            raise
        v = my_hub.wait(task, -1)
        if v is None:
            return self._outcome(req)
        with _handover:
            req.abandoned = True
            finished = req.finished
        if finished:  # the outcome came, but a cancel woke us first: drop it
            # (woken() is queued; it releases remote_waits and wakes nothing)
            exc, req.exc, req.result = req.exc, None, None
            if exc is not None and not isinstance(exc, Canceled):
                report_unraisable(exc, req, "Portal.call: the call raised after "
                                  "its caller gave up")
        else:
            my_hub.remote_waits -= 1
            try:
                self._hub.call_threadsafe(lambda: self._cancel_request(req))
            except RuntimeError:  # pragma: no cover
                pass
        raise reason_error(task, v)

    def __repr__(self) -> str:
        return f"<dill.Portal {'closed' if self._closed else 'open'}>"
