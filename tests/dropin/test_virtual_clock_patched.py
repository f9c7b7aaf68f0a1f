"""The virtual clock drives unmodified threaded code under dill.patch (SPEC-TOOLS 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROGRAM = """
import dill
dill.patch()
import queue, select, socket, threading, time
from dill.testing import virtual_clock

real0 = time.perf_counter()
events = []
with virtual_clock() as clock:
    start = time.monotonic()
    wall0 = time.time()

    def log(what):
        events.append((what, round(time.monotonic() - start, 3)))

    def sleeper():
        time.sleep(3600)
        log("sleep 3600")

    q = queue.Queue()

    def getter():
        try:
            q.get(timeout=600)
        except queue.Empty:
            log("queue.get 600")

    cond = threading.Condition()

    def waiter():
        with cond:
            log("cond.wait 900 -> %s" % cond.wait(900))
        with cond:
            log("wait_for 60 -> %s" % cond.wait_for(lambda: False, 60))

    def sock_user():
        a, b = socket.socketpair()
        a.settimeout(1200)
        try:
            a.recv(10)
        except socket.timeout:
            log("socket timeout 1200")
        r, _, _ = select.select([b], [], [], 300)
        log("select 300 -> %s" % r)
        a.close()
        b.close()

    ts = [threading.Thread(target=f) for f in (sleeper, getter, waiter, sock_user)]
    timer = threading.Timer(1800, log, ("timer 1800",))
    timer.start()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    timer.join()
    wall_shift = time.time() - wall0
    log("end")
print(events)
print("wall shift", round(wall_shift))
print("real seconds", time.perf_counter() - real0)
print("real again", all(type(getattr(time, n)).__name__ == "builtin_function_or_method"
                        for n in ("monotonic", "perf_counter", "time", "monotonic_ns")))
"""


def run_program():
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(PROGRAM)], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_an_hour_of_patched_stdlib_timeouts_takes_no_real_time_same_order_each_run():
    first = run_program()
    assert first[0] == str([
        ("queue.get 600", 600.0), ("cond.wait 900 -> False", 900.0),
        ("wait_for 60 -> False", 960.0), ("socket timeout 1200", 1200.0),
        ("select 300 -> []", 1500.0), ("timer 1800", 1800.0), ("sleep 3600", 3600.0),
        ("end", 3600.0)])
    assert first[1] == "wall shift 3600"  # time.time() moved with the jumps
    assert float(first[2].split()[-1]) < 1.0
    assert first[3] == "real again True"
    second = run_program()
    assert second[0] == first[0]
