"""What is measured, and how a raw result becomes a reported figure.

Shared by the runner (which must not import any runtime) and by the worker
subprocess.  Every runtime module (``bench/rt_*.py``) exposes the same workload
functions; each returns a raw measurement, converted here into per-op figures.
"""

import gc
import os
import random

#: Runtime name -> (module in bench/, variant passed to its ``setup()``, the
#: distribution whose version is reported).  Order is the order of the table.
RUNTIMES = {
    "dill": ("rt_dill", None, "greendill"),
    "greenlet": ("rt_greenlet", None, "greenlet"),
    "gevent": ("rt_gevent", None, "gevent"),
    "eventlet": ("rt_eventlet", None, "eventlet"),
    "asyncio": ("rt_asyncio", None, None),
    "uvloop": ("rt_asyncio", "uvloop", "uvloop"),
    "trio": ("rt_trio", None, "trio"),
    "threads": ("rt_threads", None, None),
}

#: The module each runtime needs importable (checked without importing it).
REQUIRES = {"dill": "dill", "greenlet": "greenlet", "gevent": "gevent",
            "eventlet": "eventlet", "uvloop": "uvloop", "trio": "trio"}


class Metric:
    """One reported figure: a name, a unit and which way is better."""

    def __init__(self, name, unit, higher_is_better=False):
        self.name = name
        self.unit = unit
        self.higher_is_better = higher_is_better


class Workload:
    """A workload: the runtime function to call, its sizes, and its metrics.

    The worker calls ``bench_<func>(n)`` of the runtime module; a runtime
    that lacks it does not support the workload (``SKIP`` may say why).

    ``convert(raw, n)`` turns the function's raw return value into a dict
    ``{metric name: value}``.
    """

    def __init__(self, name, func, n, quick_n, metrics, convert, doc,
                 default=True, in_quick=True):
        self.name = name
        self.func = func
        self.n = n
        self.quick_n = quick_n
        self.metrics = metrics
        self.convert = convert
        self.doc = doc
        self.default = default
        self.in_quick = in_quick


def _per_op_us(metric, ops_per_n=1):
    return lambda seconds, n: {metric: seconds * 1e6 / (n * ops_per_n)}


def _timers(raw, n):
    elapsed, mean_late = raw
    return {"timers_overhead": (elapsed - TIMER_MAX_MS / 1e3) * 1e3,
            "timers_lateness": mean_late * 1e3}


def _idle(metric, total=False):
    def convert(delta_bytes, n):
        out = {metric: delta_bytes / n / 1024}
        if total:
            out[metric + "_total"] = delta_bytes / 2**20
        return out
    return convert


#: The longest sleep of the timers workload; every run includes one.
TIMER_MAX_MS = 100
#: Round trips per client and message size of the TCP echo workload.
ECHO_CLIENTS, ECHO_SIZE = 50, 64
#: The drop-in workload: how each mode runs the same server script (extra
#: interpreter arguments before it), sequential keep-alive requests per client
#: and the longest request phase (seconds) before what was answered counts.
DROPIN_SERVER = "bench/dropin_server.py"
DROPIN_MODES = {"threads": [], "gevent": ["-m", "gevent.monkey"],
                "dill": ["-m", "dill.patch"]}
DROPIN_REQUESTS, DROPIN_MAX_SECONDS = 20, 20

WORKLOADS = {w.name: w for w in [
    Workload("spawn", "spawn", 100_000, 10_000,
             [Metric("spawn", "µs per spawn+join")], _per_op_us("spawn"),
             "spawn N no-op coroutines, then join them all"),
    Workload("pingpong", "pingpong", 200_000, 20_000,
             [Metric("pingpong", "µs per hop (2 hops = 1 round trip)")],
             _per_op_us("pingpong", 2),
             "N round trips between two coroutines over rendezvous channels "
             "(or 1-slot queues)"),
    Workload("yield", "yield", 100_000, 10_000,
             [Metric("yield", "µs per yield")], _per_op_us("yield", 10),
             "10 coroutines each yield N times"),
    Workload("timers", "timers", 10_000, 2_000,
             [Metric("timers_overhead", "ms beyond 100 ms, all done"),
              Metric("timers_lateness", "ms mean lateness per wake-up")],
             _timers,
             "N coroutines each sleep a random 0-100 ms (one sleeps 100 ms)"),
    Workload("cancel", "cancel", 20_000, 5_000,
             [Metric("cancel", "µs per coroutine canceled")],
             _per_op_us("cancel"),
             "N parked coroutines canceled at once, timed until all exited"),
    Workload("idle10k", "idle", 10_000, 10_000,
             [Metric("idle10k", "KB RSS per parked coroutine")],
             _idle("idle10k"), "RSS growth per parked coroutine, N=10k"),
    Workload("idle100k", "idle", 100_000, 100_000,
             [Metric("idle100k", "KB RSS per parked coroutine")],
             _idle("idle100k"), "RSS growth per parked coroutine, N=100k",
             in_quick=False),
    Workload("idle1m", "idle", 1_000_000, 1_000_000,
             [Metric("idle1m", "KB RSS per parked coroutine"),
              Metric("idle1m_total", "MB RSS growth in all")],
             _idle("idle1m", total=True), "RSS growth per parked coroutine, N=1M "
             "(opt-in: --workloads idle1m)", default=False, in_quick=False),
    Workload("choose", "choose", 100_000, 10_000,
             [Metric("choose", "µs per choose (8 channels)")],
             _per_op_us("choose"),
             "one receiver selects over 8 channels; a sender feeds them "
             "round-robin; N receives"),
    Workload("echo", "echo", 2_000, 300,
             [Metric("echo", "round trips/s", higher_is_better=True)],
             None,
             f"TCP echo server; a separate load-generator process runs "
             f"{ECHO_CLIENTS} clients x N round trips of {ECHO_SIZE} bytes"),
    Workload("dropin", None, 5_000, 500,
             [Metric("dropin", "requests/s", higher_is_better=True),
              Metric("dropin_rss", "MB peak server RSS")],
             None,
             f"unmodified ThreadingHTTPServer (bench/dropin_server.py) on OS "
             f"threads, under gevent.monkey, under dill.patch; a separate "
             f"load generator opens N keep-alive clients, then each does "
             f"{DROPIN_REQUESTS} GETs (request phase capped at "
             f"{DROPIN_MAX_SECONDS} s)"),
]}


def timer_delays_ms(n, seed=1):
    """The sleeps of the timers workload: integer ms in [0, 100], one 100."""
    rng = random.Random(seed)
    delays = [rng.randint(0, TIMER_MAX_MS) for _ in range(n)]
    delays[0] = TIMER_MAX_MS
    return delays


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    """The process's current resident set size (Linux /proc)."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE
