"""Across threads: many OS threads calling into one hub, many calls out to the pool.

Phase 1: 8 OS threads each make calls into the main hub through one
``Portal`` (plain callables and ``@coroutine`` calls that block), while the
hub runs its own coroutines (sleepers and channel ping-pong pairs).  Every
call must run exactly once and return its own argument to its own caller.

Phase 2: ``to_thread`` calls through the pool from many coroutines, with
random deadlines and random ``hclose`` of the calling coroutines.  Every
call returns its own result or raises ``TimedOut``/``Canceled``; no job
runs twice; every call that returned ran exactly once.

Long: 8 x 100,000 portal calls beside 10,000 coroutines; 100,000 ``to_thread`` calls.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from dill import (
    Canceled, Portal, TimedOut, bundle, chmake, chrecv, chsend, coroutine, go, hclose, msleep,
    now, to_thread, yield_,
)
from dill._hub import get_hub

from ._common import Scenario

THREADS = 8


# ------------------------------------------------------------ phase 1: portal


def sleeper(i: int) -> None:
    while True:
        msleep(now() + 500 + i % 1000)


def ping_pong(ch) -> None:
    """An exchange, then a sleep.  The hub's load is kept well below saturation
    (10,000 coroutines waking about once a second): a hub thread that never
    idles holds the GIL and starves the caller threads (CPython's switch
    interval, not dill: about 500 portal calls a second)."""
    n = 0
    while True:
        chsend(ch, n)
        n = chrecv(ch) + 1
        msleep(now() + 500 + n % 1000)


def pong(ch) -> None:
    while True:
        chsend(ch, chrecv(ch))


def background(sc: Scenario) -> object:
    """The hub's own load: half sleepers, half channel ping-pong pairs."""
    b = bundle()
    count = sc.size(10_000, minimum=100)
    for i in range(count // 2):
        b.go(sleeper, i)
    for _ in range(count // 4):
        x, y = chmake()
        b.go(ping_pong, x)
        b.go(pong, y)
    sc.say(f"the hub runs {len(get_hub().all_tasks())} coroutines of its own")
    return b


class PortalLedger:
    def __init__(self) -> None:
        self.ran: Counter[tuple] = Counter()   # written in the hub's thread only
        self.wrong: list = []
        self.errors: Counter[str] = Counter()
        self.returned = [0] * THREADS


def plain(ledger: PortalLedger, key: tuple) -> tuple:
    ledger.ran[key] += 1
    return key


@coroutine
def blocking(ledger: PortalLedger, key: tuple) -> tuple:
    ledger.ran[key] += 1
    yield_()  # a call that blocks in the hub before it returns
    return key


def caller(portal: Portal, ledger: PortalLedger, t: int, calls: int) -> None:
    for i in range(calls):
        key = (t, i)
        try:
            got = portal.call(plain, ledger, key) if i % 2 else portal.call(blocking(ledger, key))
        except Exception as exc:
            ledger.errors[f"{type(exc).__name__}: {exc}"] += 1
            return
        if got != key:
            ledger.wrong.append((key, got))
        ledger.returned[t] += 1


def portal_phase(sc: Scenario) -> None:
    calls = sc.size(100_000)
    ledger = PortalLedger()
    load = background(sc)
    t0 = time.monotonic()
    limit = t0 + (1800 if sc.long else 120)
    with Portal() as portal:
        threads = [threading.Thread(target=caller, args=(portal, ledger, t, calls))
                   for t in range(THREADS)]
        for th in threads:
            th.start()
        while any(th.is_alive() for th in threads) and time.monotonic() < limit:
            msleep(now() + 2000)  # calls are served while the hub blocks here
            sc.say(f"portal calls returned: {sum(ledger.returned)} / {THREADS * calls}")
        finished = not any(th.is_alive() for th in threads)
    for th in threads:
        th.join(10)
    hclose(load)
    elapsed = time.monotonic() - t0
    total = THREADS * calls
    sc.say(f"{total} portal calls in {elapsed:.1f} s ({total / elapsed:.0f}/s), errors "
           f"{dict(ledger.errors)}")
    sc.check(finished, "every caller thread finished (no deadlock)")
    sc.check(not ledger.errors, "no portal call raised")
    sc.check(not ledger.wrong, f"every call returned its own argument ({len(ledger.wrong)} wrong)")
    twice = [k for k, n in ledger.ran.items() if n != 1]
    sc.check(len(ledger.ran) == total and not twice,
             f"every call ran exactly once ({len(ledger.ran)} ran, {len(twice)} not once)")


# ---------------------------------------------------------- phase 2: to_thread


class PoolLedger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: Counter[int] = Counter()     # written by pool threads, under the lock
        self.returned: Counter[int] = Counter()
        self.wrong: list = []
        self.outcomes: Counter[str] = Counter()
        self.next_id = 0

    def job(self, i: int, pause: float) -> int:
        with self.lock:
            self.ran[i] += 1
        if pause:
            time.sleep(pause)
        return i


def pool_caller(ledger: PoolLedger, seed: float, total: int) -> None:
    rng = random.Random(seed)
    while ledger.next_id < total:
        i = ledger.next_id
        ledger.next_id += 1
        deadline = now() + rng.randint(0, 3) if rng.random() < 0.2 else -1
        try:
            got = to_thread(ledger.job, i, rng.choice((0, 0, 0.001)), deadline=deadline)
        except TimedOut:
            ledger.outcomes["TimedOut"] += 1
            continue
        except Canceled:
            ledger.outcomes["Canceled"] += 1
            raise
        ledger.outcomes["returned"] += 1
        ledger.returned[got] += 1
        if got != i:
            ledger.wrong.append((i, got))


def wait_pool_quiet(ledger: PoolLedger) -> None:
    """Until the abandoned jobs still queued have run: no new run for 300 ms (bounded)."""
    end = time.monotonic() + 60
    last = -1
    while time.monotonic() < end:
        with ledger.lock:
            seen = sum(ledger.ran.values())
        if seen == last:
            return
        last = seen
        msleep(now() + 300)


def pool_phase(sc: Scenario) -> None:
    total = sc.size(100_000)
    ledger = PoolLedger()
    rng = random.Random(7)
    t0 = time.monotonic()
    crs = [go(pool_caller, ledger, rng.random(), total) for _ in range(64)]
    closes = 0
    while ledger.next_id < total:
        msleep(now() + rng.randint(1, 5))
        victim = rng.randrange(len(crs))
        hclose(crs[victim])  # a random caller, blocked in to_thread or about to be
        closes += 1
        crs[victim] = go(pool_caller, ledger, rng.random(), total)
    for cr in crs:
        cr.wait()
    wait_pool_quiet(ledger)
    twice = [i for i, n in ledger.ran.items() if n > 1]
    lost = [i for i, n in ledger.returned.items() if n != 1 or ledger.ran[i] != 1]
    sc.say(f"{ledger.next_id} to_thread calls in {time.monotonic() - t0:.1f} s, {closes} callers "
           f"closed: outcomes {dict(ledger.outcomes)}, {sum(ledger.ran.values())} jobs ran")
    sc.check(sum(ledger.outcomes.values()) == ledger.next_id, "every call has one outcome")
    sc.check(not ledger.wrong, f"every call got its own result ({len(ledger.wrong)} wrong)")
    sc.check(not twice, f"no job ran twice ({len(twice)})")
    sc.check(not lost, f"every returned call ran and returned exactly once ({len(lost)} not)")


def main() -> None:
    Scenario("threads").run_phases(("portal calls from 8 OS threads", portal_phase),
                                   ("to_thread calls with random cancels", pool_phase))


if __name__ == "__main__":
    main()
