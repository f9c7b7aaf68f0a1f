"""Coroutines and bundles: launching, waiting for and canceling groups of tasks."""

from __future__ import annotations

import functools
import sys
import warnings
from _thread import get_ident
from types import FunctionType, MethodType
from typing import Any, Callable, TypeVar

from ._errors import Canceled
from ._handle import Handle, not_a
from ._hub import (
    INTERRUPT, ORPHANED, TIMEOUT, Hub, Task, check_deadline, get_hub, reason_error,
    report_unraisable, wrong_thread,
)
from ._hub import _local as _thread_local  # go() inlines get_hub()
from ._wait import WaitQueue

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

__all__ = [
    "coroutine", "go", "yield_", "msleep", "Coroutine", "Bundle", "bundle",
    "bundle_go", "bundle_wait",
]

T = TypeVar("T")

_new_object = object.__new__


class Call:
    """An unstarted call made by a ``@coroutine`` function: pass it to ``go``."""

    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def __call__(self) -> Any:
        """Run the call synchronously in the current coroutine."""
        return self.fn(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"<unstarted call {getattr(self.fn, '__qualname__', self.fn)!r}>"


def coroutine(fn: Callable[..., T]) -> Callable[..., Call]:
    """Mark ``fn`` as a coroutine: calling it returns an unstarted call for ``go``.

    ``go(foo(34, "ABC"))`` then reads as in libdill; ``go(foo, 34, "ABC")``
    works too.  The plain function stays available as ``foo.func``.
    """
    if not callable(fn):
        raise TypeError(f"@coroutine needs a callable, not {type(fn).__name__}")

    @functools.wraps(fn)
    def make_call(*args: Any, **kwargs: Any) -> Call:
        return Call(fn, args, kwargs)

    make_call.func = make_call._dill_coroutine = fn  # type: ignore[attr-defined]
    return make_call


def _unpack(fn: Any, args: tuple, kwargs: dict) -> tuple:
    """The function and arguments ``go(fn, *args, **kwargs)`` runs, checked.

    ``go`` and ``Bundle.go`` call it for anything but a plain function
    without ``_dill_coroutine`` (tested inline there: a call fewer per spawn),
    for which it would return its arguments unchanged.
    """
    if fn.__class__ is Call:
        if args or kwargs:
            raise TypeError("go(foo(...)) takes no extra arguments")
        return fn.fn, fn.args, fn.kwargs
    if not callable(fn):
        raise TypeError(f"go() needs a callable or a @coroutine call, not {type(fn).__name__}")
    # go(foo, *args) with a @coroutine foo runs foo's body, not its Call maker.
    body = getattr(fn, "_dill_coroutine", None)
    if body is not None:
        fn = MethodType(body, fn.__self__) if fn.__class__ is MethodType else body
    return fn, args, kwargs


def _queue(holder: Any) -> WaitQueue:
    """The wait queue of a bundle's group or of a lone task, made on first use."""
    q = holder.waiters
    if q is None:
        q = holder.waiters = WaitQueue()
    return q


def _await_exit(hub: Hub, holder: Any, op: str, handle: Handle, deadline: int) -> None:
    """Block the current task until ``holder`` (a group or a lone task) wakes its
    waiters: one cancelable wait, ``TimedOut``/``Canceled`` on a reason."""
    task = hub.current
    q = _queue(holder)
    q.park(task)
    v = hub.block(task, op, handle, deadline)
    if v is not None:
        q.give_up()
        raise reason_error(task, v)


def _close_wait(hub: Hub, holder: Any, running: Callable[[], Any], handle: Handle) -> None:
    """Wait uninterruptibly (``hclose``) while ``running()``; an interrupt
    (KeyboardInterrupt & co, for the root) is raised at once."""
    cur = hub.current
    while running():
        q = _queue(holder)
        q.park(cur)
        if hub.block_uncancelable(cur, "hclose", handle) is INTERRUPT:
            q.give_up()
            raise reason_error(cur, INTERRUPT)


class _Group:
    """What a bundle tracks about its running tasks.

    Listed in ``hub.groups`` while its bundle is open or a member runs: the
    tools find bundle members there, not in ``hub.tasks`` (one registry
    entry fewer per spawn into a bundle).
    """

    __slots__ = ("members", "waiters", "failures", "orphaned", "open", "creator")

    def __init__(self, hub: Hub) -> None:
        # Its running tasks in launch order (their count is how many run).
        self.members: dict[Task, None] = {}
        self.waiters: WaitQueue | None = None  # made on first wait
        self.failures: list[Exception] | None = None
        self.orphaned = False
        self.open = True  # its bundle is neither closed nor garbage-collected
        self.creator = hub.current  # the task that made the bundle
        hub.groups[self] = None

    def ended(self, hub: Hub) -> None:
        """The bundle was closed or collected: unlist the group unless members
        still run (the last of them unlists it, in the hub's worker)."""
        self.open = False
        if not self.members:
            hub.groups.pop(self, None)

    def failed(self, task: Task, exc: Exception) -> None:
        """Keep ``exc``, the exception of member ``task`` (the hub's worker has
        done the rest of a member's exit: ``members``, waking)."""
        if self.orphaned:
            report_unraisable(exc, task, "a coroutine of a garbage-collected "
                              "bundle failed")
        elif self.failures is None:
            self.failures = [exc]
        else:
            self.failures.append(exc)

    def wait(self, hub: Hub, deadline: int, handle: Handle) -> None:
        """Block the current task until no member runs, or raise ``TimedOut``."""
        if hub.thread_id != get_ident():
            raise wrong_thread(handle)
        task = hub.current
        if task.canceled:
            raise Canceled()
        if not self.members:
            return
        if task.group is self:
            raise RuntimeError("a coroutine cannot wait for its own bundle")
        _await_exit(hub, self, "bundle_wait", handle, deadline)

    def close(self, hub: Hub, handle: Handle) -> None:
        """Cancel every running member and wait (uninterruptibly) until all exited."""
        for task in list(self.members):
            hub.cancel(task)
        _close_wait(hub, self, lambda: self.members, handle)

    def take_failures(self) -> list[Exception]:
        failures, self.failures = self.failures, None
        return failures or []


class Coroutine(Handle):
    """Handle of a coroutine launched by ``go``.

    ``hclose`` cancels it and returns once it has exited; ``wait()`` returns
    its function's result.  A lone coroutine has no group object: its task
    holds its waiters and its outcome (one object fewer per ``go`` for the
    garbage collector, which dominates a handle-path ``go``).
    """

    __slots__ = ("_closed", "_task", "__weakref__")
    _closed: bool
    _task: Task

    # No __init__: ``go`` makes it with ``object.__new__`` and two stores (a
    # class call with a Python __init__ costs ~400 ns on 3.11; see new_task).

    @property
    def finished(self) -> bool:
        """True once the coroutine's function has returned or raised."""
        return self._task.finished

    def wait(self, deadline: int | None = -1) -> Any:
        """Wait until the coroutine finishes; return its result.

        Its exception, if it raised one, is raised here (once); ``TimedOut``
        at the deadline leaves it running.
        """
        if self._closed:
            self._check()
        if deadline.__class__ is not int:
            deadline = check_deadline(deadline)
        task = self._task
        hub = task.hub
        if hub.thread_id != get_ident():
            raise wrong_thread(self)
        cur = hub.current
        if cur.canceled:
            raise Canceled()
        if task.greenlet is not None:  # not finished (the property, inlined)
            if cur is task:
                raise RuntimeError("a coroutine cannot wait for itself")
            _await_exit(hub, task, "wait", self, deadline)
        # _outcome(), inlined: wait() is half of a handle-path go.
        exc = task.exc
        if exc is not None:
            task.exc = None  # raised once
            raise exc
        return task.result

    def _outcome(self) -> Any:
        task = self._task
        exc = task.exc
        if exc is not None:
            task.exc = None  # raised once
            raise exc
        return task.result

    def check_close(self) -> None:
        hub = self._task.hub
        if hub.thread_id != get_ident():
            raise wrong_thread(self)
        if hub.current is self._task:
            raise RuntimeError("a coroutine cannot close its own handle")

    def on_close(self) -> None:
        task = self._task
        hub = task.hub
        if task.greenlet is not None:  # running (``finished``, inlined)
            hub.cancel(task)
            _close_wait(hub, task, lambda: not task.finished, self)
        hub.tasks.pop(task, None)
        self._outcome()

    def __del__(self) -> None:
        if self._closed:
            return
        task = self._task
        if task.greenlet is not None:  # running (``finished``, inlined)
            task.waiters = ORPHANED  # nobody can wait for it now
            warnings.warn(f"a running coroutine's handle was garbage-collected "
                          f"without hclose: {self!r}", ResourceWarning, source=self)
            return
        task.hub.tasks.pop(task, None)
        if task.exc is not None:
            report_unraisable(task.exc, self, "a coroutine failed and its handle was "
                              "garbage-collected without wait() or hclose()")

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("finished" if self._task.finished else "running")
        return f"<dill.Coroutine {self._task.name} {state}>"


class Bundle(Handle):
    """A group of coroutines closed together: ``hclose`` cancels them all."""

    __slots__ = ("_closed", "_hub", "_group", "__weakref__")

    def __init__(self) -> None:
        self._closed = False
        hub = self._hub = get_hub()
        self._group = _Group(hub)

    def go(self, fn: Callable | Call, *args: Any, **kwargs: Any) -> None:
        """Launch ``fn(*args, **kwargs)`` (or a ``@coroutine`` call) in this bundle."""
        if self._closed:
            self._check()
        hub = self._hub
        if hub.thread_id != get_ident():
            raise wrong_thread(self)
        if fn.__class__ is not FunctionType or getattr(fn, "_dill_coroutine", None) is not None:
            fn, args, kwargs = _unpack(fn, args, kwargs)  # not a plain function
        hub.spawn(fn, args, kwargs, self._group)

    def wait(self, deadline: int | None = -1) -> None:
        """Same as ``bundle_wait(self, deadline)``."""
        self._check()
        if deadline.__class__ is not int:
            deadline = check_deadline(deadline)
        self._group.wait(self._hub, deadline, self)
        _raise_group(self._group)

    def __len__(self) -> int:
        """The number of coroutines still running in the bundle."""
        return len(self._group.members)

    def check_close(self) -> None:
        hub = self._hub
        if hub.thread_id != get_ident():
            raise wrong_thread(self)
        if hub.current.group is self._group:
            raise RuntimeError("a coroutine cannot close the bundle it belongs to")

    def on_close(self) -> None:
        hub = self._hub
        group = self._group
        group.ended(hub)
        group.close(hub, self)
        _raise_group(group)

    def __del__(self) -> None:
        if self._closed:
            return
        group = self._group
        group.ended(self._hub)
        if group.members:
            group.orphaned = True
            warnings.warn(f"a bundle with {len(group.members)} running coroutines was "
                          "garbage-collected without hclose", ResourceWarning, source=self)
        elif group.failures:
            report_unraisable(_group_error(group.take_failures()), self,
                              "bundle failures never observed")

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._group.members)} running"
        return f"<dill.Bundle {state}>"


def _group_error(failures: list[Exception]) -> ExceptionGroup:
    return ExceptionGroup(f"{len(failures)} coroutine(s) of the bundle failed", failures)


def _raise_group(group: _Group) -> None:
    failures = group.take_failures()
    if failures:
        raise _group_error(failures)


def go(fn: Callable | Call, *args: Any, **kwargs: Any) -> Coroutine:
    """Launch a coroutine; it runs at once until it first blocks.

    ``go(foo(34, "ABC"))`` for a ``@coroutine`` function, or ``go(fn, *args,
    **kwargs)`` for any callable.  Returns its handle: ``hclose`` it.
    Raises ``Canceled`` if the caller is canceled.
    """
    try:
        hub = _thread_local.hub  # get_hub(), inlined: one call fewer per go
    except AttributeError:
        hub = get_hub()
    if fn.__class__ is not FunctionType or getattr(fn, "_dill_coroutine", None) is not None:
        fn, args, kwargs = _unpack(fn, args, kwargs)  # not a plain function
    task = hub.spawn(fn, args, kwargs, None)
    h = _new_object(Coroutine)  # see Coroutine: no __init__
    h._closed = False
    h._task = task
    return h


def bundle() -> Bundle:
    """Create an empty bundle of coroutines."""
    return Bundle()


def bundle_go(b: Bundle, fn: Callable | Call, *args: Any, **kwargs: Any) -> None:
    """Launch a coroutine in bundle ``b``: ``bundle_go(b, foo(34, "ABC"))``."""
    if b.__class__ is not Bundle:
        raise not_a(b, Bundle)
    b.go(fn, *args, **kwargs)


def bundle_wait(b: Bundle | Coroutine, deadline: int | None = -1) -> None:
    """Wait until every coroutine in ``b`` has finished (at once when empty).

    Raises ``TimedOut`` at the deadline (leaving them running), ``Canceled`` if
    the caller is canceled, and an ``ExceptionGroup`` (or, for a single
    coroutine, its exception) of failures not yet observed.
    """
    if b.__class__ is Bundle:
        b.wait(deadline)
    elif b.__class__ is Coroutine:
        b.wait(deadline)
    else:
        raise not_a(b, Bundle)


def yield_() -> None:
    """Let every other ready coroutine run once, then continue."""
    get_hub().yield_()


def msleep(deadline: int | None) -> None:
    """Sleep until ``deadline`` (ms on the ``now()`` clock); -1/None: until canceled."""
    if deadline.__class__ is not int:
        deadline = check_deadline(deadline)
    hub = get_hub()
    task = hub.current
    if task.canceled:
        raise Canceled()
    v = hub.block(task, "msleep", None, deadline)
    if v is not None and v is not TIMEOUT:
        raise reason_error(task, v)

