"""How the cost of giving up a wait grows with the number of waiters (issue 10).

    python -m bench.waiters [--sizes 10000,100000] [--reps 3]

N coroutines block in ``chrecv`` on one channel; then they are closed
oldest-first, newest-first and in random order, and in a fourth shape N
receivers with distinct deadlines time out newest-first.  A fifth shape wakes
them instead, one ``chsend`` each (the oldest first).  Prints the CPU time per
waiter (median of ``--reps``) for each size and the ratio of the largest size
to the smallest: 1.0 is linear, the square-law queue it replaced gave ~10x per
10x more waiters.  Each run is a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = ("close-oldest", "close-newest", "close-random", "timeout-newest", "send-oldest")


def _measure(shape: str, n: int) -> float:
    """In the child: seconds per waiter for one shape."""
    import random

    from dill import (
        Done, TimedOut, bundle, bundle_go, chdone, chmake, chrecv, chsend, go, hclose, msleep, now,
    )

    a, b = chmake()
    if shape == "timeout-newest":
        gate_tx, gate_rx = chmake()
        start = [0]

        def recv(offset: int) -> None:
            try:
                chrecv(gate_rx)
            except Done:  # the gate opened: every receiver is parked by now
                pass
            try:
                chrecv(b, start[0] + offset)
            except TimedOut:
                pass

        bd = bundle()
        for i in range(n):
            bundle_go(bd, recv, (n - i) // 100)  # the newest expire first
        start[0] = now() + 200 + n // 1000
        chdone(gate_tx)
        msleep(start[0] - 1)
        t0 = time.process_time()  # CPU time: the hub's sleeps between deadlines do not count
        bd.wait(-1)
        elapsed = time.process_time() - t0
        hclose(bd)
        hclose(gate_tx)
        hclose(gate_rx)
    elif shape == "send-oldest":
        hs = [go(chrecv, b) for _ in range(n)]
        t0 = time.process_time()
        for i in range(n):
            chsend(a, i)  # wakes the oldest receiver left
        elapsed = time.process_time() - t0
        for h in hs:
            h.wait()
            hclose(h)
    else:
        hs = [go(chrecv, b) for _ in range(n)]
        if shape == "close-newest":
            hs.reverse()
        elif shape == "close-random":
            random.Random(1).shuffle(hs)
        t0 = time.process_time()
        for h in hs:
            hclose(h)
        elapsed = time.process_time() - t0
    hclose(a)
    hclose(b)
    return elapsed / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("SHAPE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child[0], int(args.child[1]))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    results: dict = {}
    for _ in range(args.reps):  # interleaved repetitions
        for shape in SHAPES:
            for n in sizes:
                out = subprocess.run([sys.executable, "-m", "bench.waiters", "--child", shape,
                                      str(n)], capture_output=True, text=True, env=env,
                                     cwd=root, timeout=600, check=True).stdout
                results.setdefault((shape, n), []).append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'shape':<16}" + "".join(f"{n:>14,}" for n in sizes) + f"{'ratio':>9}")
    for shape in SHAPES:
        med = [statistics.median(results[(shape, n)]) * 1e6 for n in sizes]
        ratio = med[-1] / med[0] if med[0] else float("nan")
        print(f"{shape:<16}" + "".join(f"{m:>11.2f} us" for m in med) + f"{ratio:>9.2f}")
    print("(us per waiter, median of", args.reps, "runs; ratio = largest size / smallest)")


if __name__ == "__main__":
    main()
