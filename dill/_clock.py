"""The virtual clock of one hub (``dill.testing.virtual_clock``).

While it is installed, ``now()`` in the hub's thread reads ``ms`` instead of
the monotonic clock, so every deadline and timer of the hub runs on virtual
time.  The hub consults ``idle()`` whenever it has nothing ready: with
``autojump`` and no fd event pending (a zero-timeout poll finds none) and no
``to_thread``/portal work outstanding, the clock jumps straight to the next
timer; otherwise time moves only by ``advance()``.
"""

from __future__ import annotations

from typing import Any

from . import _hub

__all__ = ["VirtualClock"]

_NS_PER_MS = 1_000_000


class VirtualClock:
    """Virtual milliseconds for one hub: read with ``now()``, move with ``advance()``."""

    def __init__(self, hub: Any, autojump: bool, start: int | None) -> None:
        self.hub = hub
        self.autojump = autojump
        self.ms = _hub.now() if start is None else int(start)
        # Virtual time = real monotonic ns + offset, for the patched stdlib
        # clocks (time.monotonic/perf_counter/time): they move with the jumps.
        self.base_ms = self.ms
        self.jumped_ns = 0

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
            self.jumped_ns += (ms - self.ms) * _NS_PER_MS
            self.ms = ms

    def offset_ns(self) -> int:
        """How far virtual time is ahead of the real monotonic clock, in ns."""
        return self.jumped_ns

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
