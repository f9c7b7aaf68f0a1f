"""What is measured, and how a raw result becomes a reported figure.

Shared by the runner (which must not import any runtime) and by the worker
subprocess.  Every runtime module (``bench/rt_*.py``) exposes the same workload
functions; each returns a raw measurement, converted here into per-op figures.
"""

import gc
import os
import random
import time

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

    The worker calls ``bench_<func>(n, *args)`` of the runtime module; a
    runtime that lacks it does not support the workload (its ``SKIP``, keyed
    by workload or by func, may say why; its ``SMALLER_N``, keyed the same
    way, may cap N with a reason).

    ``convert(raw, n)`` turns the function's raw return value into a dict
    ``{metric name: value}``.  ``size`` formats N for the README
    (``"{n:,} round trips"``); ``doc`` says what is measured.
    """

    def __init__(self, name, func, n, quick_n, metrics, convert, doc,
                 default=True, in_quick=True, args=(), size="{n:,}"):
        self.name = name
        self.func = func
        self.n = n
        self.quick_n = quick_n
        self.metrics = metrics
        self.convert = convert
        self.doc = doc
        self.default = default
        self.in_quick = in_quick
        self.args = args
        self.size = size

    def n_for(self, quick):
        """N in a full run, or in a ``--quick`` one."""
        return self.quick_n if quick else self.n

    def describe(self, quick):
        """What a recorded run keeps of the workload, for the README."""
        n = self.n_for(quick)
        return {"n": n, "size": self.size.format(n=n), "doc": self.doc,
                "metrics": [m.name for m in self.metrics]}


def _per_op_us(metric, ops_per_n=1):
    return lambda seconds, n: {metric: seconds * 1e6 / (n * ops_per_n)}


def _per_op(name, n, quick_n, unit, doc, func=None, ops_per_n=1, **kw):
    """A workload timed as a whole, reported as µs per operation."""
    return Workload(name, func or name, n, quick_n, [Metric(name, unit)],
                    _per_op_us(name, ops_per_n), doc, **kw)


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
#: How long a coroutine parked on a sleep sleeps: "forever", with a timer.
PARK_SECONDS = 24 * 3600
#: The two ways a parked coroutine waits (the ``shape`` argument of each
#: runtime's ``bench_cancel`` and ``bench_idle``), and what each runtime does.
PARK_SHAPES = {
    "wait": "on a wait with no timer, each on its own channel or event (dill: "
            "chrecv on its own channel; gevent, eventlet, asyncio, trio, "
            "threads: its own Event().wait(); raw greenlet: a bare switch to "
            "the hub)",
    "sleep": "in a 24-hour sleep (dill: msleep(now() + 24 h); the others: "
             "their own sleep(86400))",
}
#: Round trips per client and message size of the TCP echo workload.
ECHO_CLIENTS, ECHO_SIZE = 50, 64
#: The drop-in workload: how each mode runs the same server script (extra
#: interpreter arguments before it), sequential keep-alive requests per client
#: and the longest request phase (seconds) before what was answered counts.
DROPIN_SERVER = "bench/dropin_server.py"
DROPIN_MODES = {"threads": [], "gevent": ["-m", "gevent.monkey"],
                "dill": ["-m", "dill.patch"]}
DROPIN_REQUESTS, DROPIN_MAX_SECONDS = 20, 20


def _parked_workloads():
    """cancel and idle, once per park shape."""
    out = []
    for shape, how in PARK_SHAPES.items():
        out.append(_per_op(
            f"cancel_{shape}", 20_000, 5_000, "µs per coroutine canceled",
            f"N coroutines parked {how}, canceled at once, timed until all "
            f"exited", func="cancel", args=(shape,)))
    for label, n, quick, default in [("10k", 10_000, True, True),
                                     ("100k", 100_000, False, True),
                                     ("1m", 1_000_000, False, False)]:
        for shape, how in PARK_SHAPES.items():
            name = f"idle{label}_{shape}"
            metrics = [Metric(name, "KB RSS per parked coroutine")]
            if not default:
                metrics.append(Metric(name + "_total", "MB RSS growth in all"))
            out.append(Workload(
                name, "idle", n, n, metrics, _idle(name, total=not default),
                f"RSS growth / N with N coroutines parked {how}"
                + ("" if default else f" (opt-in: --workloads {name})"),
                default=default, in_quick=quick, args=(shape,)))
    return out


WORKLOADS = {w.name: w for w in [
    _per_op("spawn", 100_000, 10_000, "µs per spawn+join",
            "spawn N no-op coroutines into a group, then wait for the group "
            "(dill: a bundle, bundle_wait; gevent: joinall; eventlet: a "
            "GreenPool, waitall; asyncio: a TaskGroup; trio: a nursery; raw "
            "greenlet and threads have no group: spawn all, join each). "
            "Under dill's eager go() no two children are ever alive at once"),
    _per_op("spawn_handles", 100_000, 10_000, "µs per spawn+join",
            "spawn N no-op coroutines keeping each handle, then wait on each "
            "handle in turn (dill: go() x N, .wait() each; gevent: spawn, "
            "join each; eventlet: spawn, wait each; asyncio: create_task, "
            "await each; trio has no task handles, the closest: start_soon "
            "in one nursery, each task sets its own Event, awaited in turn; "
            "raw greenlet and threads: as in spawn)"),
    _per_op("spawn_alive", 100_000, 10_000, "µs per spawn+join",
            "spawn N coroutines that are all alive at once, then wait for "
            "the group as in spawn: each blocks on one gate opened when all "
            "N have started (dill: chrecv on a channel, then chdone; the "
            "others: an Event, then set(); threads: a Barrier of N+1). "
            "Yielding once would not keep them alive under dill's eager "
            "go(): a child that yields is done before the next few start"),
    _per_op("pingpong", 200_000, 20_000,
            "µs per hop (2 hops = 1 round trip)",
            "N round trips between two coroutines over rendezvous channels "
            "(or 1-slot queues)", ops_per_n=2, size="{n:,} round trips"),
    _per_op("yield", 100_000, 10_000, "µs per yield",
            "10 coroutines each yield N times", ops_per_n=10,
            size="10 x {n:,}"),
    Workload("timers", "timers", 10_000, 2_000,
             [Metric("timers_overhead", "ms beyond 100 ms, all done"),
              Metric("timers_lateness", "ms mean lateness per wake-up")],
             _timers,
             f"N coroutines each sleep a random 0-{TIMER_MAX_MS} ms (one "
             f"exactly {TIMER_MAX_MS}). Overhead: from the first spawn until "
             f"all woke, beyond {TIMER_MAX_MS} ms. Lateness: each sleeper "
             f"reads t0 = clock() as it starts to sleep d and reports wake "
             f"time - (t0 + d); the mean (dill's msleep takes a whole-ms "
             f"deadline: it sleeps until the first ms at or after t0 + d). "
             f"A timer due while the runtime is still starting sleepers fires "
             f"late, so lateness also grows with the cost of that start-up"),
    *_parked_workloads(),
    _per_op("choose", 100_000, 10_000, "µs per choose (8 channels)",
            "one receiver selects over 8 channels; a sender feeds them "
            "round-robin; N receives (dill: choose; asyncio: "
            "asyncio.wait(FIRST_COMPLETED) over one pending get() per queue; "
            "gevent, eventlet and trio have no select over queues: 8 "
            "forwarders fan the channels in to one)"),
    Workload("echo", "echo", 2_000, 300,
             [Metric("echo", "round trips/s", higher_is_better=True)],
             None,
             f"TCP echo server; a separate load-generator process (asyncio "
             f"protocols on uvloop, the same for every server) runs "
             f"{ECHO_CLIENTS} clients x N round trips of {ECHO_SIZE} bytes",
             size=f"{ECHO_CLIENTS} clients x {{n:,}}"),
    Workload("dropin", None, 5_000, 500,
             [Metric("dropin", "requests/s", higher_is_better=True),
              Metric("dropin_rss", "MB peak server RSS")],
             None,
             f"unmodified ThreadingHTTPServer (bench/dropin_server.py) on OS "
             f"threads, under gevent.monkey, under dill.patch; a separate "
             f"load generator opens N keep-alive clients, then each does "
             f"{DROPIN_REQUESTS} GETs (request phase capped at "
             f"{DROPIN_MAX_SECONDS} s)",
             size=f"{{n:,}} clients x {DROPIN_REQUESTS} requests"),
]}


def fmt(v):
    """A figure with about 3 significant digits, thousands separated."""
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if a < 10 else f"{v:.1f}"


def timer_delays_ms(n, seed=1):
    """The sleeps of the timers workload: integer ms in [0, 100], one 100."""
    rng = random.Random(seed)
    delays = [rng.randint(0, TIMER_MAX_MS) for _ in range(n)]
    delays[0] = TIMER_MAX_MS
    return delays


#: The clock of the timers workload's lateness, the same for every runtime
#: (dill's ``now()`` is this clock in whole ms).
clock = time.monotonic


def late_since(t0, seconds):
    """How late a sleeper that read ``clock()`` = ``t0`` and slept
    ``seconds`` woke: now - (t0 + seconds)."""
    return clock() - t0 - seconds


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    """The process's current resident set size (Linux /proc)."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE
