"""Signal handlers' exceptions go to the root task, never into a coroutine or the hub.

Each scenario runs in a child interpreter (signals to the test runner itself
would disturb it), bounded by a timeout: a hang fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


BUSY = """
import os, random, signal, sys, threading, time
import dill
from dill import bundle, bundle_go, chmake, chrecv, chsend, go, hclose, msleep, now

def echo(ch):
    while True:
        chsend(ch, chrecv(ch))

def sleeper(i):
    while True:
        msleep(now() + 1 + i % 7)

rng = random.Random(int(sys.argv[1]))
caught = 0
for rnd in range(ROUNDS):
    a, b = chmake()
    sleepers = bundle()
    for i in range(100):
        bundle_go(sleepers, sleeper, i)
    e = go(echo, b)
    killer = threading.Timer(rng.random() * 0.03, os.kill, (os.getpid(), signal.SIGINT))
    try:
        killer.start()
        while True:
            chsend(a, 1)
            assert chrecv(a) == 1
    except KeyboardInterrupt:
        caught += 1
    killer.join()
    hclose(e)
    hclose(sleepers)
    hclose(a)
    hclose(b)
    # the hub is usable afterwards
    c, d = chmake()
    h = go(chrecv, d, now() + 1000)
    chsend(c, rnd)
    assert h.wait() == rnd
    hclose(c)
    hclose(d)
print("caught", caught)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigint_in_a_busy_program_reaches_the_root(seed):
    rounds = 15
    r = run(BUSY.replace("ROUNDS", str(rounds)), str(seed), timeout=100)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["caught", str(rounds)], r.stdout + r.stderr[-2000:]
    assert "spurious" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_sigint_while_the_hub_sleeps_in_the_poller():
    r = run("""
        import os, signal, threading
        from dill import go, hclose, msleep, now
        h = go(msleep, -1)            # a coroutine, and the hub idle in epoll
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            msleep(now() + 10_000)
        except KeyboardInterrupt:
            print("root got it")
        assert not h.finished          # the coroutine was not hit
        hclose(h)
        msleep(now() + 5)               # usable afterwards
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["root got it", "ok"]


def test_sigint_while_a_coroutine_runs_goes_to_the_root():
    r = run("""
        import os, signal, time
        from dill import Canceled, go, hclose, msleep, now, yield_
        hits = []
        def busy():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    time.sleep(0.0001)   # plain Python code in a coroutine
                hits.append("coroutine finished its work")
                msleep(-1)
            except Canceled:
                hits.append("canceled")
        try:
            h = go(busy)
            msleep(now() + 5000)
        except KeyboardInterrupt:
            hits.append("root")
        hclose(h)
        print(hits)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['coroutine finished its work', 'root', 'canceled']"


def test_root_running_its_own_code_gets_it_at_once():
    r = run("""
        import os, signal
        from dill import go, hclose, msleep
        h = go(msleep, -1)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            while True:
                pass      # plain Python: interrupted right here
        except KeyboardInterrupt:
            print("at once")
        hclose(h)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "at once"


def test_a_program_sigint_handler_is_left_alone():
    r = run("""
        import signal
        def mine(s, f):
            pass
        signal.signal(signal.SIGINT, mine)
        from dill import msleep, now
        msleep(now() + 1)
        print(signal.getsignal(signal.SIGINT) is mine)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


def test_patched_handlers_raise_in_the_root_not_in_a_green_thread():
    """The pytest-timeout shape: a SIGALRM handler raising while a green thread runs."""
    r = run("""
        import dill
        dill.patch()
        import signal, threading, time
        class Boom(Exception):
            pass
        def handler(s, f):
            raise Boom()
        signal.signal(signal.SIGALRM, handler)
        assert signal.getsignal(signal.SIGALRM) is handler
        where = []
        def server():
            try:
                while True:
                    time.sleep(0.001)
            except BaseException as e:
                where.append("thread:" + type(e).__name__)
                raise
        t = threading.Thread(target=server, daemon=True)
        t.start()
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        try:
            t.join()
        except Boom:
            where.append("root")
        print(where)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['root']"


def test_sigterm_handler_exception_under_patch_reaches_the_root():
    r = run("""
        import dill
        dill.patch()
        import os, signal, threading, time
        def handler(s, f):
            raise SystemExit(3)
        signal.signal(signal.SIGTERM, handler)
        def worker():
            time.sleep(0.02)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        t = threading.Thread(target=worker, daemon=True)
        t.start()
        try:
            t.join()
        except SystemExit as e:
            print("root exit", e.code)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "root exit 3"
