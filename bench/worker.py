"""One measurement in a fresh interpreter.

``python -m bench.worker RUNTIME WORKLOAD N`` imports only that runtime, runs
the workload once and prints one JSON line on stdout:
``{"metrics": {...}}``, or ``{"skip": reason}``.  For ``echo`` it prints
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


def main(argv):
    runtime, workload, n = argv[0], argv[1], int(argv[2])
    w = WORKLOADS[workload]
    mod, reason = load(runtime)
    if mod is not None:
        fn = getattr(mod, "bench_" + w.func, None)
        reason = getattr(mod, "SKIP", {}).get(workload)
        if fn is None and reason is None:
            reason = "not applicable"
    if reason:
        emit({"skip": reason})
    elif workload == "echo":
        fn(lambda port: emit({"port": port}))
    else:
        emit({"metrics": w.convert(fn(n), n)})
    # Skip interpreter teardown: a million parked coroutines take a while
    # to unwind, and nothing after the measurement matters.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
