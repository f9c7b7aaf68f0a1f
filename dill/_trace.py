"""Tracing hooks: ``add_tracer`` / ``remove_tracer`` on the calling thread's hub.

A tracer implements any subset of ``on_spawn(task, parent)``,
``on_switch(prev, next)``, ``on_block(task, op, obj, deadline)``,
``on_wake(task, reason)``, ``on_cancel(task)`` and ``on_exit(task, exc)``.
``task`` objects have ``.id``, ``.name`` and ``.info()``.

Nearly free when no tracer is installed: the switch, block and wake paths do
not test for tracers; a task's spawn and exit each read ``hub.tracing`` once.
Installing the first one shadows the hub's ``block``, ``block_uncancelable``
and ``cancel`` with traced versions (instance attributes, found before the
class's methods), hooks greenlet switches with ``greenlet.settrace`` (chained
with any trace already set), and turns spawn recording on; removing the last
one undoes all of it.

A tracer that raises is removed and reported through ``sys.unraisablehook``;
the program goes on.
"""

from __future__ import annotations

from typing import Any

import greenlet

from ._hub import CANCEL, CLOSED, DONE, INTERRUPT, TIMEOUT, Hub, Task, get_hub, report_unraisable

__all__ = ["add_tracer", "remove_tracer", "wake_reason"]

_REASONS = {id(TIMEOUT): "timeout", id(CANCEL): "cancel", id(DONE): "done",
            id(CLOSED): "closed", id(INTERRUPT): "interrupt"}


def wake_reason(value: Any) -> str:
    """Why a wait ended, from its wake value: ``"ready"`` when it was served."""
    if value.__class__ is tuple and len(value) == 2:  # a choose clause: (index, value)
        value = value[1]
    return _REASONS.get(id(value), "ready")


class _Tracing:
    """The instrumentation of one hub while it has tracers."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.tracers: list = hub.tracers
        self.prev_trace: Any = None
        self.last: Task = hub.current

    def emit(self, event: str, *args: Any) -> None:
        for tracer in list(self.tracers):
            fn = getattr(tracer, event, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception as e:
                self.drop(tracer, e, event)

    def drop(self, tracer: Any, exc: BaseException, event: str) -> None:
        try:
            self.tracers.remove(tracer)
        except ValueError:
            pass
        report_unraisable(exc, tracer, f"dill: tracer raised in {event}; it was removed")
        if not self.tracers:
            self.uninstall()

    # --------------------------------------------------------- the shadows

    def install(self) -> None:
        hub = self.hub
        cls = type(hub)
        emit = self.emit

        def block(task: Task, op: str, obj: Any, deadline: int) -> Any:
            emit("on_block", task, op, obj, None if deadline < 0 else deadline)
            v = cls.block(hub, task, op, obj, deadline)
            emit("on_wake", task, wake_reason(v))
            return v

        def block_uncancelable(task: Task, op: str, obj: Any) -> Any:
            emit("on_block", task, op, obj, None)
            v = cls.block_uncancelable(hub, task, op, obj)
            emit("on_wake", task, wake_reason(v))
            return v

        def cancel(task: Task) -> None:
            if not task.canceled:
                emit("on_cancel", task)
            cls.cancel(hub, task)

        hub.block = block  # type: ignore[method-assign]
        hub.block_uncancelable = block_uncancelable  # type: ignore[method-assign]
        hub.cancel = cancel  # type: ignore[method-assign]
        hub.recording += 1
        self.prev_trace = greenlet.settrace(self.on_greenlet_event)

    def uninstall(self) -> None:
        hub = self.hub
        for name in ("block", "block_uncancelable", "cancel"):
            hub.__dict__.pop(name, None)
        hub.recording -= 1
        greenlet.settrace(self.prev_trace)
        hub.tracing = None

    def on_spawn(self, task: Task) -> None:
        self.emit("on_spawn", task, task.parent)

    def on_exit(self, task: Task) -> None:
        self.emit("on_exit", task, task.exc)

    def on_greenlet_event(self, event: str, args: Any) -> None:
        prev_trace = self.prev_trace
        if prev_trace is not None:
            prev_trace(event, args)
        if event in ("switch", "throw"):
            nxt = self.hub.current  # whoever switches sets hub.current first
            last = self.last
            if nxt is not last:
                self.last = nxt
                self.emit("on_switch", last, nxt)


def add_tracer(tracer: Any) -> None:
    """Install ``tracer`` on the calling thread's hub (see the module docstring)."""
    hub = get_hub()
    if tracer in hub.tracers:
        return
    hub.tracers.append(tracer)
    if hub.tracing is None:
        hub.tracing = _Tracing(hub)
        hub.tracing.install()


def remove_tracer(tracer: Any) -> None:
    """Remove ``tracer`` from the calling thread's hub (a no-op if it is not there)."""
    hub = get_hub()
    try:
        hub.tracers.remove(tracer)
    except ValueError:
        return
    if not hub.tracers and hub.tracing is not None:
        hub.tracing.uninstall()
