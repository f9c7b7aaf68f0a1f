"""Signals: SIGINT at random points of a busy program; a flood of SIGCHLD.

Phase 1 (the stress version of tests/test_signals.py): each round starts a
busy program (sleepers, a channel echo, ``to_thread`` calls, an fd
ping-pong) while the root does one of several things (channel round trips,
short sleeps, ``to_thread``, plain Python), then a timer thread sends SIGINT
at a random moment.  The root must get exactly one ``KeyboardInterrupt``, no
coroutine any, and the hub must stay usable.

Phase 2: short-lived subprocesses (green ``subprocess.run`` in coroutines and
the stdlib's in an OS thread) make SIGCHLD arrive all the time, with a Python
handler installed, while coroutines wait: sleeps must not return early,
receives with deadlines must get every value in order or time out only at
their deadline, ``fdin`` must wake only on data, ``to_thread`` must return.

Long: 1,000 SIGINT rounds; 5,000 subprocesses (short: 200 and 1,000).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter

from dill import (
    Canceled, TimedOut, bundle, chmake, chrecv, chsend, fdclean, fdin, go, hclose, msleep, now,
    to_thread,
)
from dill._hub import get_hub
from dill.green import subprocess as green_subprocess

from ._common import Scenario


def guarded(hits: Counter, fn, *args) -> None:
    """Run ``fn``; anything but ``Canceled`` reaching a coroutine is a hit."""
    try:
        fn(*args)
    except Canceled:
        pass
    except BaseException as exc:
        hits[type(exc).__name__] += 1


# ------------------------------------------------------------- phase 1: SIGINT


def sleeper(i: int) -> None:
    while True:
        msleep(now() + 1 + i % 7)


def echo(ch) -> None:
    while True:
        chsend(ch, chrecv(ch))


def pool_user() -> None:
    while True:
        to_thread(time.sleep, 0.001)


def fd_pong(r: int, w: int) -> None:
    while True:
        os.write(w, b"x")
        fdin(r)
        os.read(r, 1)


def root_channel(a) -> None:
    while True:
        chsend(a, 1)
        assert chrecv(a) == 1


def root_sleep(a) -> None:
    while True:
        msleep(now() + 1)


def root_to_thread(a) -> None:
    while True:
        to_thread(time.sleep, 0.001)


def root_python(a) -> None:
    n = 0
    while True:
        n += 1  # plain Python: interrupted right here


ROOT_LOOPS = (root_channel, root_sleep, root_to_thread, root_python)


def sigint_round(rng: random.Random, hits: Counter) -> str:
    """One busy program, one SIGINT; return what the root was doing."""
    a, b = chmake()
    r, w = os.pipe()
    os.set_blocking(r, False)
    busy = bundle()
    for i in range(50):
        busy.go(guarded, hits, sleeper, i)
    busy.go(guarded, hits, echo, b)
    busy.go(guarded, hits, pool_user)
    busy.go(guarded, hits, fd_pong, r, w)
    loop = rng.choice(ROOT_LOOPS)
    killer = threading.Timer(rng.random() * 0.03, os.kill, (os.getpid(), signal.SIGINT))
    try:
        killer.start()
        loop(a)
    except KeyboardInterrupt:
        hits["root"] += 1
    killer.join()
    hclose(busy)
    fdclean(r)
    for fd in (r, w):
        os.close(fd)
    hclose(a)
    hclose(b)
    return loop.__name__


def hub_usable() -> bool:
    c, d = chmake()
    h = go(chrecv, d, now() + 1000)
    chsend(c, "ping")
    ok = h.wait() == "ping"
    hclose(h)
    hclose(c)
    hclose(d)
    return ok


def sigint_phase(sc: Scenario) -> None:
    rounds = sc.size(1_000, minimum=200)
    rng = random.Random(1)
    hits: Counter[str] = Counter()
    doing: Counter[str] = Counter()
    usable = 0
    for i in range(rounds):
        doing[sigint_round(rng, hits)] += 1
        usable += hub_usable()
        if (i + 1) % max(1, rounds // 5) == 0:
            sc.say(f"{i + 1} rounds: root got {hits['root']}, coroutines got "
                   f"{sum(hits.values()) - hits['root']}")
    sc.say(f"the root was in: {dict(doing)}")
    sc.check(hits["root"] == rounds, f"the root got every KeyboardInterrupt ({hits['root']}/{rounds})")
    sc.check(set(hits) <= {"root"}, f"no coroutine got one ({dict(hits)})")
    sc.check(usable == rounds, f"the hub was usable after every round ({usable}/{rounds})")
    sc.check(len(get_hub().all_tasks()) == 0, f"nothing left running ({len(get_hub().all_tasks())})")


# ----------------------------------------------------------- phase 2: SIGCHLD


class Waits:
    """What the waiting coroutines saw."""

    def __init__(self) -> None:
        self.ok: Counter[str] = Counter()
        self.bad: Counter[str] = Counter()


def timed_sleeps(w: Waits, rng: random.Random) -> None:
    while True:
        deadline = now() + rng.randint(1, 20)
        msleep(deadline)
        if now() >= deadline:
            w.ok["msleep"] += 1
        else:
            w.bad["msleep returned early"] += 1


def timed_receives(w: Waits, rx, rng: random.Random) -> None:
    expected = 0
    while True:
        deadline = now() + rng.randint(1, 20)
        try:
            v = chrecv(rx, deadline)
        except TimedOut:
            if now() >= deadline:
                w.ok["chrecv timed out"] += 1
            else:
                w.bad["chrecv timed out early"] += 1
            continue
        if v == expected:
            w.ok["chrecv"] += 1
        else:
            w.bad["chrecv out of order"] += 1
        expected = v + 1


def producer(tx) -> None:
    n = 0
    while True:
        msleep(now() + (n % 30))
        chsend(tx, n)
        n += 1


def fd_waits(w: Waits, r: int) -> None:
    while True:
        fdin(r)
        try:
            w.ok["fdin"] += bool(os.read(r, 4096))
        except BlockingIOError:
            w.bad["fdin woke without data"] += 1


def pool_waits(w: Waits) -> None:
    while True:
        w.ok["to_thread"] += to_thread(lambda: 1)


def green_spawner(w: Waits, left: list) -> None:
    while left[0] > 0:
        left[0] -= 1
        rc = green_subprocess.run(["true"]).returncode
        (w.ok if rc == 0 else w.bad)["green subprocess.run" + ("" if rc == 0 else f" rc {rc}")] += 1


def os_spawner(count: int, stop: threading.Event, done: list) -> None:
    for _ in range(count):
        if stop.is_set():
            return
        subprocess.run(["true"])
        done[0] += 1


def byte_writer(fd: int, stop: threading.Event) -> None:
    while not stop.wait(0.002):
        os.write(fd, b"y")


def sigchld_phase(sc: Scenario) -> None:
    children = sc.size(5_000, minimum=1_000)
    delivered = [0]
    old = signal.signal(signal.SIGCHLD, lambda s, f: delivered.__setitem__(0, delivered[0] + 1))
    w = Waits()
    rng = random.Random(2)
    tx, rx = chmake()
    r, wfd = os.pipe()
    os.set_blocking(r, False)
    stop = threading.Event()
    os_done = [0]
    green_left = [children // 2]
    threads = [threading.Thread(target=os_spawner, args=(children - children // 2, stop, os_done)),
               threading.Thread(target=byte_writer, args=(wfd, stop))]
    t0 = time.monotonic()
    waiters = bundle()
    for i in range(20):
        waiters.go(guarded, w.bad, timed_sleeps, w, random.Random(i))
    waiters.go(guarded, w.bad, timed_receives, w, rx, rng)
    waiters.go(guarded, w.bad, producer, tx)
    waiters.go(guarded, w.bad, fd_waits, w, r)
    waiters.go(guarded, w.bad, pool_waits, w)
    spawners = bundle()
    for _ in range(4):
        spawners.go(green_spawner, w, green_left)
    for th in threads:
        th.start()
    limit = time.monotonic() + (1200 if sc.long else 90)
    while (threads[0].is_alive() or green_left[0] > 0) and time.monotonic() < limit:
        msleep(now() + 200)
    spawners.wait(now() + 30_000)
    stop.set()
    for th in threads:
        th.join(10)
    hclose(spawners)
    hclose(waiters)
    fdclean(r)
    os.close(r)
    os.close(wfd)
    hclose(tx)
    hclose(rx)
    signal.signal(signal.SIGCHLD, old)
    spawned = os_done[0] + w.ok["green subprocess.run"]
    sc.say(f"{spawned} subprocesses in {time.monotonic() - t0:.1f} s, {delivered[0]} SIGCHLD "
           f"handled; waits fine {dict(w.ok)}; wrong {dict(w.bad)}")
    sc.check(spawned == children, f"every subprocess ran ({spawned}/{children})")
    sc.check(delivered[0] > 0, "SIGCHLD arrived")
    sc.check(not w.bad, "no wait disturbed")
    sc.check(len(get_hub().all_tasks()) == 0, f"nothing left running ({len(get_hub().all_tasks())})")


def main() -> None:
    Scenario("signals").run_phases(("SIGINT at random points of a busy program", sigint_phase),
                                   ("a SIGCHLD flood while coroutines wait", sigchld_phase))


if __name__ == "__main__":
    main()
