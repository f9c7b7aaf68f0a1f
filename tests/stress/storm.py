"""Cancellation storm: one bundle of coroutines, each blocked somewhere, closed at once.

The coroutines are spread over every kind of blocking call: channel send and
receive, ``choose``, ``msleep``, ``fdin``, ``bundle_wait``, ``to_thread``,
green locks, events and queues, dill sockets and green sockets.  Closing the
bundle must make every one exit through ``Canceled`` with its ``finally``
run, and leave nothing behind: no task, no live timer, no fd registration,
no open fd, no stale waiter on the shared objects, no pool job.

Long: 100,000 coroutines (those owning fds or a pool thread are capped).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

from dill import (
    CHRECV, CHSEND, Canceled, TimedOut, bundle, bundle_wait, chmake, chrecv, chsend, choose,
    fdclean, fdin, hclose, msleep, now, to_thread,
)
from dill._hub import get_hub
from dill.green import queue as green_queue
from dill.green import socket as green_socket
from dill.green import threading as green_threading
from dill.net import brecv, ipc_pair

from ._common import Scenario, fd_count, rss_kb


class Shared:
    """The objects many coroutines block on at once, and the storm's tally."""

    def __init__(self) -> None:
        self.recv_only = chmake()      # nobody ever sends here
        self.send_only = chmake()      # nobody ever receives here
        self.lock = green_threading.Lock()
        self.lock.acquire()            # held by the root for the whole storm
        self.event = green_threading.Event()
        self.queue = green_queue.Queue()
        self.os_event = threading.Event()  # what the pool threads wait on
        self.jobs_lock = threading.Lock()
        self.jobs_done = 0
        self.entered = 0
        self.outcomes: Counter[str] = Counter()
        self.finally_ran = 0

    def pool_job(self) -> None:
        self.os_event.wait(120)
        with self.jobs_lock:  # pool threads finish together
            self.jobs_done += 1


def block_chrecv(sh: Shared) -> None:
    chrecv(sh.recv_only[1])


def block_chsend(sh: Shared) -> None:
    chsend(sh.send_only[0], "never taken")


def block_choose(sh: Shared) -> None:
    choose([(CHRECV, sh.recv_only[1]), (CHSEND, sh.send_only[0], "never taken")])


def block_msleep(sh: Shared) -> None:
    msleep(now() + 3_600_000)


def block_bundle_wait(sh: Shared) -> None:
    inner = bundle()
    inner.go(msleep, -1)
    try:
        bundle_wait(inner)
    finally:
        hclose(inner)


def block_green_lock(sh: Shared) -> None:
    sh.lock.acquire()


def block_green_event(sh: Shared) -> None:
    sh.event.wait()


def block_green_queue(sh: Shared) -> None:
    sh.queue.get()


def block_fdin(sh: Shared) -> None:
    r, w = os.pipe()
    try:
        fdin(r)
    finally:
        fdclean(r)
        os.close(r)
        os.close(w)


def block_dill_socket(sh: Shared) -> None:
    a, b = ipc_pair()
    try:
        brecv(a, 1)
    finally:
        hclose(a)
        hclose(b)


def block_green_socket(sh: Shared) -> None:
    a, b = green_socket.socketpair()
    try:
        a.recv(1)
    finally:
        a.close()
        b.close()


def block_to_thread(sh: Shared) -> None:
    to_thread(sh.pool_job)


# Kinds that cost nothing but memory share the count evenly; those that own
# fds or a pool job are capped (at the long size; scaled down in short mode).
UNCAPPED = [block_chrecv, block_chsend, block_choose, block_msleep, block_bundle_wait,
            block_green_lock, block_green_event, block_green_queue]
CAPPED = {block_fdin: 1000, block_dill_socket: 1000, block_green_socket: 1000,
          block_to_thread: 1000}


def blocked(kind, sh: Shared) -> None:
    sh.entered += 1
    try:
        kind(sh)
        sh.outcomes["returned (wrong)"] += 1
    except Canceled:
        sh.outcomes["Canceled"] += 1
    except BaseException as exc:
        sh.outcomes[f"{type(exc).__name__} (wrong)"] += 1
    finally:
        sh.finally_ran += 1


def plan(sc: Scenario, total: int) -> list:
    """The kind of each coroutine, interleaved so kinds mix in the bundle."""
    capped = {k: sc.size(n) for k, n in CAPPED.items()}
    rest = total - sum(capped.values())
    counts = {k: rest // len(UNCAPPED) for k in UNCAPPED}
    counts[UNCAPPED[0]] += rest - sum(counts.values())
    counts.update(capped)
    order = []
    while any(counts.values()):
        for k in counts:
            if counts[k]:
                counts[k] -= 1
                order.append(k)
    return order


def drain_pool(sh: Shared, jobs: int) -> None:
    """Release the pool threads and wait (bounded) until every job ended."""
    sh.os_event.set()
    end = time.monotonic() + 60
    while sh.jobs_done < jobs and time.monotonic() < end:
        msleep(now() + 20)


def completes(op, *args) -> bool:
    """Whether a channel operation with deadline 0 finds a peer."""
    try:
        op(*args, 0)
        return True
    except TimedOut:
        return False


def check_nothing_left(sc: Scenario, sh: Shared, before: dict) -> None:
    hub = get_hub()
    sc.check(len(hub.all_tasks()) == before["tasks"], f"no task left ({len(hub.all_tasks())} live, "
             f"{before['tasks']} before)")
    live_timers = [e for e in hub.armed_timers() if not e[1].finished]  # (deadline, task, epoch)
    sc.check(not live_timers, f"no live timer left ({len(live_timers)}; {hub.ntimers} "
             f"dead entries await lazy deletion)")
    sc.check(hub.dead_timers <= hub.ntimers, f"timer bookkeeping: {hub.dead_timers} counted "
             f"dead, at most the {hub.ntimers} entries")
    sc.check(len(hub.fdwaits) <= before["fdwaits"],
             f"no fd registration left ({len(hub.fdwaits)}, {before['fdwaits']} before)")
    sc.check(fd_count() <= before["fds"], f"no fd left open ({fd_count()}, {before['fds']} before)")
    sc.check(not completes(chsend, sh.recv_only[0], "probe"),
             "recv-only channel: no stale receiver took a value")
    sc.check(not completes(chrecv, sh.send_only[1]), "send-only channel: no stale sender gave one")
    sh.queue.put("probe")
    sc.check(sh.queue.get_nowait() == "probe", "green queue: no stale getter took an item")
    sh.lock.release()
    sc.check(sh.lock.acquire(blocking=False), "green lock: free once released (no stale waiter)")


def main() -> None:
    sc = Scenario("storm")
    total = sc.size(100_000)
    hub = get_hub()
    sh = Shared()
    kinds = plan(sc, total)
    before = {"tasks": len(hub.all_tasks()), "fdwaits": len(hub.fdwaits), "fds": fd_count()}
    sc.say(f"{total} coroutines: " + ", ".join(
        f"{k.__name__[6:]} {n}" for k, n in Counter(kinds).items()))
    rss0 = rss_kb()
    t0 = time.monotonic()
    storm = bundle()
    for kind in kinds:
        storm.go(blocked, kind, sh)  # each runs at once until it blocks
    msleep(now() + 50)               # to_thread jobs reach their threads
    sc.say(f"all started in {time.monotonic() - t0:.1f} s; {sh.entered} blocked, "
           f"{len(hub.all_tasks())} tasks, {hub.ntimers} timers, {len(hub.fdwaits)} fd "
           f"registrations, {fd_count()} fds, RSS {rss0} -> {rss_kb()} kB")
    sc.check(sh.entered == total and not sh.outcomes, "every coroutine reached its blocking call")
    t0 = time.monotonic()
    hclose(storm)
    sc.say(f"hclose(bundle) returned in {time.monotonic() - t0:.2f} s; outcomes "
           f"{dict(sh.outcomes)}, finally blocks run {sh.finally_ran}")
    sc.check(sh.outcomes == Counter(Canceled=total), "every coroutine exited through Canceled")
    sc.check(sh.finally_ran == total, "every finally ran")
    jobs = kinds.count(block_to_thread)
    drain_pool(sh, jobs)
    sc.check(sh.jobs_done == jobs, f"every abandoned to_thread job ended ({sh.jobs_done}/{jobs})")
    check_nothing_left(sc, sh, before)
    sc.say(f"RSS after: {rss_kb()} kB")
    sc.finish()


if __name__ == "__main__":
    main()
