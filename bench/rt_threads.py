"""OS threads: threading, queue.Queue and socketserver, where they make sense."""

import queue
import socketserver
import threading
import time

from bench.common import (PARK_SECONDS, clock, late_since, rss_bytes,
                          timer_delays_ms)

SKIP = {
    "cancel": "threads cannot be canceled",
    "choose": "queue.Queue has no select",
    **{f"idle{size}_{shape}": f"{size} OS threads: beyond default limits"
       for size in ("100k", "1m") for shape in ("wait", "sleep")},
}
#: Workloads run with fewer threads than coroutines, and why.
SMALLER_N = {"spawn_alive": (10_000, "10k OS threads alive at once")}


def _start_all(target, argss):
    threads = [threading.Thread(target=target, args=args) for args in argss]
    for t in threads:
        t.start()
    return threads


def _joinall(threads):
    for t in threads:
        t.join()


def _noop():
    pass


def _wait_own_event():
    threading.Event().wait()


def _sleep_long():
    time.sleep(PARK_SECONDS)


PARK = {"wait": _wait_own_event, "sleep": _sleep_long}


def bench_spawn(n):
    """No groups here: start all, join each (also the handles shape)."""
    t0 = time.perf_counter()
    _joinall(_start_all(_noop, [()] * n))
    return time.perf_counter() - t0


bench_spawn_handles = bench_spawn


def bench_spawn_alive(n):
    """Each thread waits at a Barrier that the main thread completes."""
    gate = threading.Barrier(n + 1)
    t0 = time.perf_counter()
    threads = _start_all(gate.wait, [()] * n)
    gate.wait()
    _joinall(threads)
    return time.perf_counter() - t0


def _pong(a, b):
    while (value := a.get()) is not None:
        b.put(value)


def bench_pingpong(n):
    a, b = queue.Queue(1), queue.Queue(1)
    t = threading.Thread(target=_pong, args=(a, b))
    t.start()
    t0 = time.perf_counter()
    for i in range(n):
        a.put(i)
        b.get()
    elapsed = time.perf_counter() - t0
    a.put(None)
    t.join()
    return elapsed


def _yielder(n):
    for _ in range(n):
        time.sleep(0)


def bench_yield(n):
    t0 = time.perf_counter()
    _joinall(_start_all(_yielder, [(n,)] * 10))
    return time.perf_counter() - t0


def bench_timers(n):
    lateness = []

    def sleeper(ms):
        t0 = clock()
        time.sleep(ms / 1e3)
        lateness.append(late_since(t0, ms / 1e3))

    t0 = time.perf_counter()
    _joinall(_start_all(sleeper, [(ms,) for ms in timer_delays_ms(n)]))
    return time.perf_counter() - t0, sum(lateness) / n


def bench_idle(n, shape):
    before = rss_bytes()
    _start_all(PARK[shape], [()] * n)
    return rss_bytes() - before       # the worker exits without joining them


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        while data := sock.recv(65536):
            sock.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 128          # the default backlog of 5 drops SYNs


def bench_echo(ready):
    """Serve TCP echo forever, a thread per connection."""
    with _EchoServer(("127.0.0.1", 0), _EchoHandler) as srv:
        ready(srv.server_address[1])
        srv.serve_forever()
