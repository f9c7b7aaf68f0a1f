"""The scheduler: one hub per OS thread.

The hub owns the ready queue, the timer heap and the fd poller, and it is the
only place that switches greenlets (``suspend`` and ``spawn``) and reads the
clock (``now``).  Invariants:

* ``hub.current`` is the task whose greenlet is running.  Whoever switches to a
  task sets it first.
* A task is woken at most once per wait: ``wake`` clears ``task.waiting``, and
  every waker skips tasks whose ``waiting`` is already 0.
* A woken task removes its own leftover registrations (channel queue entries,
  fd slots, its timer) when it resumes, before it can wait again, so wakers only
  ever mutate queues and never switch while a queue is half-updated.
* Tasks resume in FIFO order.  A blocked task switches straight to the next
  ready task (no detour through the hub greenlet); once per pass over the ready
  queue the suspending task itself polls fds and fires due timers
  (``_tick``).  The hub greenlet runs only to sleep when nothing is ready.
"""

from __future__ import annotations

import errno
import os
import select
import sys
import threading
import time
from collections import deque
from contextvars import copy_context
from heapq import heapify, heappop, heappush
from itertools import count
from typing import Any, Callable

from greenlet import GreenletExit, getcurrent, greenlet

from ._errors import BadHandle, Canceled, Done, NotSupported, TimedOut

__all__ = ["now", "get_hub"]

# Bound at import: dill.patch later swaps green versions into these modules,
# and the hub itself must keep the real ones.
_monotonic_ns = time.monotonic_ns
_os_sleep = time.sleep
_epoll = getattr(select, "epoll", None)
_os_poll = getattr(select, "poll", None)
_thread_ident = threading.get_ident


def now() -> int:
    """Milliseconds on a monotonic clock: the time base of every deadline."""
    return _monotonic_ns() // 1_000_000


class Reason:
    """Why a waiting task was woken, when it was not handed a value."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<wake {self.name}>"


TIMEOUT = Reason("timeout")
CANCEL = Reason("cancel")
DONE = Reason("done")
CLOSED = Reason("closed")
INTERRUPT = Reason("interrupt")


def reason_error(task: "Task", why: Reason) -> BaseException:
    """The exception a wait raises for a wake reason."""
    if why is TIMEOUT:
        return TimedOut()
    if why is CANCEL:
        return Canceled()
    if why is DONE:
        return Done()
    if why is CLOSED:
        return BadHandle("the handle was closed while waiting on it")
    exc = task.pending_exc
    task.pending_exc = None
    return exc if exc is not None else RuntimeError("spurious interrupt")


# task.waiting values
NOT_WAITING = 0
CANCELABLE = 1
UNCANCELABLE = 2


class Task:
    """Scheduling state of one coroutine (or of a thread's root code).

    It lives apart from the greenlet so that worker greenlets can be reused.
    """

    __slots__ = (
        "greenlet", "waiting", "resume", "canceled", "pending_exc",
        "fn", "args", "kwargs", "group", "result", "exc", "finished",
    )

    def __init__(self, fn: Any = None, args: Any = (), kwargs: Any = None,
                 group: Any = None) -> None:
        self.greenlet: Any = None
        self.waiting = NOT_WAITING
        self.resume: Any = None
        self.canceled = False
        self.pending_exc: BaseException | None = None
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.group = group
        self.result: Any = None
        self.exc: Exception | None = None
        self.finished = False


# Idle worker greenlets kept for reuse.  A new greenlet's first switch and its
# death cost ~4 us each (CPython maps and unmaps a data-stack chunk); a reused
# one costs ~0.2 us.  A burst keeps up to IDLE_MAX of them (~6 KB each); while
# the hub has nothing to do it trims the pool back to IDLE_KEEP, IDLE_TRIM at a
# time, polling for events between batches.
IDLE_MAX = 32768
IDLE_KEEP = 256
IDLE_TRIM = 64
# Rebuild the timer heap when this many dead entries are in it (and they are
# the majority): waits that finish early leave their timer entries behind.
DEAD_TIMERS_MAX = 1024

_EV_IN = select.POLLIN | select.POLLPRI
_EV_OUT = select.POLLOUT
_EV_ERR = select.POLLERR | select.POLLHUP | getattr(select, "POLLRDHUP", 0)


class _Poller:
    """epoll where there is one, poll(2) elsewhere; timeouts in milliseconds."""

    def __init__(self) -> None:
        self._p: Any
        self.close: Callable[[], None]
        if _epoll is not None:
            self._p = _epoll()
            self._scale = 0.001
            self.close = self._p.close
        else:  # pragma: no cover - non-Linux
            self._p = _os_poll()  # type: ignore[misc]
            self._scale = 1
            self.close = lambda: None
        self.register = self._p.register
        self.modify = self._p.modify
        self.unregister = self._p.unregister

    def poll(self, timeout_ms: int) -> list:
        if timeout_ms < 0:
            return self._p.poll(-1)
        return self._p.poll(timeout_ms * self._scale)


class Hub:
    """Per-thread scheduler state.  Get it with ``get_hub()``."""

    def __init__(self) -> None:
        self.ready: deque[Task] = deque()
        self.timers: list[list] = []
        self.dead_timers = 0
        self._seq = count()
        self.budget = 0
        self.idle: list = []
        self.fdwaits: dict[int, list] = {}
        self.nregistered = 0
        self.poller: _Poller | None = None
        self.thread_id = _thread_ident()
        self._threadsafe: deque | None = None
        # How many wake-ups other OS threads owe this hub (to_thread calls in
        # flight, open Portals; kept by dill._threads).  While nonzero, an idle
        # hub sleeps on the wake-up pipe instead of reporting a deadlock.
        self.remote_waits = 0
        self._wake_r = self._wake_w = -1
        root = Task()
        root.greenlet = getcurrent()
        self.root = root
        self.current = root
        loop = Task()
        loop.greenlet = greenlet(self._loop)
        self.loop_task = loop

    # ------------------------------------------------------------------ switch

    def suspend(self) -> Any:
        """Switch away from the current task; return its wake value on resume.

        The caller has registered the current task wherever it waits (or put it
        in the ready queue).  Hot path: one decrement, a popleft and a switch.
        """
        b = self.budget - 1
        if b <= 0:
            self._tick()
            b = len(self.ready)
        self.budget = b
        ready = self.ready
        cur = self.current
        nxt = ready.popleft() if ready else self.loop_task
        self.current = nxt
        nxt.greenlet.switch()
        return cur.resume

    def wait(self, task: Task, deadline: int) -> Any:
        """Block the current task until woken or until ``deadline`` (-1: never).

        Returns the wake value (a ``Reason`` on timeout/cancel/...).  The caller
        registered the task in its wait queues and removes it on a ``Reason``.
        """
        if task.pending_exc is not None:
            return INTERRUPT
        task.waiting = CANCELABLE
        if deadline < 0:
            return self.suspend()
        entry = [deadline, next(self._seq), task]
        heappush(self.timers, entry)
        v = self.suspend()
        if entry[2] is not None:  # woken before the timer fired
            entry[2] = None
            dead = self.dead_timers = self.dead_timers + 1
            if dead > DEAD_TIMERS_MAX and dead * 2 > len(self.timers):
                self._compact_timers()
        return v

    def wait_uncancelable(self, task: Task) -> Any:
        """Block until woken; cancellation does not interrupt (used by hclose)."""
        task.waiting = UNCANCELABLE
        return self.suspend()

    def wake(self, task: Task, value: Any = None) -> None:
        """Make a waiting task ready, handing it ``value``."""
        if task.waiting:
            task.waiting = NOT_WAITING
            task.resume = value
            self.ready.append(task)

    def cancel(self, task: Task) -> None:
        """Mark a task canceled and wake it if it sits in a cancelable wait."""
        task.canceled = True
        if task.waiting == CANCELABLE:
            task.waiting = NOT_WAITING
            task.resume = CANCEL
            self.ready.append(task)

    def interrupt_root(self, exc: BaseException) -> None:
        """Deliver a KeyboardInterrupt/SystemExit-like exception to the root task."""
        root = self.root
        root.pending_exc = exc
        if root.waiting:
            root.waiting = NOT_WAITING
            root.resume = INTERRUPT
            self.ready.append(root)

    def yield_(self) -> None:
        """Requeue the current task at the back and run the others once."""
        cur = self.current
        if cur.canceled:
            raise Canceled()
        if cur.pending_exc is not None:
            raise reason_error(cur, INTERRUPT)
        self.ready.append(cur)
        self.suspend()
        if cur.canceled:  # canceled while it sat in the ready queue
            raise Canceled()

    # ------------------------------------------------------------------- spawn

    def spawn(self, fn: Callable, args: tuple, kwargs: Any, group: Any) -> Task:
        """Start ``fn(*args, **kwargs)`` as a new task and run it at once.

        The caller goes to the back of the ready queue (libdill's order).
        """
        cur = self.current
        if cur.canceled:
            raise Canceled()
        task = Task(fn, args, kwargs, group)
        group.running += 1
        if group.members is not None:
            group.members[task] = None
        idle = self.idle
        g = idle.pop() if idle else greenlet(self._worker, self.loop_task.greenlet)
        # The coroutine runs in a copy of the spawner's context variables.  Set
        # on the (not running) greenlet rather than through Context.run, which
        # would re-enter the interpreter and leave a deeper C stack to save at
        # every switch.
        g.gr_context = copy_context()
        task.greenlet = g
        self.ready.append(cur)
        self.current = task
        g.switch(task)
        return task

    def _worker(self, task: Task) -> None:
        """Body of a worker greenlet: run tasks until the idle pool is full."""
        me = task.greenlet
        idle = self.idle
        while True:
            self._run(task)
            if len(idle) >= IDLE_MAX:
                self.current = self.loop_task
                return  # the greenlet dies; its parent, the hub loop, takes over
            idle.append(me)
            # Park: switch to the next ready task; spawn() switches back to us
            # with the next task to run.
            b = self.budget - 1
            if b <= 0:
                self._tick()
                b = len(self.ready)
            self.budget = b
            ready = self.ready
            nxt = ready.popleft() if ready else self.loop_task
            self.current = nxt
            task = nxt.greenlet.switch()

    def _run(self, task: Task) -> None:
        fn, args, kwargs = task.fn, task.args, task.kwargs
        task.fn = task.args = task.kwargs = None
        try:
            if kwargs:
                task.result = fn(*args, **kwargs)
            else:
                task.result = fn(*args)
        except Canceled:
            pass
        except GreenletExit:
            raise
        except Exception as e:
            task.exc = e
        except BaseException as e:  # KeyboardInterrupt, SystemExit, ...: to the root
            self.interrupt_root(e)
        task.finished = True
        task.greenlet = None
        task.group.child_exited(self, task)

    # ------------------------------------------------------------------- loop

    def _loop(self, *_: Any) -> None:
        """Body of the hub greenlet: sleep in the poller while nothing is ready.

        It may first be entered by a dying worker greenlet (its parent), which
        passes its return value: ignored.
        """
        ready = self.ready
        idle = self.idle
        while True:
            if not ready:
                try:
                    timeout = self._sleep_timeout()
                    if len(idle) > IDLE_KEEP and (timeout < 0 or timeout > 2):
                        self._trim_idle()
                        timeout = 0  # look for events, then trim more
                    self._poll(timeout)
                except BaseException as e:  # a signal handler raised in the poll
                    self.interrupt_root(e)
                continue
            nxt = ready.popleft()
            self.budget = len(ready) + 1
            self.current = nxt
            nxt.greenlet.switch()

    def _trim_idle(self) -> None:
        """Let up to IDLE_TRIM idle workers (beyond IDLE_KEEP) die."""
        idle = self.idle
        for _ in range(min(IDLE_TRIM, len(idle) - IDLE_KEEP)):
            idle.pop().throw(GreenletExit)  # it unwinds and returns here, its parent

    def _sleep_timeout(self) -> int:
        """Milliseconds until the next live timer, -1 for none."""
        timers = self.timers
        while timers and timers[0][2] is None:
            heappop(timers)
            self.dead_timers -= 1
        if timers:
            return max(0, timers[0][0] - now())
        if not self.nregistered and not self.remote_waits and self.root.waiting:
            self.interrupt_root(RuntimeError(
                "dill: deadlock: every coroutine of this thread is blocked and "
                "nothing (timer, fd or other thread) can wake any of them"))
            return 0
        return -1

    def _tick(self) -> None:
        """Once per pass: poll fds without blocking and fire due timers.

        It runs in whichever task is suspending; an exception raised by a
        signal handler during the poll goes to the root task instead.
        """
        try:
            if self.nregistered:
                self._poll(0)
            else:
                # The wake-up pipe is not counted in nregistered: other threads'
                # callbacks are found by looking at their queue, not by a syscall.
                if self._threadsafe:
                    self._run_threadsafe()
                if self.timers:
                    self._fire_timers()
        except BaseException as e:
            self.interrupt_root(e)

    def _poll(self, timeout: int) -> None:
        if self.poller is None:
            if timeout:
                _os_sleep(timeout / 1000 if timeout > 0 else 3600)
            self._fire_timers()
            return
        events = self.poller.poll(timeout)
        if events:
            self._dispatch(events)
        self._fire_timers()

    def _fire_timers(self) -> None:
        timers = self.timers
        if not timers:
            return
        t_now = now()
        ready = self.ready
        while timers and timers[0][0] <= t_now:
            entry = heappop(timers)
            task = entry[2]
            if task is None:
                self.dead_timers -= 1
                continue
            entry[2] = None
            if task.waiting:
                task.waiting = NOT_WAITING
                task.resume = TIMEOUT
                ready.append(task)

    def _compact_timers(self) -> None:
        live = [e for e in self.timers if e[2] is not None]
        heapify(live)
        self.timers = live
        self.dead_timers = 0

    # --------------------------------------------------------------------- fds

    def _dispatch(self, events: list) -> None:
        fdwaits = self.fdwaits
        ready = self.ready
        for fd, ev in events:
            if fd == self._wake_r:
                self._run_threadsafe()
                continue
            rec = fdwaits.get(fd)
            if rec is None:
                continue
            unwanted = 0
            if ev & (_EV_IN | _EV_ERR):
                t = rec[0]
                if t is not None and t.waiting:
                    t.waiting = NOT_WAITING
                    t.resume = None
                    ready.append(t)
                elif ev & _EV_IN:
                    unwanted |= _EV_IN
            if ev & (_EV_OUT | _EV_ERR):
                t = rec[1]
                if t is not None and t.waiting:
                    t.waiting = NOT_WAITING
                    t.resume = None
                    ready.append(t)
                elif ev & _EV_OUT:
                    unwanted |= _EV_OUT
            if ev & _EV_ERR and rec[0] is None and rec[1] is None:
                unwanted = rec[2]  # nobody waits: stop the error from repeating
            if unwanted and rec[2] & unwanted:
                self._set_mask(fd, rec, rec[2] & ~unwanted)

    def _set_mask(self, fd: int, rec: list, mask: int) -> None:
        """Change what the poller watches on ``fd`` (0: unregister)."""
        poller = self.poller
        if poller is None:
            poller = self.poller = _Poller()
        old = rec[2]
        if mask == old:
            return
        if mask == 0:
            try:
                poller.unregister(fd)
            except (OSError, ValueError):
                pass
            self.nregistered -= 1
        elif old == 0:
            try:
                poller.register(fd, mask)
            except FileExistsError:
                poller.modify(fd, mask)
            self.nregistered += 1
        else:
            try:
                poller.modify(fd, mask)
            except FileNotFoundError:  # closed and reused without fdclean
                poller.register(fd, mask)
        rec[2] = mask

    def wait_fd(self, fd: Any, out: int, deadline: int) -> None:
        """Wait until ``fd`` is readable (``out``=0) or writable (``out``=1)."""
        if fd.__class__ is not int:
            fd = _fileno(fd)
        task = self.current
        if task.canceled:
            raise Canceled()
        rec = self.fdwaits.get(fd)
        if rec is None:
            if fd < 0:
                raise BadHandle(f"invalid file descriptor {fd}")
            rec = self.fdwaits[fd] = [None, None, 0]
        if rec[out] is not None:
            raise OSError(errno.EBUSY, "another coroutine is already waiting "
                          f"for fd {fd} to become {'writable' if out else 'readable'}")
        bit = _EV_OUT if out else _EV_IN
        if not rec[2] & bit:
            try:
                self._set_mask(fd, rec, rec[2] | bit)
            except OSError as e:
                if not rec[2] and rec[0] is None and rec[1] is None:
                    del self.fdwaits[fd]
                if e.errno == errno.EBADF:
                    raise BadHandle(f"invalid file descriptor {fd}") from None
                if e.errno == errno.EPERM:
                    raise NotSupported(f"fd {fd} cannot be polled") from None
                raise
        rec[out] = task
        try:
            v = self.wait(task, deadline)
        finally:
            rec[out] = None
        if v is not None:
            raise reason_error(task, v)

    def fdclean(self, fd: Any) -> None:
        """Forget the poller state of ``fd`` (call before closing it)."""
        if fd.__class__ is not int:
            fd = _fileno(fd)
        rec = self.fdwaits.get(fd)
        if rec is None:
            return
        if rec[0] is not None or rec[1] is not None:
            raise OSError(errno.EBUSY, f"a coroutine is waiting on fd {fd}")
        if rec[2]:
            self._set_mask(fd, rec, 0)
        del self.fdwaits[fd]

    def fd_closing(self, fd: int) -> None:
        """The owner of ``fd`` is about to close it: wake its waiters with
        ``BadHandle`` and forget its poller state (``fdclean`` without EBUSY)."""
        rec = self.fdwaits.get(fd)
        if rec is None:
            return
        for t in (rec[0], rec[1]):
            if t is not None and t.waiting:
                t.waiting = NOT_WAITING
                t.resume = CLOSED
                self.ready.append(t)
        rec[0] = rec[1] = None
        if rec[2]:
            self._set_mask(fd, rec, 0)
        del self.fdwaits[fd]

    # ----------------------------------------------------- other threads' calls

    def call_threadsafe(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` in this hub's thread at its next pass; callable from any thread.

        ``fn`` runs inside the scheduler and must only wake tasks, never block.
        Call ``enable_threadsafe()`` from the hub's own thread first.
        """
        q = self._threadsafe
        if q is None:
            raise RuntimeError("enable_threadsafe() was not called in the hub's thread")
        q.append(fn)
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is pending) or the hub is gone

    def enable_threadsafe(self) -> None:
        """Set up the wake-up pipe (once; costs nothing until then)."""
        if self._threadsafe is not None:
            return
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self._wake_r, self._wake_w = r, w
        rec = self.fdwaits[r] = [None, None, 0]
        self._set_mask(r, rec, _EV_IN)
        # Not counted: _tick checks the callback queue itself (no syscall per
        # pass), and the pipe alone does not keep an idle hub from reporting a
        # deadlock (``remote_waits`` does, while a wake-up is owed).
        self.nregistered -= 1
        self._threadsafe = deque()

    def _run_threadsafe(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        q = self._threadsafe
        while q:
            fn = q.popleft()
            try:
                fn()
            except Exception:  # a bug in a callback must not kill the scheduler
                sys.unraisablehook(_Unraisable(sys.exc_info(), fn))

    def close(self) -> None:
        """Release OS resources (the poller, the wake-up pipe)."""
        if self.poller is not None:
            self.poller.close()
            self.poller = None
            self.nregistered = 0
            self.fdwaits.clear()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1


class _Unraisable:
    """Argument object for ``sys.unraisablehook``."""

    def __init__(self, exc_info: Any, obj: Any, msg: str | None = None) -> None:
        self.exc_type, self.exc_value, self.exc_traceback = exc_info
        self.err_msg = msg
        self.object = obj


def report_unraisable(exc: BaseException, obj: Any, msg: str) -> None:
    """Report an exception nobody can observe through ``sys.unraisablehook``."""
    sys.unraisablehook(_Unraisable((type(exc), exc, exc.__traceback__), obj, msg))


def wrong_thread(obj: Any) -> RuntimeError:
    """The error for using a handle outside the OS thread that made it."""
    return RuntimeError(f"{type(obj).__name__} belongs to another OS thread's hub: "
                        "a handle can only be used in the thread that made it")


def _fileno(fd: Any) -> int:
    try:
        fileno = fd.fileno
    except AttributeError:
        raise TypeError(f"fd must be an int or have fileno(), not {type(fd).__name__}") from None
    return fileno()


_local = threading.local()

# Called with each new hub, in its thread, right after it is made (the blocking
# detector installs its per-thread greenlet trace there).  Never per switch.
hub_created: list[Callable[[Hub], None]] = []


class _CloseAtThreadExit:
    """Kept in the thread-local beside the hub (which sits in reference cycles):
    when the thread ends its locals are cleared, this goes at once, and the
    hub's poller and pipe are closed instead of waiting for the cyclic GC."""

    __slots__ = ("hub",)

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def __del__(self) -> None:
        self.hub.close()


def get_hub() -> Hub:
    """The calling OS thread's hub, created on first use."""
    try:
        return _local.hub
    except AttributeError:
        hub = _local.hub = Hub()
        _local.closer = _CloseAtThreadExit(hub)
        for fn in hub_created:
            fn(hub)
        return hub


def check_deadline(deadline: Any) -> int:
    """Normalise a non-int deadline: ``None`` is -1, floats are rounded up."""
    if deadline is None:
        return -1
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)):
        raise TypeError(f"deadline must be an int (ms on the now() clock), -1 or None, "
                        f"not {type(deadline).__name__}")
    if deadline != deadline:
        raise ValueError("deadline must not be NaN")
    if deadline < 0:
        return -1
    if deadline == float("inf"):
        return -1
    return int(-(-deadline // 1))
