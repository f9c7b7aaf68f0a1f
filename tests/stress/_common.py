"""What every stress scenario shares: its size switch, its checks, its curves.

A scenario is a module run as ``python -m tests.stress.NAME --size short|long``
in a process of its own (the runner, ``python -m tests.stress``, starts them).
It prints its accounting as it goes and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from typing import Callable

# The sizes are the long mode; the short mode (CI) runs a twentieth.
SCALES = {"short": 1 / 20, "long": 1.0}
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# The timer heap deletes lazily: besides the live entries it may hold up to
# about a thousand dead ones (and as many as live) before it compacts.
TIMER_SLACK = 2048


class Scenario:
    """A scenario's size, its printed accounting and its verdict."""

    def __init__(self, name: str, argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"python -m tests.stress.{name}")
        parser.add_argument("--size", choices=sorted(SCALES), default="short")
        parser.add_argument("--seeds", type=int, default=None,
                            help="how many scheduler seeds (where the scenario uses them)")
        parser.add_argument("--minutes", type=float, default=None,
                            help="how long a timed scenario runs (default: by size)")
        args = parser.parse_args(argv)
        self.name = name
        self.mode = args.size
        self.long = args.size == "long"
        self.scale = SCALES[args.size]
        self.seeds = args.seeds
        self.minutes = args.minutes
        self.failures: list[str] = []
        self.started = time.monotonic()
        self.say(f"size {self.mode}")

    def size(self, long_value: int, minimum: int = 1) -> int:
        """``long_value`` scaled to this run's size."""
        return max(minimum, int(long_value * self.scale))

    def say(self, *parts: object) -> None:
        print(f"[{self.name} {self.elapsed():7.1f}s]", *parts, flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self, ok: bool, what: str) -> bool:
        """Record and print one check."""
        self.say(("ok    " if ok else "FAILED"), what)
        if not ok:
            self.failures.append(what)
        return ok

    def run_phases(self, *phases: tuple[str, Callable[["Scenario"], None]]) -> None:
        """Run each ``(title, phase)`` in turn, then ``finish``."""
        for n, (title, phase) in enumerate(phases, 1):
            self.say(f"phase {n}: {title}")
            phase(self)
        self.finish()

    def finish(self) -> None:
        """Print the verdict and exit with it."""
        if self.failures:
            self.say(f"{len(self.failures)} check(s) FAILED")
        else:
            self.say("all checks passed")
        sys.stdout.flush()
        os._exit(1 if self.failures else 0)  # no interpreter teardown: nothing can hang there


def rss_kb() -> int:
    """Resident set size, from /proc (cheap enough to sample often)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_KB


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def hub_metrics() -> dict[str, Callable[[], int]]:
    """Cheap gauges of the calling thread's hub and of the process."""
    from dill._hub import get_hub

    hub = get_hub()
    return {
        "tasks": lambda: len(hub.all_tasks()),
        "idle_greenlets": lambda: len(hub.idle),
        "timers": lambda: hub.ntimers,
        "fdwaits": lambda: len(hub.fdwaits),
        "fds": fd_count,
        "rss_kb": rss_kb,
    }


class LagMonitor:
    """How late the hub wakes a coroutine: a sleep of ``period_ms`` measured
    against the clock (run it with ``go(monitor.run)``).  A starved process
    shows here, not in dill's own accounting."""

    def __init__(self, period_ms: int = 100) -> None:
        self.period_ms = period_ms
        self.worst_ms = 0        # since the last ``take_worst``
        self.worst_ever_ms = 0
        self.late: Counter[str] = Counter()

    def run(self) -> None:
        from dill import msleep, now

        while True:
            deadline = now() + self.period_ms
            msleep(deadline)
            lag = now() - deadline
            self.worst_ms = max(self.worst_ms, lag)
            self.worst_ever_ms = max(self.worst_ever_ms, lag)
            for limit in (1_000, 5_000):
                if lag > limit:
                    self.late[f"over {limit} ms"] += 1

    def take_worst(self) -> int:
        worst, self.worst_ms = self.worst_ms, 0
        return worst


class Curve:
    """Samples of some gauges over a run, printed as a table and checked flat."""

    def __init__(self, scenario: Scenario, gauges: dict[str, Callable[[], int]]) -> None:
        self.scenario = scenario
        self.gauges = gauges
        self.rows: list[tuple[str, dict[str, int]]] = []

    def sample(self, label: object) -> None:
        row = {name: read() for name, read in self.gauges.items()}
        self.rows.append((str(label), row))
        self.scenario.say(f"{str(label):>12}", "  ".join(f"{k}={v}" for k, v in row.items()))

    def check_flat(self, tolerance: dict[str, int | None], warmup: float = 0.25) -> None:
        """Every gauge's last quarter stays within ``tolerance`` of its level
        after warm-up (the highest sample of the first ``warmup`` fraction).
        A gauge whose tolerance is None is only printed."""
        n = len(self.rows)
        if not self.scenario.check(n >= 4, f"enough samples for a curve ({n})"):
            return
        head = [r for _, r in self.rows[: max(1, int(n * warmup))]]
        tail = [r for _, r in self.rows[n - max(1, n // 4):]]
        for name in self.gauges:
            allowed = tolerance.get(name, 0)
            if allowed is None:
                continue
            level = max(r[name] for r in head)
            top = max(r[name] for r in tail)
            self.scenario.check(top <= level + allowed,
                                f"{name} flat: warm-up level {level}, last quarter up to {top}"
                                f" (allowed +{allowed})")
