"""The virtual clock of one hub (``dill.testing.virtual_clock``).

While it is installed, ``now()`` in the hub's thread reads ``ms`` instead of
the monotonic clock, so every deadline and timer of the hub runs on virtual
time.  The hub consults ``idle()`` whenever it has nothing ready: with
``autojump`` and no fd event pending (a zero-timeout poll finds none) and no
``to_thread``/portal work outstanding, the clock jumps straight to the next
timer; otherwise time moves only by ``advance()``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

from . import _hub

__all__ = ["VirtualClock", "install_stdlib_clocks", "uninstall_stdlib_clocks"]

_NS_PER_MS = 1_000_000


class VirtualClock:
    """Virtual milliseconds for one hub: read with ``now()``, move with ``advance()``."""

    def __init__(self, hub: Any, autojump: bool, start: int | None) -> None:
        self.hub = hub
        self.autojump = autojump
        self.ms = _hub.now() if start is None else int(start)
        self.start_ms = self.ms
        self.start_wall_ns = time.time_ns()  # time.time() moves with the jumps from here

    def now(self) -> int:
        """The virtual time in ms (what ``dill.now()`` returns in this hub)."""
        return self.ms

    def advance(self, ms: int) -> None:
        """Move the clock forward by ``ms`` (>= 0); due timers fire at the next pass."""
        if isinstance(ms, bool) or not isinstance(ms, (int, float)):
            raise TypeError(f"advance() takes milliseconds, not {type(ms).__name__}")
        if ms < 0:
            raise ValueError("the clock only moves forward")
        self._move_to(self.ms + int(ms))

    def _move_to(self, ms: int) -> None:
        if ms > self.ms:
            self.ms = ms

    def wall_ns(self) -> int:
        """``time.time_ns()`` on this clock: the real wall time at the start,
        shifted by the virtual time elapsed since."""
        return self.start_wall_ns + (self.ms - self.start_ms) * _NS_PER_MS

    def idle(self, hub: Any, timeout: int) -> int:
        """The hub has nothing ready; ``timeout`` is virtual ms to the next timer
        (-1: none).  Jump if allowed; return the real timeout to poll with."""
        if timeout < 0:
            return timeout
        if not self.autojump or hub.remote_waits:
            # Time moves only by advance() or once other threads' work is in;
            # meanwhile wait for fds and wake-ups only.
            if not hub.nregistered and not hub.remote_waits and hub.root.waiting:
                from ._deadlock import Deadlock

                hub.interrupt_root(Deadlock(
                    "dill: deadlock: every task waits for a timer of a virtual clock "
                    "without autojump, and nobody can call advance()"))
                return 0
            return -1
        if hub.nregistered:
            hub._poll(0)
            if hub.ready:
                return 0
        self._move_to(self.ms + timeout)
        return 0


# ------------------------------------------------- the patched stdlib clocks

# The real functions, captured before anything can replace them.
_REAL = {name: getattr(time, name) for name in
         ("monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns")}
_installed = 0


def _clock_of_thread() -> VirtualClock | None:
    hub = getattr(_hub._local, "hub", None)
    return hub.vclock if hub is not None else None


def _virtual(name: str, from_clock: Callable[[VirtualClock], Any]) -> Callable[[], Any]:
    real = _REAL[name]

    def clock() -> Any:
        c = _clock_of_thread()
        return real() if c is None else from_clock(c)

    clock.__name__ = clock.__qualname__ = name
    clock.__doc__ = f"``time.{name}()``, virtual inside dill.testing.virtual_clock()."
    return clock


_VIRTUAL = {
    "monotonic": _virtual("monotonic", lambda c: c.ms / 1000),
    "monotonic_ns": _virtual("monotonic_ns", lambda c: c.ms * _NS_PER_MS),
    "perf_counter": _virtual("perf_counter", lambda c: c.ms / 1000),
    "perf_counter_ns": _virtual("perf_counter_ns", lambda c: c.ms * _NS_PER_MS),
    "time": _virtual("time", lambda c: c.wall_ns() / 1e9),
    "time_ns": _virtual("time_ns", lambda c: c.wall_ns()),
}


# Modules that bound time.monotonic to a name of their own at import: their
# timeout loops (Condition.wait_for, Queue.get, Popen.wait...) must see the
# virtual clock too.
_BOUND_MONOTONIC = [("threading", "_time"), ("queue", "time"), ("subprocess", "_time"),
                    ("socketserver", "time"), ("sched", "_time"),
                    ("dill.green.queue", "time"), ("dill.green.subprocess", "_monotonic")]
_swapped: list = []  # (module, name, original) to put back


def install_stdlib_clocks() -> None:
    """While a virtual clock is active in a patched process, the stdlib's
    clocks read it in that clock's thread (other threads see the real time).
    Only under ``dill.patch``: unpatched code keeps the real clocks."""
    global _installed
    _installed += 1
    if _installed > 1:
        return
    real_time = sys.modules["time"]  # dill.patch may have shielded our `time`
    for name, fn in _VIRTUAL.items():
        setattr(real_time, name, fn)
    for modname, name in _BOUND_MONOTONIC:
        mod = sys.modules.get(modname)
        if mod is not None and getattr(mod, name, None) is _REAL["monotonic"]:
            _swapped.append((mod, name))
            setattr(mod, name, _VIRTUAL["monotonic"])


def uninstall_stdlib_clocks() -> None:
    """Undo one ``install_stdlib_clocks``; the last one puts the real clocks back."""
    global _installed
    _installed -= 1
    if _installed:
        return
    real_time = sys.modules["time"]
    for name, fn in _REAL.items():
        setattr(real_time, name, fn)
    while _swapped:
        mod, name = _swapped.pop()
        setattr(mod, name, _REAL["monotonic"])
