"""The blocking detector: report coroutines that hold their hub too long.

Off by default and free when off: nothing is added to the scheduler.  When on,
each hub's thread gets a ``greenlet.settrace`` hook that stamps the time of
every greenlet switch, and one watchdog thread looks at the stamps every
quarter threshold.  A greenlet other than the hub loop (which only sleeps in
the poller) that has run longer than the threshold without switching is
reported once, with the stack ``sys._current_frames()`` shows for its thread.
Root code is reported only while coroutines of its hub are waiting to run
(ready, on a timer or on an fd): a plain program that computes is no bug.

Enable it with ``enable_blocking_detector(threshold_ms=100, file=sys.stderr)``
or the environment variable ``DILL_BLOCKING_DETECTOR=<ms>`` (read at import).
It covers the calling thread and every hub made afterwards, in any thread.
"""

from __future__ import annotations

import _thread
import os
import sys
import time
import traceback
import weakref
from typing import Any, Protocol

import greenlet

from . import _hub
from ._threads import start_own_thread

__all__ = ["enable_blocking_detector", "disable_blocking_detector"]

_monotonic = time.monotonic
_allocate_lock = _thread.allocate_lock
_get_ident = _thread.get_ident


def _waited_for(hub: Any) -> bool:
    """Whether a coroutine waits for ``hub`` to switch: one is ready, a timer is
    armed or an fd wait is on.  Read from the watchdog thread, so nothing is
    changed: dead timer entries (``dead_timers`` counts them exactly) and fds
    still registered with nobody waiting on them do not count."""
    if hub.ready or hub.ntimers > hub.dead_timers:
        return True
    return any(rec.reader is not None or rec.writer is not None
               for rec in list(hub.fdwaits.values()))


class TextSink(Protocol):
    """Where reports go: a text file, or anything with ``write`` and ``flush``."""

    def write(self, text: str, /) -> object:
        """Write ``text``."""

    def flush(self) -> object:
        """Flush what was written."""


class _ThreadState:
    """What the trace hook of one hub's thread records (written only there)."""

    __slots__ = ("ident", "hub", "loop", "root", "target", "since", "epoch",
                 "reported", "prev", "trace", "active", "__weakref__")

    def __init__(self, hub: Any) -> None:
        self.ident = _get_ident()
        self.hub = weakref.ref(hub)
        self.loop = hub.loop_task.greenlet
        self.root = hub.root.greenlet
        self.target = greenlet.getcurrent()
        self.since = _monotonic()
        self.epoch = 0
        self.reported = -1
        self.prev: Any = None
        self.trace: Any = None
        self.active = True


class _Detector:
    def __init__(self, threshold_ms: float, file: TextSink | None) -> None:
        self.threshold = threshold_ms / 1000.0
        self.file = file
        self.states: dict[int, _ThreadState] = {}
        self.mutex = _allocate_lock()
        self.stop = _allocate_lock()
        self.stop.acquire()
        self.stopped = False
        self.reports = 0
        self.ident: int | None = None
        self.exited = False

    # -------------------------------------------------------- in hub threads

    def install(self, hub: Any) -> None:
        """Install the trace hook in the calling thread (the hub's thread)."""
        st = _ThreadState(hub)
        monotonic = _monotonic

        def trace(event: str, args: Any) -> Any:
            if st.active:
                if event == "switch" or event == "throw":
                    st.target = args[1]
                    st.since = monotonic()
                    st.epoch += 1
            elif greenlet.gettrace() is trace:  # disabled: unhook, in our own thread
                greenlet.settrace(st.prev)
            prev = st.prev
            if prev is not None:
                return prev(event, args)
            return None

        st.trace = trace
        st.prev = greenlet.settrace(trace)
        with self.mutex:
            self.states[st.ident] = st

    def uninstall_current(self) -> None:
        st = self.states.get(_get_ident())
        if st is None:
            return
        st.active = False
        if greenlet.gettrace() is st.trace:
            greenlet.settrace(st.prev)
        with self.mutex:
            self.states.pop(st.ident, None)

    # ------------------------------------------------------ the watchdog thread

    def watch(self) -> None:
        n = 0
        try:
            while not self.stop.acquire(True, max(self.threshold / 4, 0.001)):
                n += 1
                try:
                    if n % 64 == 0:
                        self.prune()
                    self.check()
                except Exception:  # pragma: no cover - never let the watchdog die
                    pass
        finally:
            self.exited = True

    def prune(self) -> None:
        """Forget threads that have ended."""
        alive = sys._current_frames()
        with self.mutex:
            for ident in [i for i in self.states if i not in alive]:
                del self.states[ident]

    def check(self) -> None:
        t_now = _monotonic()
        with self.mutex:
            states = list(self.states.values())
        frames = None
        for st in states:
            target = st.target
            if target is None or target is st.loop:
                continue
            held = t_now - st.since
            epoch = st.epoch
            if held < self.threshold or st.reported == epoch:
                continue
            hub = st.hub()
            if hub is None:
                continue
            if target is st.root and not _waited_for(hub):
                continue  # root code with no coroutine waiting for the hub
            if frames is None:
                frames = sys._current_frames()
            frame = frames.get(st.ident)
            if frame is None or st.epoch != epoch:
                continue  # the thread is gone or switched meanwhile
            st.reported = epoch
            self.report(st, target, held, frame)

    def report(self, st: _ThreadState, target: Any, held: float, frame: Any) -> None:
        who = "root code" if target is st.root else "a coroutine"
        threading = sys.modules.get("threading")
        thread = getattr(threading, "_active", {}).get(st.ident)
        name = f" {thread.name!r}" if thread is not None else ""
        stack = "".join(traceback.format_stack(frame))
        msg = (f"dill: blocking detector: {who} in thread{name} {st.ident} has held its hub "
               f"for {held * 1000:.0f} ms without switching (threshold "
               f"{self.threshold * 1000:.0f} ms):\n{stack}")
        f = self.file if self.file is not None else sys.stderr
        try:
            f.write(msg)
            f.flush()
        except Exception:  # pragma: no cover - a closed stderr must not kill us
            pass
        self.reports += 1


_detector: _Detector | None = None
_lock = _allocate_lock()

def _on_new_hub(hub: Any) -> None:
    d = _detector
    if d is not None:  # a state left under this ident is a dead thread's
        d.install(hub)


def enable_blocking_detector(threshold_ms: float = 100, file: TextSink | None = None) -> None:
    """Report, with its stack, any coroutine that holds its hub over ``threshold_ms``.

    Covers the calling thread and every hub created afterwards; reports go to
    ``file`` (default: ``sys.stderr`` at report time).  Calling it again
    replaces the settings.  Costs one trace call per greenlet switch while on
    and nothing when off.
    """
    global _detector
    if isinstance(threshold_ms, bool) or not isinstance(threshold_ms, (int, float)):
        raise TypeError(f"threshold_ms must be a number, not {type(threshold_ms).__name__}")
    if not threshold_ms > 0:
        raise ValueError(f"threshold_ms must be positive, not {threshold_ms}")
    with _lock:
        d = _detector
        if d is not None:  # already on: new settings, same hooks and watchdog
            d.threshold = threshold_ms / 1000.0
            d.file = file
        else:
            d = _detector = _Detector(threshold_ms, file)
            d.ident = start_own_thread(d.watch)
        if _on_new_hub not in _hub.hub_created:
            _hub.hub_created.append(_on_new_hub)
    hub = _hub.get_hub()  # a hub made just now was hooked by _on_new_hub already
    if _get_ident() not in d.states:
        d.install(hub)


def disable_blocking_detector() -> None:
    """Turn the detector off: stop the watchdog and remove the trace hooks.

    The calling thread's hook goes at once; other threads' hooks go at their
    next greenlet switch (each removes itself, in its own thread).
    """
    global _detector
    with _lock:
        d, _detector = _detector, None
        if _on_new_hub in _hub.hub_created:
            _hub.hub_created.remove(_on_new_hub)
    if d is None:
        return
    d.stopped = True
    d.stop.release()
    d.uninstall_current()
    with d.mutex:
        others = list(d.states.values())
        d.states.clear()
    for st in others:
        st.active = False


def _from_env() -> None:
    value = os.environ.get("DILL_BLOCKING_DETECTOR", "").strip()
    if not value or value.lower() in ("0", "off", "false", "no"):
        return
    try:
        ms = float(value)
    except ValueError:
        print(f"dill: ignoring DILL_BLOCKING_DETECTOR={value!r} (expected milliseconds)",
              file=sys.stderr)
        return
    if ms > 0:
        enable_blocking_detector(ms)


_from_env()
