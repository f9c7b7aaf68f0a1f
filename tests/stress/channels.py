"""Randomized channel operations under many scheduler seeds.

Coroutines send, receive and ``choose`` over buffered and unbuffered
channels with random deadlines (-1, 0, past, near future) while the root
closes random participants mid-flight and starts new ones.  Every value sent
carries a unique id; at the end each id must have been received exactly
once if its send succeeded, and never if its send raised.

Long: 1,000,000 operations over 20 seeds.  Each seed runs on a virtual clock,
so a failing seed replays exactly (``--seeds``, and the seed is printed).
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter

from dill import (
    CHRECV, CHSEND, BadHandle, Canceled, Done, TimedOut, chmake, choose, chrecv, chsend, go,
    hclose, now, yield_,
)
from dill._hub import get_hub
from dill.testing import seed_scheduler, virtual_clock

from ._common import Scenario

EXPECTED = (TimedOut, Canceled, Done, BadHandle)
PARTICIPANTS = 40
CHANNELS = 6
CAPACITIES = (0, 0, 1, 3)  # unbuffered twice as often


class Ledger:
    """Every value's fate, by id."""

    def __init__(self) -> None:
        self.ids = itertools.count()
        self.sent: set[int] = set()
        self.unsent: set[int] = set()
        self.received: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.ops = 0

    def new_id(self) -> int:
        return next(self.ids)

    def failed(self, exc: BaseException, ids: list[int]) -> None:
        self.errors[type(exc).__name__] += 1
        self.unsent.update(ids)

    def problems(self) -> list[str]:
        """Ids whose fate breaks the rule, described."""
        out = []
        both = self.sent & self.unsent
        if both:
            out.append(f"{len(both)} ids both sent and failed, e.g. {sorted(both)[:5]}")
        lost = [i for i in self.sent if self.received[i] != 1]
        if lost:
            out.append(f"{len(lost)} sent ids not received exactly once, e.g. "
                       f"{[(i, self.received[i]) for i in sorted(lost)[:5]]}")
        ghosts = [i for i in self.received if i not in self.sent]
        if ghosts:
            out.append(f"{len(ghosts)} ids received though their send failed, e.g. {sorted(ghosts)[:5]}")
        return out


def random_deadline(rng: random.Random) -> int:
    kind = rng.randrange(4)
    if kind == 0:
        return -1
    if kind == 1:
        return 0
    if kind == 2:
        return now() - rng.randint(1, 10)
    return now() + rng.randint(0, 20)


def participant(seed: int, ledger: Ledger, channels: list, budget: int) -> None:
    """Random operations until the budget is spent or the coroutine is closed."""
    rng = random.Random(seed)
    try:
        while ledger.ops < budget:
            ledger.ops += 1
            one_op(rng, ledger, channels)
            if rng.random() < 0.3:
                yield_()  # let the root in: operations that never block never switch
    except Canceled:
        pass  # closed mid-flight by the root: what the scenario is about
    except BaseException as exc:  # anything else is a finding
        ledger.errors[f"unexpected {type(exc).__name__}: {exc}"] += 1


def one_op(rng: random.Random, ledger: Ledger, channels: list) -> None:
    deadline = random_deadline(rng)
    kind = rng.randrange(3)
    if kind == 0:
        tx, _ = rng.choice(channels)
        vid = ledger.new_id()
        try:
            chsend(tx, vid, deadline)
        except EXPECTED as exc:
            ledger.failed(exc, [vid])
            raise_if_canceled(exc)
        else:
            ledger.sent.add(vid)
    elif kind == 1:
        _, rx = rng.choice(channels)
        try:
            ledger.received[chrecv(rx, deadline)] += 1
        except EXPECTED as exc:
            ledger.failed(exc, [])
            raise_if_canceled(exc)
    else:
        clauses = []
        for _ in range(rng.randint(1, 3)):
            tx, rx = rng.choice(channels)
            clauses.append((CHSEND, tx, ledger.new_id()) if rng.random() < 0.5 else (CHRECV, rx))
        sends = [cl[2] for cl in clauses if cl[0] == CHSEND]
        try:
            i, value = choose(clauses, deadline)
        except EXPECTED as exc:
            ledger.failed(exc, sends)
            raise_if_canceled(exc)
            return
        if clauses[i][0] == CHRECV:
            ledger.received[value] += 1
        else:
            ledger.sent.add(clauses[i][2])
            sends.remove(clauses[i][2])
        ledger.unsent.update(sends)


def raise_if_canceled(exc: BaseException) -> None:
    if isinstance(exc, Canceled):
        raise exc


def retire(rng: random.Random, channels: list) -> tuple:
    """Close a random channel's sending end (its senders get BadHandle, its
    receivers Done once the buffer is empty) and put a fresh one in its place."""
    j = rng.randrange(len(channels))
    old = channels[j]
    hclose(old[0])
    channels[j] = chmake(rng.choice(CAPACITIES))
    return old


def drain(ledger: Ledger, rx) -> None:
    while True:
        try:
            ledger.received[chrecv(rx, 0)] += 1
        except (TimedOut, Done):
            return


def run_seed(sc: Scenario, seed: int, budget: int) -> None:
    rng = random.Random(seed)
    ledger = Ledger()
    channels = [chmake(rng.choice(CAPACITIES)) for _ in range(CHANNELS)]
    retired = []
    closes = 0
    start = time.monotonic()
    with seed_scheduler(seed), virtual_clock() as clock:
        crs = [go(participant, rng.random(), ledger, channels, budget) for _ in range(PARTICIPANTS)]
        while ledger.ops < budget:
            yield_()
            # The virtual clock jumps by itself only when every task blocks;
            # here someone is always ready, so time moves by hand.
            clock.advance(rng.randint(0, 2))
            for _ in range(rng.randint(1, 10)):
                victim = rng.randrange(len(crs))
                hclose(crs[victim])  # mid-flight: it may be blocked, ready or finished
                closes += 1
                crs[victim] = go(participant, rng.random(), ledger, channels, budget)
            if rng.random() < 0.05:
                retired.append(retire(rng, channels))
        for cr in crs:
            hclose(cr)
    for tx, rx in channels + retired:  # what is still buffered was sent: take it out
        drain(ledger, rx)
        hclose(tx)
        hclose(rx)
    problems = ledger.problems()
    unexpected = [k for k in ledger.errors if k.startswith("unexpected")]
    sc.say(f"seed {seed}: {ledger.ops} ops, {len(ledger.sent)} sent, {len(ledger.unsent)} "
           f"not sent, {sum(ledger.received.values())} received, {closes} participants "
           f"closed, {len(retired)} channels retired, errors {dict(ledger.errors)}, "
           f"{time.monotonic() - start:.1f} s")
    sc.check(not problems and not unexpected,
             f"seed {seed}: every value received exactly once or its send raised"
             + (f" -- {problems} {unexpected}" if problems or unexpected else ""))
    sc.check(len(get_hub().all_tasks()) <= 1, f"seed {seed}: no coroutine left ({len(get_hub().all_tasks())})")


def main() -> None:
    sc = Scenario("channels")
    seeds = sc.seeds or 20
    total = sc.size(1_000_000)
    for seed in range(1, seeds + 1):
        run_seed(sc, seed, total // seeds)
    sc.finish()


if __name__ == "__main__":
    main()
