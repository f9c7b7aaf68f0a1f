"""Churn: coroutines started and closed, timers armed and abandoned, by the million.

Phase 1 runs ``go``/``hclose`` cycles of every kind (a coroutine that
returns, one blocked forever, one blocked on a channel, a bundle of two).
Phase 2 arms deadlines that are never reached: a receive served before its
deadline, an ``fdin`` whose byte arrives first, a sleep that is closed.
Each phase samples the hub's gauges (live tasks, parked greenlets, timer
heap, fd registrations, open fds, RSS) and checks that the last quarter of
the curve stays level with the curve after warm-up.

Long: 1,000,000 cycles and 1,000,000 abandoned timers.
"""

from __future__ import annotations

import socket

from dill import bundle, chmake, chrecv, chsend, fdclean, fdin, go, hclose, msleep, now

from ._common import TIMER_SLACK, Curve, Scenario, hub_metrics

SAMPLES = 20
FAR = 3_600_000  # an hour: these deadlines are never reached
# How far a gauge's last quarter may rise above its warm-up level.
TOLERANCE = {"tasks": 2, "idle_greenlets": 8, "timers": TIMER_SLACK, "fdwaits": 1, "fds": 2,
             "rss_kb": 8192}


def returner(i: int) -> int:
    return i


def one_cycle(i: int, rx) -> int:
    """One ``go``/``hclose`` cycle of kind ``i % 4``; return how many coroutines it ran."""
    kind = i % 4
    if kind == 0:
        cr = go(returner, i)
        assert cr.wait() == i
        hclose(cr)
        return 1
    if kind == 1:
        hclose(go(msleep, -1))
        return 1
    if kind == 2:
        hclose(go(chrecv, rx))
        return 1
    b = bundle()
    b.go(msleep, -1)
    b.go(returner, i)
    hclose(b)
    return 2


def go_hclose(sc: Scenario) -> None:
    cycles = sc.size(1_000_000)
    _, rx = chmake()
    curve = Curve(sc, hub_metrics())
    started = 0
    step = max(1, cycles // SAMPLES)
    for i in range(cycles):
        started += one_cycle(i, rx)
        if i % step == 0:
            curve.sample(i)
    curve.sample(cycles)
    sc.say(f"{cycles} cycles, {started} coroutines started and closed")
    curve.check_flat(TOLERANCE)


def receiver(rx, got: list) -> None:
    """Receive forever, each receive with a deadline an hour away; count in ``got[0]``
    (a counter, not a list of values: the RSS curve must show dill, not us)."""
    while True:
        chrecv(rx, now() + FAR)
        got[0] += 1


def reader(sock: socket.socket, got: list) -> None:
    """Wait for each byte with a deadline an hour away; count in ``got[0]``."""
    while True:
        fdin(sock, now() + FAR)
        got[0] += len(sock.recv(1))


def abandoned_timers(sc: Scenario) -> None:
    count = sc.size(1_000_000)
    tx, rx = chmake()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    received = [0]
    read = [0]
    crs = [go(receiver, rx, received), go(reader, theirs, read)]
    curve = Curve(sc, hub_metrics())
    step = max(1, count // SAMPLES)
    for i in range(count):
        kind = i % 3
        if kind == 0:
            chsend(tx, i)            # served: the receive's timer is abandoned
        elif kind == 1:
            ours.send(b"x")
            msleep(0)                # lets the reader's fdin return: its timer is abandoned
        else:
            hclose(go(msleep, now() + FAR))
        if i % step == 0:
            curve.sample(i)
    curve.sample(count)
    for cr in crs:
        hclose(cr)
    fdclean(theirs)
    ours.close()
    theirs.close()
    sc.say(f"{count} timers armed and abandoned: {received[0]} receives served, "
           f"{read[0]} fdin woken by their byte, the rest closed asleep")
    sc.check(received[0] == (count + 2) // 3, f"every receive served ({received[0]})")
    sc.check(read[0] == (count + 1) // 3, f"every byte read ({read[0]})")
    curve.check_flat(TOLERANCE)


def main() -> None:
    Scenario("churn").run_phases(("go/hclose cycles", go_hclose),
                                 ("timers armed and abandoned", abandoned_timers))


if __name__ == "__main__":
    main()
