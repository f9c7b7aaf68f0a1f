"""The scheduler: one hub per OS thread.

The hub owns the ready queue, the timer heap and the fd poller, and it is the
only place that switches greenlets (``suspend`` and ``spawn``), reads the clock
(``now``) and writes a task's wait state (``block``, ``wake``, ``cancel``).

**The fairness rule.**  Tasks resume in FIFO order of being made ready.  A
blocked task switches straight to the next ready task (no detour through the
hub greenlet); once per *pass* over the ready queue (as many switches as there
were ready tasks when the pass began) the suspending task itself polls fds
without blocking and fires due timers (``_tick``).  So a ``yield_()`` loop
delays timers and fd events by at most one pass.  The hub greenlet runs only to
sleep in the poller when nothing is ready.

Invariants:

* ``hub.current`` is the task whose greenlet is running.  Whoever switches to a
  task sets it first.
* A task is woken at most once per wait: every waker checks ``task.waiting``
  and clears it.  Each wait ends by bumping ``task.epoch``, which turns every
  registration the wait left behind (wait-queue entries, its timer) dead, so a
  stale registration can never wake a later wait (``dill._wait``).
* Wakers only mutate queues; nobody switches while a wait queue is
  half-updated (as Go's ``closechan``: collect the waiters, then ready them).
* An exception raised by a Python signal handler never lands inside a
  coroutine or the scheduler: ``dill._signals`` hands it to the root task at a
  safe point (``interrupt_root``).
"""

from __future__ import annotations

import errno
import os
import random
import select
import sys
import threading
import time
import traceback
from collections import deque
from heapq import heapify, heappop, heappush
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


# How many virtual clocks are active in the process (dill.testing.virtual_clock):
# while 0, now() reads the monotonic clock directly.
_virtual_clocks = 0


def now() -> int:
    """Milliseconds on a monotonic clock: the time base of every deadline.

    Inside ``dill.testing.virtual_clock()`` it is that hub's virtual time.
    """
    if _virtual_clocks:
        hub = getattr(_local, "hub", None)
        if hub is not None and hub.vclock is not None:
            return hub.vclock.ms
    return _monotonic_ns() // 1_000_000


def now_ns() -> int:
    """``now()`` in nanoseconds: the base of every seconds-to-deadline conversion."""
    if _virtual_clocks:
        hub = getattr(_local, "hub", None)
        if hub is not None and hub.vclock is not None:
            return hub.vclock.ms * 1_000_000
    return _monotonic_ns()


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


# task.waiters of a task whose handle was garbage-collected while it ran.
ORPHANED: Any = Reason("orphaned")

# task.waiting values
NOT_WAITING = 0
CANCELABLE = 1
UNCANCELABLE = 2


class Task:
    """Scheduling state of one coroutine (or of a thread's root code).

    It lives apart from the greenlet so that worker greenlets can be reused.
    Fields, and when each is valid:

    * ``greenlet``: the greenlet running it; ``None`` once it finished (that
      is what ``finished`` reads: no slot of its own, a store fewer at each
      spawn and exit and a slot fewer for the garbage collector to visit).
    * ``hub``: the hub (OS thread) it belongs to, for its whole life.
    * ``waiting``: ``NOT_WAITING`` while running or ready; ``CANCELABLE`` or
      ``UNCANCELABLE`` while blocked (written only by the hub).
    * ``epoch``: bumped when each wait ends; wait-queue entries and timers
      carry the epoch of the wait that made them (``dill._wait``).
    * ``resume``: the wake value of the last wait, valid from the wake until
      the wait returns it: the value handed over (``None`` for a plain wake, a
      received value, ``True`` for a granted lock, ``(index, value)`` for a
      ``choose`` clause, where value may itself be a ``Reason``), or a
      ``Reason`` (``TIMEOUT``, ``CANCEL``, ``DONE``, ``CLOSED``,
      ``INTERRUPT``).
    * The wait record, set by ``Hub.block`` and valid while ``waiting``:
      ``op`` (the blocking call's name, SPEC-TOOLS section 1), ``obj`` (what it
      waits on), ``deadline`` (ms on ``now()``, -1 for never) and ``since``
      (``now()`` when the wait began).  Left as they were after the wait.
    * ``canceled``: sticky once set (``hclose``).
    * ``pending_exc``: an exception for the root task (a signal handler's, a
      coroutine's ``KeyboardInterrupt``), raised at its next blocking call.
    * ``fn``: the function it runs (kept for its name); its arguments are
      handed to the worker greenlet with the switch that starts it, never
      stored here (two slots fewer for the garbage collector to visit).
    * ``group``: the bundle (``_Group``) it counts in; ``None`` for a task
      launched on its own by ``go`` (and for a root).
    * ``parent``: the task that launched it (``None`` for a root).
    * ``spawned_at`` (``(code, line)`` of the launching call outside dill) and
      ``started`` (``now()`` at launch): recorded only while the hub is
      ``recording`` (tracing, inspection or the pytest plugin is on).
    * ``label``: what the tools call it, when not its function: the green
      ``Thread`` object it runs (its ``name`` is shown).
    * ``result``, ``exc``: its outcome, once ``finished``.
    * ``waiters``: for a task launched by ``go``, who waits for it to exit (a
      ``WaitQueue``, made on first use), or ``ORPHANED`` once its handle was
      garbage-collected (nobody can wait then).  A bundle's group holds this
      for its members.

    Every slot costs each garbage collection a visit and every spawn a store:
    with 100,000 live handles the collector costs a handle-path ``go`` more
    than anything else, so a field is here only if it must be.
    """

    __slots__ = (
        "greenlet", "hub", "waiting", "epoch", "resume", "canceled", "pending_exc",
        "op", "obj", "deadline", "since",
        "fn", "group", "parent", "spawned_at", "started", "label",
        "result", "exc", "waiters", "__weakref__",
    )
    # The slots' types, for type checkers (annotations only: no class attributes).
    greenlet: Any
    hub: Hub
    waiting: int
    epoch: int
    resume: Any
    canceled: bool
    pending_exc: BaseException | None
    op: str
    obj: Any
    deadline: int
    since: int
    fn: Any
    group: Any
    parent: Task | None
    spawned_at: tuple[Any, int] | None
    started: int
    label: Any
    result: Any
    exc: Exception | None
    waiters: Any

    # No __init__: calling a class with a Python __init__ costs ~400 ns on
    # 3.11 (type_call + slot_tp_init + a frame); ``new_task`` makes one in a
    # third of that, and a spawn makes one per coroutine.

    @property
    def finished(self) -> bool:
        """True once its function has returned or raised (never for a root)."""
        return self.greenlet is None

    # What the tools (tracers, the tree) see of a task.
    @property
    def id(self) -> int:
        """Unique in the process while the task lives."""
        return id(self)

    @property
    def name(self) -> str:
        """The function's qualified name, the green thread's name, or the root's."""
        return task_kind_and_name(self)[1]

    def info(self) -> Any:
        """A ``TaskInfo`` snapshot of this task (without children)."""
        from ._tree import task_info

        return task_info(self.hub, self)

    def __repr__(self) -> str:
        return f"<dill task {self.name} #{id(self):x}>"


_new_object = object.__new__


def new_task(hub: "Hub", g: Any, fn: Any = None, group: Any = None,
             parent: Task | None = None) -> Task:
    """A new task record (see ``Task``) for greenlet ``g`` of ``hub``.

    Only what is read before it is written: the wait record is written by
    every block before ``waiting`` is set, and the tools' fields are read
    with defaults (spawn cost: fewer stores).
    """
    task = _new_object(Task)
    task.greenlet = g
    task.hub = hub
    task.waiting = NOT_WAITING
    task.epoch = 0
    task.resume = None
    task.canceled = False
    task.pending_exc = None
    task.fn = fn
    task.group = group
    task.parent = parent
    task.result = None
    task.exc = None
    task.waiters = None
    return task


def _worker_main() -> None:
    """Body of every worker greenlet: ``Hub._worker`` of this thread's hub.

    A plain function, not the bound method: greenlet calls a greenlet's run
    callable from C, and that call stays on the C stack it saves at every
    switch; through a bound method it is deeper (-208 B RSS per parked
    coroutine).
    """
    _local.hub._worker()


def task_kind_and_name(task: Task) -> tuple[str, str]:
    """(kind, name) of a task, for the tools: no import, safe at shutdown."""
    hub = task.hub
    if task is hub.loop_task:
        return "hub", "hub"
    if task is hub.root:
        # never blocks, even when patched
        t = threading._active.get(hub.thread_id)  # type: ignore[attr-defined]
        return "root", f"root (thread {t.name if t is not None else hub.thread_id})"
    thread = getattr(task, "label", None)  # a green thread: its Thread or function
    if thread is not None:
        name = getattr(thread, "name", None)
        if not isinstance(name, str):
            name = getattr(thread, "__qualname__", None) or repr(thread)
        return "thread", name
    fn = task.fn
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return "coroutine", name


class RemoteWait:
    """A wake-up another OS thread owes a hub (a ``to_thread`` call, a Portal).

    While one is held, an idle hub sleeps on its wake-up pipe instead of
    reporting a deadlock.  ``release()`` is idempotent, so no path can count
    one twice; it must run in the hub's own thread.
    """

    __slots__ = ("hub", "held")

    def __init__(self, hub: "Hub") -> None:
        hub.enable_threadsafe()
        self.hub = hub
        self.held = True
        hub.remote_waits += 1

    def release(self) -> None:
        """Stop holding the hub awake (a no-op the second time)."""
        if self.held:
            self.held = False
            self.hub.remote_waits -= 1


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

# The longest single sleep in the poller: a C int of ms, with a margin.
POLL_MAX_MS = 2**31 // 2

_EV_IN = select.POLLIN | select.POLLPRI
_EV_OUT = select.POLLOUT
_EV_ERR = select.POLLERR | select.POLLHUP | getattr(select, "POLLRDHUP", 0)
_EV_IN_ERR = _EV_IN | _EV_ERR  # wakes a reader
_EV_OUT_ERR = _EV_OUT | _EV_ERR  # wakes a writer


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
        """Wait up to ``timeout_ms`` (-1: forever) for events.

        epoll/poll take a C int of milliseconds (~24.8 days at most): a longer
        sleep is capped, never the deadline; the hub just wakes and sleeps again.
        """
        if timeout_ms < 0:
            return self._p.poll(-1)
        if timeout_ms > POLL_MAX_MS:
            timeout_ms = POLL_MAX_MS
        return self._p.poll(timeout_ms * self._scale)


class _FdWait:
    """What the hub knows of one fd: who waits to read, who to write, and the
    event mask the poller watches (0: not registered)."""

    __slots__ = ("reader", "writer", "mask")

    def __init__(self) -> None:
        self.reader: Task | None = None
        self.writer: Task | None = None
        self.mask = 0


class Hub:
    """Per-thread scheduler state.  Get it with ``get_hub()``.

    Fields:

    * ``ready``: tasks to resume, FIFO (the fairness rule above).
    * ``timers``: deadline (ms) -> its entries, ``(task, epoch)`` pairs in
      arming order; ``deadlines``: a heap of those deadlines (plain ints).
      Deadlines are whole milliseconds, so timers armed for the same one share
      a list: arming one is an append, and firing takes the list at once,
      FIFO, instead of a heap push and pop of a tuple each (a sleeper's
      spawn, arm, fire and exit: ~3,000 instructions, 8%, fewer).
      ``ntimers`` counts the entries (the sweep's test reads it at every early
      wake).  An entry is live while its task still waits in the wait of that
      epoch; dead ones are skipped when fired and swept by ``_compact_timers``
      when they are the majority (``dead_timers`` counts them, exactly: a task
      woken before its timer counts its entry when it resumes; a sweep keeps
      that entry until then).  ``armed_timers()`` lists them for the tools.
    * ``budget``: switches left in the current pass before the next ``_tick``.
    * ``idle``: parked worker greenlets for reuse.
    * ``fdwaits``: fd -> ``_FdWait``; ``nregistered`` fds are in the poller
      (the wake-up pipe not counted).
    * ``thread_id``: the OS thread that owns the hub; nothing else touches it
      except through ``call_threadsafe``.
    * ``remote_waits``: how many ``RemoteWait`` tokens are held: while
      nonzero, an idle hub sleeps on its wake-up pipe instead of reporting a
      deadlock.
    * ``root``: the thread's own code; ``current``: the running task;
      ``loop_task``: the hub greenlet, which sleeps in the poller.
    * ``tasks``: every coroutine launched on its own (``go``) that is running,
      or finished with its handle still open; ``groups``: the groups of the
      bundles that are open or have members running, which list those
      members.  Both for the tools (the live tree, ``dill.tree()``), read
      through ``all_tasks()``.
    * The tools' hooks, all off (``None``/False) unless a tool is on:
      ``recording`` (how many tools want spawn sites recorded), ``tracers``
      and ``tracing`` (``dill.add_tracer`` and its instrumentation),
      ``vclock`` (``dill.testing.virtual_clock``), ``rng`` (seeded
      scheduling: the ready queue is shuffled at each pass).
    """

    def __init__(self) -> None:
        self.ready: deque[Task] = deque()
        self.timers: dict[int, list[tuple[Task, int]]] = {}
        self.deadlines: list[int] = []
        self.ntimers = 0
        self.dead_timers = 0
        self.budget = 0
        self._call: Any = None  # spawn -> the worker it switches to: (fn, args, kwargs)
        self.idle: list = []
        self.fdwaits: dict[int, _FdWait] = {}
        self.nregistered = 0
        self.poller: _Poller | None = None
        self.thread_id = _thread_ident()
        self._threadsafe: deque | None = None
        self.remote_waits = 0
        self._wake_r = self._wake_w = -1
        root = new_task(self, getcurrent())
        self.root = root
        self.current = root
        self.loop_task = new_task(self, greenlet(self._loop))
        self.tasks: dict[Task, None] = {}
        self.groups: dict[Any, None] = {}
        self.recording = 0
        self.tracers: list = []
        self.tracing: Any = None
        self.vclock: Any = None
        self.rng: Any = None

    def all_tasks(self) -> list[Task]:
        """Every coroutine the tools show: running, or finished with its ``go``
        handle still open.  Lone ones first, then each bundle's, each in launch
        order.  Safe to call from another thread (retried if changed meanwhile;
        empty if it keeps changing)."""
        for _ in range(3):
            try:
                tasks = list(self.tasks)
                for group in list(self.groups):
                    tasks.extend(group.members)
                return tasks
            except RuntimeError:  # changed size during iteration (another thread)
                continue
        return []

    def armed_timers(self) -> list[tuple[int, Task, int]]:
        """Every timer entry, live or dead, as ``(deadline, task, epoch)`` in
        firing order: for the tools and the checks."""
        return [(deadline, task, epoch) for deadline in sorted(self.timers)
                for task, epoch in self.timers[deadline]]

    # ------------------------------------------------------------------ switch

    def suspend(self) -> Any:
        """Switch away from the current task; return its wake value on resume.

        The caller has registered the current task wherever it waits (or put it
        in the ready queue).  Hot path: one decrement, a popleft and a switch.
        """
        b = self.budget - 1
        if b <= 0:
            # _tick() only when there is something to poll, run or fire: its
            # call is 4% of a channel hop, and most passes have nothing to do.
            # Timers are due only once the earliest deadline has passed: one
            # clock read instead of a tick per switch while sleepers start.
            if (self.nregistered or self._threadsafe or self.rng is not None
                    or (self.deadlines and self.deadlines[0] <= now())):
                b = self._tick()
            else:
                b = len(self.ready)
        self.budget = b
        ready = self.ready
        cur = self.current
        nxt = ready.popleft() if ready else self.loop_task
        self.current = nxt
        nxt.greenlet.switch()
        return cur.resume

    def block(self, task: Task, op: str, obj: Any, deadline: int) -> Any:
        """Block the current ``task`` until woken, canceled or ``deadline`` (-1: never).

        The one wait of dill: the caller has parked ``task`` wherever it
        waits (a ``WaitQueue``, an fd slot, nowhere for a sleep).  Records the
        wait (``op`` waiting on ``obj``, SPEC-TOOLS section 1) and returns the
        wake value: whatever the waker handed over, or a ``Reason``
        (``TIMEOUT``, ``CANCEL``, ``INTERRUPT``, ...).  On a ``Reason`` the
        caller gives up its queue entries (``WaitQueue.give_up``).
        """
        if task.pending_exc is not None:
            return INTERRUPT
        # The wait record: plain stores, nothing computed (``where`` is found
        # from the greenlet's frame only when someone looks).
        task.op = op
        task.obj = obj
        task.deadline = deadline
        task.since = _monotonic_ns() // 1_000_000
        task.waiting = CANCELABLE
        # Not suspend() inlined here: that saved 3% of the instructions of a
        # channel round trip but cost every parked coroutine 100 B of RSS.
        if deadline < 0:
            v = self.suspend()
            task.epoch += 1
        else:
            entries = self.timers.get(deadline)
            if entries is None:
                self.timers[deadline] = [(task, task.epoch)]
                heappush(self.deadlines, deadline)
            else:
                entries.append((task, task.epoch))
            self.ntimers += 1
            v = self.suspend()
            task.epoch += 1
            # Woken first: its timer entry is dead now, and counted here, once
            # (sweeps keep the entries of tasks woken but not yet resumed).
            if v is not TIMEOUT:
                dead = self.dead_timers = self.dead_timers + 1
                if dead > DEAD_TIMERS_MAX and dead * 2 > self.ntimers:
                    self._compact_timers()
        return v

    def block_uncancelable(self, task: Task, op: str, obj: Any) -> Any:
        """Block until woken; cancellation does not interrupt (``hclose``)."""
        task.op = op
        task.obj = obj
        task.deadline = -1
        task.since = _monotonic_ns() // 1_000_000
        task.waiting = UNCANCELABLE
        v = self.suspend()
        task.epoch += 1
        return v

    def wake(self, task: Task, value: Any = None) -> bool:
        """Make a waiting task ready, handing it ``value``; False if it was not waiting.

        The one wake-up of dill.  Copies inlined for speed (the channel
        hand-off, timers, fd events) say so beside them, with the benchmark
        that pays for them.
        """
        if task.waiting:
            task.waiting = NOT_WAITING
            task.resume = value
            self.ready.append(task)
            return True
        return False

    def cancel(self, task: Task) -> None:
        """Mark a task canceled and wake it if it sits in a cancelable wait."""
        task.canceled = True
        if task.waiting == CANCELABLE:
            self.wake(task, CANCEL)

    def interrupt_root(self, exc: BaseException) -> None:
        """Deliver a KeyboardInterrupt/SystemExit-like exception to the root task.

        Runs inside the scheduler at a safe point (never from a signal
        handler directly: ``dill._signals`` queues it).  The root raises it at
        its current blocking call, or at its next one.  A second exception
        while one is pending is chained to it rather than lost.
        """
        root = self.root
        if root.pending_exc is None:
            root.pending_exc = exc
        elif exc is not root.pending_exc:
            exc.__context__ = root.pending_exc
            root.pending_exc = exc
        self.wake(root, INTERRUPT)

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
        if cur.pending_exc is not None:  # a signal's exception came meanwhile
            raise reason_error(cur, INTERRUPT)

    # ------------------------------------------------------------------- spawn

    def spawn(self, fn: Callable, args: tuple, kwargs: Any, group: Any) -> Task:
        """Start ``fn(*args, **kwargs)`` as a new task and run it at once.

        The caller goes to the back of the ready queue (libdill's order).
        """
        cur = self.current
        if cur.canceled:
            raise Canceled()
        idle = self.idle
        g = idle.pop() if idle else greenlet(_worker_main, self.loop_task.greenlet)
        task = new_task(self, g, fn, group, cur)
        if self.recording:
            record_spawn(task)
            if self.tracing is not None:
                self.tracing.on_spawn(task)
        if group is None:
            self.tasks[task] = None
        else:  # listed in its group, which is in self.groups
            group.members[task] = None
        # The coroutine runs in a copy of the spawner's context variables.  Set
        # on the (not running) greenlet rather than through Context.run, which
        # would re-enter the interpreter and leave a deeper C stack to save at
        # every switch.  An empty context is not copied: None gives the new
        # task a fresh one on first use, and one object fewer per spawn for the
        # garbage collector (which costs a handle-path go more than anything).
        ctx = cur.greenlet.gr_context
        g.gr_context = ctx.copy() if ctx else None
        self.ready.append(cur)
        self.current = task
        # The call goes through the hub, not as switch arguments: a greenlet's
        # first switch with arguments holds them for its whole life, and
        # costs ~110 B more saved C stack in every parked coroutine.
        self._call = (fn, args, kwargs)
        g.switch()
        return task

    def _worker(self) -> None:
        """Body of a worker greenlet: run tasks until the idle pool is full.

        Its task is ``hub.current`` and its call ``hub._call`` (``(fn, args,
        kwargs)``, taken at once) whenever spawn switches to it.  Nothing of
        a finished task stays referenced from here while the worker is
        parked.

        A task's run is inlined here (one Python call fewer per spawn).  Calls
        are spelled out for up to three arguments: CPython inlines a plain
        call to a Python function into the running C frame, while f(*args)
        enters a new one, which stays on the C stack that the greenlet saves
        at every switch (-370 B RSS per parked coroutine).
        """
        me = getcurrent()
        idle = self.idle
        while True:
            fn, args, kwargs = self._call
            self._call = None
            task = self.current
            try:
                if kwargs:
                    task.result = fn(*args, **kwargs)
                elif not args:
                    task.result = fn()
                else:
                    n = len(args)
                    if n == 1:
                        task.result = fn(args[0])
                    elif n == 2:
                        task.result = fn(args[0], args[1])
                    elif n == 3:
                        task.result = fn(args[0], args[1], args[2])
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
            fn = args = kwargs = None  # a parked worker keeps nothing alive
            task.greenlet = None  # finished
            group = task.group
            if group is not None:
                # The bundle's bookkeeping (a _Group's fields), here rather
                # than in a method of the group: a call fewer per spawn.
                members = group.members
                del members[task]
                if task.exc is not None:
                    group.failed(task, task.exc)
                if not members:
                    if group.waiters:
                        group.waiters.wake_all()
                    if not group.open:  # its bundle is gone: unlist it (_Group.ended)
                        self.groups.pop(group, None)
            elif task.waiters is not None:  # someone waits, or nobody ever will
                self._lone_exited(task)
            if self.tracing is not None:
                self.tracing.on_exit(task)
            task = None  # type: ignore[assignment]  # a parked worker keeps nothing
            if len(idle) >= IDLE_MAX:
                self.current = self.loop_task
                return  # the greenlet dies; its parent, the hub loop, takes over
            idle.append(me)
            # Park: switch to the next ready task; spawn() switches back to us
            # with the next call to make.
            b = self.budget - 1
            if b <= 0:  # as in suspend()
                if (self.nregistered or self._threadsafe or self.rng is not None
                        or (self.deadlines and self.deadlines[0] <= now())):
                    b = self._tick()
                else:
                    b = len(self.ready)
            self.budget = b
            ready = self.ready
            nxt = ready.popleft() if ready else self.loop_task
            self.current = nxt
            nxt.greenlet.switch()  # spawn() switches back with the next call

    def _lone_exited(self, task: Task) -> None:
        """A task launched on its own (``go``) finished and has ``waiters``:
        wake them, or, if its handle was garbage-collected, forget it."""
        q = task.waiters
        if q is ORPHANED:  # nobody will look
            del self.tasks[task]
            if task.exc is not None:
                report_unraisable(task.exc, task, "a coroutine whose handle was "
                                  "garbage-collected failed")
                task.exc = None
        elif q:
            q.wake_all()

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
                    if self.vclock is not None and timeout != 0:
                        timeout = self.vclock.idle(self, timeout)
                    if len(idle) > IDLE_KEEP and (timeout < 0 or timeout > 2):
                        self._trim_idle()
                        timeout = 0  # look for events, then trim more
                    self._poll(timeout)
                except BaseException as e:  # a signal handler raised in the poll
                    self.interrupt_root(e)
                continue
            if self.rng is not None:
                self._shuffle_ready()
                self.budget = 1
            else:
                self.budget = len(ready) + 1
            nxt = ready.popleft()
            self.current = nxt
            nxt.greenlet.switch()

    def _shuffle_ready(self) -> None:
        """Seeded scheduling: permute the ready tasks (every switch is a pass)."""
        ready = self.ready
        if len(ready) > 1:
            order = list(ready)
            self.rng.shuffle(order)
            ready.clear()
            ready.extend(order)

    def _trim_idle(self) -> None:
        """Let up to IDLE_TRIM idle workers (beyond IDLE_KEEP) die."""
        idle = self.idle
        for _ in range(min(IDLE_TRIM, len(idle) - IDLE_KEEP)):
            idle.pop().throw(GreenletExit)  # it unwinds and returns here, its parent

    def _sleep_timeout(self) -> int:
        """Milliseconds until the next live timer, -1 for none."""
        deadlines = self.deadlines
        while deadlines:
            deadline = deadlines[0]
            entries = self.timers[deadline]
            for i, (task, epoch) in enumerate(entries):
                if task.waiting and task.epoch == epoch:
                    if i:  # drop the dead entries before it
                        del entries[:i]
                        self.ntimers -= i
                        self.dead_timers -= i
                    return max(0, deadline - now())
            heappop(deadlines)  # every entry of this deadline is dead
            del self.timers[deadline]
            self.ntimers -= len(entries)
            self.dead_timers -= len(entries)
        if not self.nregistered and not self.remote_waits and self.root.waiting:
            from ._deadlock import deadlock_error  # only ever imported for a report

            self.interrupt_root(deadlock_error(self))
            return 0
        return -1

    def _tick(self) -> int:
        """Once per pass: poll fds without blocking and fire due timers.

        Returns the next pass's length in switches (its budget).  It runs in
        whichever task is suspending; an exception raised by a signal handler
        during the poll goes to the root task instead.
        """
        try:
            if self.nregistered:
                self._poll(0)
            else:
                # The wake-up pipe is not counted in nregistered: other threads'
                # callbacks are found by looking at their queue, not by a syscall.
                if self._threadsafe:
                    self._run_threadsafe()
                if self.deadlines:
                    self._fire_timers()
        except BaseException as e:
            self.interrupt_root(e)
        if self.rng is not None:  # seeded: every switch is a pass of its own
            self._shuffle_ready()
            return 1
        return len(self.ready)

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
        deadlines = self.deadlines
        if not deadlines:
            return
        t_now = now()
        timers = self.timers
        ready = self.ready
        while deadlines and deadlines[0] <= t_now:
            entries = timers.pop(heappop(deadlines))
            self.ntimers -= len(entries)
            for task, epoch in entries:
                # Inlined wake (timer firing is a hot path: 10k sleepers bench).
                if task.waiting and task.epoch == epoch:
                    task.waiting = NOT_WAITING
                    task.resume = TIMEOUT
                    ready.append(task)
                else:
                    self.dead_timers -= 1

    def _compact_timers(self) -> None:
        """Drop the dead entries counted in ``dead_timers``: those of ended
        waits.  An entry whose task was woken but has not resumed yet is kept
        (its epoch still matches): that task counts it when it resumes."""
        kept = {}
        for deadline, entries in self.timers.items():
            live = [e for e in entries if e[0].epoch == e[1]]
            if live:
                kept[deadline] = live
        self.timers = kept
        self.deadlines = list(kept)
        heapify(self.deadlines)
        self.ntimers = sum(map(len, kept.values()))
        self.dead_timers = 0

    # --------------------------------------------------------------------- fds

    def _dispatch(self, events: list) -> None:
        fdwaits = self.fdwaits
        ready = self.ready
        wake_r = self._wake_r
        for fd, ev in events:
            if fd == wake_r:  # first: a stale fdwaits record may have its number
                self._run_threadsafe()
                continue
            rec = fdwaits.get(fd)
            if rec is None:
                continue
            unwanted = 0
            # The slot holds a task only during its fd wait (wait_fd clears it).
            if ev & _EV_IN_ERR:
                t = rec.reader
                # wake(t), inlined: a readable socket is the echo hot path.
                if t is not None and t.waiting:
                    t.waiting = NOT_WAITING
                    t.resume = None
                    ready.append(t)
                elif ev & _EV_IN:
                    unwanted = _EV_IN
            if ev & _EV_OUT_ERR:
                t = rec.writer
                if t is None or not self.wake(t):
                    if ev & _EV_OUT:
                        unwanted |= _EV_OUT
            if ev & _EV_ERR and rec.reader is None and rec.writer is None:
                unwanted = rec.mask  # nobody waits: stop the error from repeating
            if unwanted and rec.mask & unwanted:
                self._set_mask(fd, rec, rec.mask & ~unwanted)

    def _set_mask(self, fd: int, rec: _FdWait, mask: int) -> None:
        """Change what the poller watches on ``fd`` (0: unregister)."""
        poller = self.poller
        if poller is None:
            poller = self.poller = _Poller()
        old = rec.mask
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
        rec.mask = mask

    def wait_fd(self, fd: Any, out: int, deadline: int, op: str | None = None) -> None:
        """Wait until ``fd`` is readable (``out``=0) or writable (``out``=1).

        ``op`` names the wait for the tools (default ``fdin``/``fdout``).
        Hot path (a socket waiting to read): one branch on the direction, the
        poller already watching it.
        """
        if fd.__class__ is not int:
            fd = _fileno(fd)
        task = self.current
        if task.canceled:
            raise Canceled()
        rec = self.fdwaits.get(fd)
        if rec is None:
            if fd < 0:
                raise BadHandle(f"invalid file descriptor {fd}")
            rec = self.fdwaits[fd] = _FdWait()
        # The fd slot is this wait's queue: one waiter per direction, cleared
        # when the wait ends however it ends (O(1), no epoch needed).
        if out:
            if rec.writer is not None or not rec.mask & _EV_OUT:
                self._watch(fd, rec, out)
            rec.writer = task
            try:
                v = self.block(task, op or "fdout", fd, deadline)
            finally:
                rec.writer = None
        else:
            if rec.reader is not None or not rec.mask & _EV_IN:
                self._watch(fd, rec, out)
            rec.reader = task
            try:
                v = self.block(task, op or "fdin", fd, deadline)
            finally:
                rec.reader = None
        if v is not None:
            raise reason_error(task, v)

    def _watch(self, fd: int, rec: _FdWait, out: int) -> None:
        """Before a wait on ``fd``: refuse a second waiter for the same
        direction, and have the poller watch it (errors mapped for the user)."""
        if (rec.writer if out else rec.reader) is not None:
            raise OSError(errno.EBUSY, "another coroutine is already waiting "
                          f"for fd {fd} to become {'writable' if out else 'readable'}")
        bit = _EV_OUT if out else _EV_IN
        if not rec.mask & bit:
            try:
                self._set_mask(fd, rec, rec.mask | bit)
            except OSError as e:
                if not rec.mask and rec.reader is None and rec.writer is None:
                    del self.fdwaits[fd]
                if e.errno == errno.EBADF:
                    raise BadHandle(f"invalid file descriptor {fd}") from None
                if e.errno == errno.EPERM:
                    raise NotSupported(f"fd {fd} cannot be polled") from None
                raise

    def fdclean(self, fd: Any) -> None:
        """Forget the poller state of ``fd`` (call before closing it)."""
        if fd.__class__ is not int:
            fd = _fileno(fd)
        rec = self.fdwaits.get(fd)
        if rec is None:
            return
        if rec.reader is not None or rec.writer is not None:
            raise OSError(errno.EBUSY, f"a coroutine is waiting on fd {fd}")
        if rec.mask:
            self._set_mask(fd, rec, 0)
        del self.fdwaits[fd]

    def fd_closing(self, fd: int) -> None:
        """The owner of ``fd`` is about to close it: wake its waiters with
        ``BadHandle`` and forget its poller state (``fdclean`` without EBUSY)."""
        rec = self.fdwaits.get(fd)
        if rec is None:
            return
        for t in (rec.reader, rec.writer):
            if t is not None:
                self.wake(t, CLOSED)
        rec.reader = rec.writer = None
        if rec.mask:
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
        rec = self.fdwaits[r] = _FdWait()
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
            except Exception as e:  # a bug in a callback must not kill the scheduler
                report_unraisable(e, fn, "a call_threadsafe callback raised")

    def abandon_in_child(self) -> None:
        """In a forked child: close this (inherited) hub's copies of its fds and
        retire it, leaving the parent's hub untouched (``dill._fork``).

        The poller is only closed, never unregistered from: an ``epoll_ctl`` on
        the inherited epoll instance would change the parent's interest list.
        """
        poller, self.poller = self.poller, None
        if poller is not None:
            poller.close()
        self.nregistered = 0
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        self._threadsafe = None  # call_threadsafe (portals) now fails instead of hanging
        self.thread_id = -1      # no thread's ident: the parent's handles raise "another thread's hub"

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
    """Report an exception nobody can observe through ``sys.unraisablehook``.

    The interpreter's own hook only takes its private argument type: while it
    is the one installed, print what it would print instead.
    """
    hook = sys.unraisablehook
    if hook is sys.__unraisablehook__:
        print(f"{msg}: {obj!r}", file=sys.stderr)
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        return
    hook(_Unraisable((type(exc), exc, exc.__traceback__), obj, msg))


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

# DILL_SEED=N seeds every hub's scheduler (dill.testing.seed_scheduler).
_raw_seed = os.environ.get("DILL_SEED", "").strip()
_ENV_SEED: int | None = int(_raw_seed) if _raw_seed.lstrip("-").isdigit() else None

# Every live hub of the process by thread ident (for ``dill.trees()``).
all_hubs: dict[int, Hub] = {}

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
        all_hubs.pop(self.hub.thread_id, None)
        self.hub.close()


def get_hub() -> Hub:
    """The calling OS thread's hub, created on first use."""
    try:
        return _local.hub
    except AttributeError:
        hub = _local.hub = Hub()
        _local.closer = _CloseAtThreadExit(hub)
        all_hubs[hub.thread_id] = hub
        if _ENV_SEED is not None:  # DILL_SEED: seeded scheduling everywhere
            hub.rng = random.Random(_ENV_SEED)
        from ._signals import install_sigint  # imports this module

        install_sigint(hub)
        for fn in hub_created:
            fn(hub)
        return hub


def record_spawn(task: Task) -> None:
    """Note where and when ``task`` was launched (only while the hub is recording)."""
    f: Any = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_DILL_DIR):
        f = f.f_back
    if f is not None:
        task.spawned_at = (f.f_code, f.f_lineno)
    task.started = now()


_DILL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


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
