"""Run the stress suite: ``python -m tests.stress --short|--long [--only NAME ...] [--seeds N]``.

Each scenario runs in a process of its own (isolation, clean RSS, a hard
timeout), its accounting streamed as it goes.  The exit status is 1 if any
scenario failed a check, crashed or overran its timeout.  ``--short`` (CI)
runs a twentieth of the issue's sizes; ``--long`` runs them in full.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name: (short timeout, long timeout) in seconds.  Timeouts are generous
# bounds against hangs, not performance targets.
SCENARIOS = {
    "channels": (120, 1800),
    "churn": (120, 1800),
    "storm": (120, 900),
    "tcp": (150, 1500),
    "threads": (150, 3600),
    "signals": (120, 1800),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.stress", description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--short", dest="size", action="store_const", const="short",
                      help="CI size (default)")
    size.add_argument("--long", dest="size", action="store_const", const="long",
                      help="the issue's full sizes, run by hand")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--seeds", type=int, default=None, help="scheduler seeds for channels")
    parser.add_argument("--minutes", type=float, default=None, help="how long tcp runs")
    parser.set_defaults(size="short")
    return parser.parse_args(argv)


def run_one(name: str, args: argparse.Namespace) -> tuple[str, float]:
    """Run one scenario; return its verdict and how long it took."""
    cmd = [sys.executable, "-m", f"tests.stress.{name}", "--size", args.size]
    for opt in ("seeds", "minutes"):
        if getattr(args, opt) is not None:
            cmd += [f"--{opt}", str(getattr(args, opt))]
    timeout = SCENARIOS[name][args.size == "long"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # its own session: the scenario and its children
        proc.wait()
        return f"TIMED OUT after {timeout} s", time.monotonic() - t0
    return ("passed" if rc == 0 else f"FAILED (exit {rc})"), time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = args.only or list(SCENARIOS)
    results = {}
    t0 = time.monotonic()
    for name in names:
        print(f"==== {name} ({args.size})", flush=True)
        results[name] = run_one(name, args)
    print(f"==== stress suite ({args.size}) in {time.monotonic() - t0:.0f} s", flush=True)
    for name, (verdict, took) in results.items():
        print(f"  {name:10} {verdict:30} {took:7.1f} s", flush=True)
    return 0 if all(v == "passed" for v, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
