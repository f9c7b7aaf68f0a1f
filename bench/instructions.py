"""Instructions per operation, counted by valgrind: where the time goes, repeatably.

    python -m bench.instructions [--runtimes dill,greenlet] [--workloads spawn_handles,...]
                                 [--n N] [--jobs J]

Wall-clock figures on a shared 2-core machine move by 2x between runs;
``valgrind --tool=callgrind`` counts the instructions a process executes, the
same count for the same code and input whatever else the machine does.  Each
(runtime, workload) runs twice under callgrind, as ``python -m bench.worker
RUNTIME WORKLOAD N`` with N and with 2N: the difference over N is the count per
operation, without the interpreter's start and imports.  The raw-greenlet
runtime (``bench/rt_greenlet.py``) is the floor a greenlet runtime starts from.

Instructions are not time: they miss cache misses, which is where a garbage
collector walking 100,000 live objects spends its time (``spawn_handles``
costs more wall time than its count says).  Compare counts of the same
workload across runtimes or commits, and read the wall-clock table for the
rest.  Needs ``valgrind`` on PATH; runs ``--jobs`` processes at once (each a
minute or so).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from bench.common import WORKLOADS

#: Workloads whose cost is per operation (not RSS, not a server).
DEFAULT_WORKLOADS = ["spawn", "spawn_handles", "pingpong", "yield", "choose", "timers"]
#: What one operation of each is, and the default N (small: callgrind is ~50x slower).
PER_OP = {
    "spawn": ("go() into a bundle + its exit", 20_000),
    "spawn_handles": ("go() + wait() on its handle", 20_000),
    "pingpong": ("round trip (2 channel hops)", 20_000),
    "yield": ("10 yields (one by each of 10 coroutines)", 5_000),
    "choose": ("choose over 8 channels (+ the feeder's send)", 10_000),
    "timers": ("sleeper: spawn, arm, fire, exit", 2_000),
}
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def count(runtime: str, workload: str, n: int) -> int:
    """Instructions executed by ``python -m bench.worker RUNTIME WORKLOAD n``."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, "-m", "bench.worker", runtime, workload, str(n)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=_ROOT)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or m is None:
        raise RuntimeError(f"{' '.join(cmd[4:])} failed:\n{r.stdout}\n{r.stderr[-2000:]}")
    if '"skip"' in r.stdout:
        raise LookupError(r.stdout.strip())
    return int(m.group(1))


def per_op(runtime: str, workload: str, n: int,
           pool: ThreadPoolExecutor) -> Callable[[], float]:
    """A future of the instructions per operation of ``workload`` on ``runtime``."""
    one = pool.submit(count, runtime, workload, n)
    two = pool.submit(count, runtime, workload, 2 * n)
    return lambda: (two.result() - one.result()) / n


def main(argv: list[str] | None = None) -> int:
    """Count, then print one row per workload: each runtime's count, and the
    ratio of the first runtime's to the last's."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runtimes", default="dill,greenlet")
    p.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    p.add_argument("--n", type=int, default=0, help="operations per run (default: per workload)")
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    runtimes = a.runtimes.split(",")
    workloads = a.workloads.split(",")
    for w in workloads:
        if w not in PER_OP or w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(PER_OP)}")
    with ThreadPoolExecutor(a.jobs) as pool:
        pending = {(r, w): per_op(r, w, a.n or PER_OP[w][1], pool)
                   for w in workloads for r in runtimes}
        print(f"{'workload':<15}{'one operation':<48}"
              + "".join(f"{r:>12}" for r in runtimes) + f"{'ratio':>8}")
        for w in workloads:
            cells = []
            for r in runtimes:
                try:
                    cells.append(pending[(r, w)]())
                except LookupError:
                    cells.append(None)
            shown = "".join(f"{c:>12,.0f}" if c is not None else f"{'n/a':>12}" for c in cells)
            ratio = (f"{cells[0] / cells[-1]:>8.2f}"
                     if len(cells) > 1 and None not in (cells[0], cells[-1]) else "")
            print(f"{w:<15}{PER_OP[w][0]:<48}{shown}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
