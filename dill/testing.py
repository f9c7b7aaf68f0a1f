"""Deterministic testing: a virtual clock and seeded scheduling (SPEC-TOOLS 5 and 6).

    from dill.testing import virtual_clock, seed_scheduler

    with virtual_clock() as clock:      # an hour of msleep takes no real time
        msleep(now() + 3_600_000)

    with seed_scheduler(42):            # a reproducible interleaving
        run_the_racy_code()

Both act on the calling thread's hub.  ``DILL_SEED=N`` in the environment
seeds every hub of the process from the start.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator

from . import _hub
from ._clock import VirtualClock, install_stdlib_clocks, uninstall_stdlib_clocks

__all__ = ["virtual_clock", "seed_scheduler", "VirtualClock"]


@contextmanager
def virtual_clock(autojump: bool = True, start: int | None = None) -> Iterator[VirtualClock]:
    """Make ``now()`` virtual in the calling thread's hub for the ``with`` block.

    Timers fire in deadline order.  With ``autojump``, whenever no task is
    ready, no fd event is pending and no ``to_thread``/portal work is
    outstanding, the clock jumps to the next timer at once.  ``clock.advance(ms)``
    moves it by hand; ``clock.now()`` reads it.  ``start`` sets its first value
    (default: the real ``now()``).  Under ``dill.patch`` it also drives the
    patched stdlib clocks and timeouts (``time.sleep``, ``time.monotonic``...).

    On leaving, ``now()`` returns to the real clock; timers still pending keep
    their virtual deadlines, which the real clock may be far behind or ahead of.
    """
    hub = _hub.get_hub()
    if hub.vclock is not None:
        raise RuntimeError("a virtual clock is already active in this thread's hub")
    clock = VirtualClock(hub, autojump, start)
    stdlib = _time_is_patched()
    hub.vclock = clock
    _hub._virtual_clocks += 1
    if stdlib:
        install_stdlib_clocks()
    try:
        yield clock
    finally:
        if stdlib:
            uninstall_stdlib_clocks()
        hub.vclock = None
        _hub._virtual_clocks -= 1


def _time_is_patched() -> bool:
    """True once ``dill.patch()`` made ``time`` green."""
    import sys

    patch = sys.modules.get("dill.patch")
    return bool(patch is not None and (patch._result or {}).get("time"))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"the seed must be an int, not {type(seed).__name__}")
    return seed


@contextmanager
def seed_scheduler(seed: int) -> Iterator[int]:
    """Permute, with a PRNG seeded by ``seed``, the order in which tasks made
    ready in the same scheduler pass resume (SPEC.md's FIFO rule is relaxed
    in this mode; everything else holds).  With the same seed, program and a
    virtual clock, the interleaving repeats exactly."""
    hub = _hub.get_hub()
    old = hub.rng
    hub.rng = random.Random(_check_seed(seed))
    hub.budget = 0  # start a pass at the next switch, whatever came before
    try:
        yield seed
    finally:
        hub.rng = old
