"""One measurement in a fresh interpreter.

``python -m bench.worker RUNTIME WORKLOAD N`` imports only that runtime, runs
the workload once and prints one JSON line on stdout:
``{"metrics": {...}}`` (with ``"note"`` when the runtime ran a smaller N),
or ``{"skip": reason}``.  For ``echo`` it prints
``{"port": P}`` once listening and serves until it is killed.
"""

import importlib
import json
import os
import sys

from bench.common import RUNTIMES, WORKLOADS


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def load(runtime):
    """Import the runtime's module; return it, or a reason it is skipped."""
    modname, variant, _ = RUNTIMES[runtime]
    try:
        mod = importlib.import_module("bench." + modname)
    except ImportError as e:
        return None, f"not importable: {e}"
    if variant:
        mod.setup(variant)
    return mod, None


def _lookup(mod, table, w):
    """The runtime's entry for this workload, or else for its function."""
    entries = getattr(mod, table, {})
    return entries.get(w.name, entries.get(w.func))


def main(argv):
    runtime, workload, n = argv[0], argv[1], int(argv[2])
    w = WORKLOADS[workload]
    mod, reason = load(runtime)
    if mod is not None:
        fn = getattr(mod, "bench_" + w.func, None)
        reason = _lookup(mod, "SKIP", w)
        if fn is None and reason is None:
            reason = "not applicable"
    if reason:
        emit({"skip": reason})
    elif workload == "echo":
        fn(lambda port: emit({"port": port}))
    else:
        out = {}
        smaller = _lookup(mod, "SMALLER_N", w)
        if smaller and smaller[0] < n:
            n = smaller[0]
            out["note"] = f"N={n:,}: {smaller[1]}"
        out["metrics"] = w.convert(fn(n, *w.args), n)
        emit(out)
    # Skip interpreter teardown: a million parked coroutines take a while
    # to unwind, and nothing after the measurement matters.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
