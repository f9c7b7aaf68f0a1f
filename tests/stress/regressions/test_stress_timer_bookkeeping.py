"""Regressions found by the stress suite (tests/stress/storm.py): timer bookkeeping."""

from __future__ import annotations

from dill import bundle, hclose, msleep, now
from dill._hub import get_hub


def close_sleepers(n: int) -> None:
    b = bundle()
    for _ in range(n):
        b.go(msleep, now() + 3_600_000)
    hclose(b)


def test_dead_timers_never_exceeds_the_heap_after_a_mass_close():
    hub = get_hub()
    close_sleepers(100)    # leaves 100 dead entries: the next close compacts mid-wake
    close_sleepers(1000)
    assert hub.dead_timers <= hub.ntimers, (hub.dead_timers, hub.ntimers)
    assert hub.ntimers == len(hub.armed_timers())
    live = sum(1 for _, t, epoch in hub.armed_timers() if t.waiting and t.epoch == epoch)
    assert hub.dead_timers == hub.ntimers - live  # exact, not just bounded
