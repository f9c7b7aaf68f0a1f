"""A dill tracer that records Chrome trace-event JSON (Perfetto, ``chrome://tracing``).

One track (``tid``) per task, named by a ``thread_name`` metadata event and
ordered by first appearance; ``pid`` is the OS process.  On each track:

* complete events (``"ph": "X"``) named ``running`` while the task runs
  (``poll`` on the hub loop's track: it sleeps in the poller), and named by
  the blocking op (``msleep``, ``chrecv``, ``bundle_wait``...) while
  it waits, with ``obj``, ``deadline`` and the wake ``reason`` in ``args``;
* instant events (``"ph": "i"``): ``cancel`` when the task is canceled,
  ``exit`` when it ends (``exc`` in ``args`` if it raised).

A wait span ends when the task runs again (its wake-up as the scheduler
delivers it), so the spans of a track never overlap.  Timestamps are
microseconds of the real ``perf_counter`` since the tracer was made.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any, TextIO

from .. import _hub
from .._tree import _short_repr
from ..patch import get_original

__all__ = ["ChromeTracer"]

_perf_counter_ns = get_original("time", "perf_counter_ns")  # never the virtual clock


class _Track:
    """What one task's track has open: since when it runs, or the wait it is in."""

    __slots__ = ("tid", "is_hub", "running_since", "wait", "last_wait")

    def __init__(self, tid: int, is_hub: bool) -> None:
        self.tid = tid
        self.is_hub = is_hub  # the hub loop: it runs the scheduler and sleeps in the poller
        self.running_since: float | None = None
        self.wait: dict | None = None       # the open wait's event (dur set at its end)
        self.last_wait: dict | None = None  # the wait that ended last (gets the reason)


class ChromeTracer:
    """Records every hub event it is given as Chrome trace events (see the module doc).

    Install it with ``dill.add_tracer(tracer)`` in each thread to trace (or
    ``attach()`` for this thread and every hub made later), then ``write(file)``.
    Events are appended under the GIL: several hubs may share one tracer.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.events: list[dict] = []
        self.tracks: dict[int, _Track] = {}  # task id -> track
        self._tids = itertools.count(1)
        self._t0 = _perf_counter_ns()

    def _now(self) -> float:
        return (_perf_counter_ns() - self._t0) / 1000.0

    # ----------------------------------------------------------- attaching

    def attach(self) -> None:
        """Trace the calling thread's hub (its running task from now) and every hub
        made from now on."""
        _hub.hub_created.append(self._on_new_hub)
        self._on_new_hub(_hub.get_hub())

    def detach(self) -> None:
        """Stop tracing the calling thread's hub and hubs made later; close open spans."""
        from .. import remove_tracer

        if self._on_new_hub in _hub.hub_created:
            _hub.hub_created.remove(self._on_new_hub)
        remove_tracer(self)
        self.finish()

    def _on_new_hub(self, hub: Any) -> None:
        from .. import add_tracer

        add_tracer(self)
        self._track(hub.current).running_since = self._now()

    # ------------------------------------------------------------- tracks

    def _track(self, task: Any) -> _Track:
        tr = self.tracks.get(task.id)
        if tr is None:
            tr = self.tracks[task.id] = _Track(next(self._tids), task is task.hub.loop_task)
            for name, args in (("thread_name", {"name": f"{task.name} #{tr.tid}"}),
                               ("thread_sort_index", {"sort_index": tr.tid})):
                self.events.append({"ph": "M", "name": name, "pid": self.pid,
                                    "tid": tr.tid, "args": args})
        return tr

    def _span(self, tr: _Track, name: str, start: float, end: float,
              args: dict | None = None) -> dict:
        ev = {"ph": "X", "name": name, "cat": "dill", "pid": self.pid, "tid": tr.tid,
              "ts": start, "dur": max(0.0, end - start)}
        if args:
            ev["args"] = args
        self.events.append(ev)
        return ev

    def _instant(self, tr: _Track, name: str, args: dict | None = None) -> None:
        ev = {"ph": "i", "s": "t", "name": name, "cat": "dill", "pid": self.pid,
              "tid": tr.tid, "ts": self._now()}
        if args:
            ev["args"] = args
        self.events.append(ev)

    def _stop_running(self, tr: _Track, at: float) -> None:
        if tr.running_since is not None:
            self._span(tr, "poll" if tr.is_hub else "running", tr.running_since, at)
            tr.running_since = None

    def _start_running(self, tr: _Track, at: float) -> None:
        wait = tr.wait
        if wait is not None:  # the wait ends when the task runs again
            wait["dur"] = max(0.0, at - wait["ts"])
            tr.wait, tr.last_wait = None, wait
        tr.running_since = at

    # --------------------------------------------------- the tracer events

    def on_spawn(self, task: Any, parent: Any) -> None:
        """A task was launched: give it a track (it runs at once, see on_switch)."""
        self._track(task)

    def on_switch(self, prev: Any, next: Any) -> None:
        """``prev`` stops running, ``next`` runs."""
        at = self._now()
        self._stop_running(self._track(prev), at)
        self._start_running(self._track(next), at)

    def on_block(self, task: Any, op: str, obj: Any, deadline: int | None) -> None:
        """``task`` starts waiting: end its running span, open one named ``op``."""
        tr = self._track(task)
        at = self._now()
        self._stop_running(tr, at)
        args: dict = {"obj": _short_repr(obj)}
        if deadline is not None:
            args["deadline"] = deadline
        tr.wait = self._span(tr, op, at, at, args)

    def on_wake(self, task: Any, reason: str) -> None:
        """``task``'s wait returned (it is running): note why it ended."""
        tr = self._track(task)
        if tr.wait is not None:  # it never switched out (e.g. an immediate timeout)
            self._start_running(tr, self._now())
        if tr.last_wait is not None:
            tr.last_wait["args"]["reason"] = reason
            tr.last_wait = None

    def on_cancel(self, task: Any) -> None:
        """``task`` was canceled: an instant event on its track."""
        self._instant(self._track(task), "cancel")

    def on_exit(self, task: Any, exc: BaseException | None) -> None:
        """``task`` ended: close its running span, mark the end."""
        tr = self._track(task)
        self._stop_running(tr, self._now())
        self._instant(tr, "exit", {"exc": repr(exc)} if exc is not None else None)

    # ------------------------------------------------------------ output

    def finish(self) -> None:
        """Close every span still open (tasks running or blocked at the end)."""
        at = self._now()
        for tr in list(self.tracks.values()):
            self._stop_running(tr, at)
            if tr.wait is not None:
                tr.wait["dur"] = max(0.0, at - tr.wait["ts"])
                tr.wait = None

    def as_dict(self) -> dict:
        """The trace: ``{"traceEvents": [...], "displayTimeUnit": "ms"}``, metadata
        first, then by time."""
        events = list(self.events)
        meta = [e for e in events if e["ph"] == "M"]
        timed = sorted((e for e in events if e["ph"] != "M"), key=lambda e: e["ts"])
        return {"traceEvents": meta + timed, "displayTimeUnit": "ms"}

    def write(self, file: TextIO) -> None:
        """Write the trace as JSON to an open text file."""
        json.dump(self.as_dict(), file)

