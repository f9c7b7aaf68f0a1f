"""gunicorn's process management with dill workers: signals, recycling, sockets, fds."""

import http.client
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from scale_engines import http_get, wait_until

pytestmark = pytest.mark.timeout(60)


def _in_background(fn, *args):
    """Run ``fn(*args)`` in a thread; returns a dict that gets "result" or "error"."""
    out: dict = {}

    def run():
        t0 = time.monotonic()
        try:
            out["result"] = fn(*args)
        except Exception as e:
            out["error"] = e
        out["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    out["thread"] = t
    return out


def _send_and_wait_accepted(g, *paths: str) -> list[dict]:
    """GET each path in the background; return once the worker holds a socket
    for each (on a loaded machine a fixed sleep was not always enough, and a
    request still in the listener's backlog at SIGTERM is reset, not served)."""
    worker = g.worker_pids()[0]
    before = _socket_inodes(worker)
    out = [_in_background(http_get, g.port, p, 10) for p in paths]
    wait_until(lambda: len(_socket_inodes(worker) - before) >= len(paths), 20,
               f"{len(paths)} accepted requests")
    time.sleep(0.3)                          # and in the app
    return out


def test_sigterm_finishes_requests_in_flight_within_the_graceful_timeout(gunicorn):
    g = gunicorn("wsgi_app:app", "--graceful-timeout", "2", workers=1)
    short, long = _send_and_wait_accepted(g, "/sleep?1", "/sleep?30")  # both being served
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    for r in (short, long):
        r["thread"].join(15)
    assert short.get("result", (None,))[0] == 200, short   # finished within the grace
    assert isinstance(long.get("error"), OSError), long     # cut when the grace ran out
    assert g.wait(15) == 0
    took = time.monotonic() - t0
    assert 1.5 <= took < 6, took             # the grace period, not the 30 s request
    log = g.log()
    assert "graceful timeout" in log
    assert "SIGKILL" not in log              # the worker stopped by itself


def test_sigterm_refuses_new_connections(gunicorn):
    g = gunicorn("wsgi_app:app", "--graceful-timeout", "3", workers=1)
    busy, = _send_and_wait_accepted(g, "/sleep?1.5")
    g.signal(signal.SIGTERM)
    time.sleep(0.5)                          # the worker stopped accepting
    with pytest.raises(OSError):
        http_get(g.port, "/", timeout=2)
    busy["thread"].join(10)
    assert busy.get("result", (None,))[0] == 200, busy


def test_hup_reloads_the_workers_and_keeps_serving(gunicorn):
    g = gunicorn("wsgi_app:app")
    before = set(g.worker_pids())
    g.signal(signal.SIGHUP)
    wait_until(lambda: len(set(g.worker_pids()) - before) == 2, 20, "two new workers")
    wait_until(lambda: not (set(g.worker_pids()) & before), 20, "the old workers to exit")
    pids = {int(http_get(g.port, "/")[1]) for _ in range(10)}
    assert pids and not (pids & before)


def test_a_killed_worker_is_replaced_while_the_service_answers(gunicorn):
    g = gunicorn("wsgi_app:app")
    victim, survivor = g.worker_pids()
    outcomes = []                             # (after the kill?, status or the error)
    killed = threading.Event()
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                outcome = http_get(g.port, "/", 5)[0]
            except (OSError, http.client.HTTPException) as e:
                outcome = e                   # the request the victim had in flight
            outcomes.append((killed.is_set(), outcome))

    t = threading.Thread(target=hammer, daemon=True)
    t.start()
    time.sleep(0.2)
    os.kill(victim, signal.SIGKILL)
    killed.set()
    wait_until(lambda: len(g.worker_pids()) == 2 and victim not in g.worker_pids(), 20,
               "a replacement worker")
    # The request the victim had in flight may take its whole 5 s timeout: wait
    # for answers after the kill rather than for a fixed time.
    wait_until(lambda: sum(1 for after, o in outcomes if after and o == 200) > 10, 20,
               "the service to answer after the kill")
    stop.set()
    t.join(10)
    failures = [o for _, o in outcomes if o != 200]
    assert len(failures) <= 1, failures      # at most the one cut by SIGKILL
    assert sum(1 for after, o in outcomes if after and o == 200) > 10
    assert survivor in g.worker_pids()
    g.ready()                                 # the replacement booted: a clean teardown


def test_a_worker_stuck_in_a_cpu_loop_misses_its_heartbeat_and_is_replaced(gunicorn):
    g = gunicorn("wsgi_app:app", "--timeout", "2", workers=1)
    (stuck,) = g.worker_pids()
    # Blocked in I/O longer than the timeout is fine: the heartbeat runs on a timer.
    assert http_get(g.port, "/sleep?3") == (200, b"%d\n" % stuck)
    _in_background(http_get, g.port, "/spin?30", 40)
    wait_until(lambda: g.worker_pids() and stuck not in g.worker_pids(), 20,
               "the master to replace the stuck worker")
    assert "WORKER TIMEOUT" in g.log()
    g.ready()
    assert http_get(g.port, "/")[0] == 200


def test_max_requests_recycles_workers(gunicorn):
    g = gunicorn("wsgi_app:app", "--max-requests", "5")
    first = set(g.worker_pids())
    seen = set()
    for _ in range(40):
        status, body = http_get(g.port, "/")
        assert status == 200
        seen.add(int(body))
    assert len(seen) > 2                      # workers were replaced along the way
    wait_until(lambda: set(g.worker_pids()) - first, 10, "a recycled worker")
    g.ready()                                 # let the newest workers boot before teardown


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on 127.0.0.1:port (from /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == want and f[3] == "0A":   # LISTEN
            inodes.add(f[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


@pytest.mark.parametrize("reuse_port", [True, False])
def test_reuse_port_gives_each_worker_its_own_socket(gunicorn, reuse_port):
    g = gunicorn("wsgi_app:app", *(["--reuse-port"] if reuse_port else []))
    listening = _listening_inodes(g.port)
    per_worker = [_socket_inodes(pid) & listening for pid in g.worker_pids()]
    assert all(len(s) == 1 for s in per_worker), per_worker
    if reuse_port:
        assert len(listening) == 2 and per_worker[0] != per_worker[1]
        assert not (_socket_inodes(g.pid) & listening)   # the master listens on none
    else:
        assert len(listening) == 1 and per_worker[0] == per_worker[1]
