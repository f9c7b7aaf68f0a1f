"""A TCP echo server under well-behaved and hostile clients.

The server stacks a message protocol on each accepted TCP connection (PREFIX,
8-byte lengths, on one port; SUFFIX, newline-ended, on another; 64 KiB at
most) and echoes every message, with a per-message deadline.  The clients (``tcp_clients``, a separate process, so the
server's fds and memory are its own) reset, half-close, stall, trickle
bytes one at a time or send garbage.  Checked: well-behaved clients get
their bytes back exactly, hostile ones are cut off in bounded time, every
server-side failure is one the protocol layers promise, and open
connections, coroutines, fds and RSS stay level, back to their start once
the clients are gone.

Long: 1,000 clients for 10 minutes.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from collections import Counter

from dill import Done, TimedOut, bundle, go, hclose, msleep, now
from dill._hub import get_hub
from dill.net import (
    ipaddr_local, mrecv, msend, prefix_attach, prefix_detach, suffix_attach, suffix_detach,
    tcp_accept, tcp_close, tcp_listen,
)

from ._common import TIMER_SLACK, Curve, LagMonitor, Scenario, fd_count, hub_metrics

MAX_SIZE = 64 * 1024
PATIENCE_MS = 10_000  # a message must arrive (and its echo leave) within this
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# The two protocol stacks served, one port each: (attach, detach).
STACKS = {
    "prefix": (lambda s: prefix_attach(s, max_size=MAX_SIZE), prefix_detach),
    "suffix": (lambda s: suffix_attach(s, b"\n", max_size=MAX_SIZE), suffix_detach),
}


class Server:
    """The echo server and its accounting."""

    def __init__(self) -> None:
        self.listeners = {name: tcp_listen(ipaddr_local("127.0.0.1", 0), backlog=4096)
                          for name in STACKS}
        self.ports = [ls.addr.port for ls in self.listeners.values()]
        self.open = 0
        self.accepted = 0
        self.echoed = 0
        self.endings: Counter[str] = Counter()
        self.conns = bundle()

    def accept_loop(self, stack: str) -> None:
        while True:
            s, _ = tcp_accept(self.listeners[stack])
            self.accepted += 1
            self.open += 1
            self.conns.go(self.serve, s, *STACKS[stack])

    def serve(self, s, attach, detach) -> None:
        p = attach(s)
        try:
            while True:
                msg = mrecv(p, now() + PATIENCE_MS)
                msend(p, msg, now() + PATIENCE_MS)
                self.echoed += 1
        except Done:
            self.endings["done"] += 1
            self.close_gracefully(detach, p)
        except TimedOut:
            self.endings["timed out (stalled or noise)"] += 1
        except ConnectionResetError:
            self.endings["reset"] += 1
        except OSError as exc:
            self.endings[errno.errorcode.get(exc.errno, str(exc.errno))] += 1
        except Exception as exc:  # anything else is a finding
            self.endings[f"unexpected {type(exc).__name__}: {exc}"] += 1
        finally:
            hclose(p)  # the whole stack; a no-op after the graceful close
            self.open -= 1

    @staticmethod
    def close_gracefully(detach, p) -> None:
        try:
            tcp_close(detach(p, now() + PATIENCE_MS), now() + PATIENCE_MS)
        except (Done, TimedOut, ConnectionResetError, BrokenPipeError):
            pass  # the peer left first: the finally's hclose cleans up


def per_connection_gauges(server: Server) -> dict:
    """The hub's gauges, those that grow with each connection taken net of the
    open connections: a leak shows as a rise, a busier moment does not."""
    gauges = hub_metrics()
    for name in ("tasks", "fdwaits", "fds"):
        gross = gauges.pop(name)
        gauges[f"{name}-conns"] = lambda gross=gross: gross() - server.open
    gauges["connections"] = lambda: server.open
    return gauges


def main() -> None:
    sc = Scenario("tcp")
    clients = sc.size(1_000, minimum=100)
    minutes = sc.minutes or (10 if sc.long else 0.33)
    seconds = max(5, int(minutes * 60))
    server = Server()
    gauges = per_connection_gauges(server)
    lag = LagMonitor()
    gauges["worst_lag_ms"] = lag.take_worst
    baseline = {"fds": fd_count(), "tasks": len(get_hub().all_tasks())}
    acceptors = [go(server.accept_loop, stack) for stack in STACKS] + [go(lag.run)]
    sc.say(f"{clients} clients for {seconds} s against 127.0.0.1 ports {server.ports} "
           f"({', '.join(STACKS)})")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.stress.tcp_clients", *map(str, server.ports),
         str(clients), str(seconds), "1"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    curve = Curve(sc, gauges)
    period_ms = max(1000, seconds * 1000 // 30)
    load_ends = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() + period_ms / 1000 < load_ends:
        msleep(now() + period_ms)
        curve.sample(f"{sc.elapsed():.0f}s")  # under load only: the ramp-down is not flat
    end = load_ends + 60  # the clients' own bound, and a margin
    while proc.poll() is None and time.monotonic() < end:
        msleep(now() + 100)
    if proc.poll() is None:
        proc.kill()
        sc.check(False, "the clients finished in time")
    tally = json.loads(proc.stdout.read() or "{}")
    proc.wait()
    settle = time.monotonic() + PATIENCE_MS / 1000 + 5
    while server.open and time.monotonic() < settle:
        msleep(now() + 100)  # connections still closing on our side
    for h in (*acceptors, server.conns, *server.listeners.values()):
        hclose(h)
    sc.say(f"server lag: worst {lag.worst_ever_ms} ms, {dict(lag.late)}")
    report(sc, server, tally, curve, clients, baseline)
    sc.finish()


def report(sc: Scenario, server: Server, tally: dict, curve: Curve, clients: int,
           baseline: dict) -> None:
    sc.say(f"server: {server.accepted} connections, {server.echoed} messages echoed, "
           f"endings {dict(server.endings)}")
    for key in ("ok", "failed", "errors", "connect failed", "client lag"):
        sc.say(f"clients {key}: {dict(tally.get(key, {}))}")
    sc.check(bool(tally), "the clients reported")
    sc.check(not tally.get("failed") and not tally.get("errors"),
             "well-behaved clients got their bytes back exactly; hostile ones were cut off")
    sc.check(not tally.get("connect failed"), "every connect succeeded")
    sc.check(not [k for k in server.endings if k.startswith("unexpected")],
             "the server saw only the failures the protocol layers promise")
    # The load's concurrency follows the clients' (CPU-starved) pace, so the
    # per-connection gauges must stay level, the others within what the
    # clients' number explains.
    curve.check_flat({"connections": clients, "idle_greenlets": clients + 16, "worst_lag_ms": None,
                      "timers": TIMER_SLACK + 2 * clients, "rss_kb": 16384 + 32 * clients})
    sc.check(server.open == 0, f"every connection closed ({server.open} open)")
    sc.check(fd_count() <= baseline["fds"], f"fds back to {baseline['fds']} ({fd_count()})")
    tasks = len(get_hub().all_tasks())
    sc.check(tasks <= baseline["tasks"], f"coroutines back to {baseline['tasks']} ({tasks})")


if __name__ == "__main__":
    main()
