"""Guide use case: the parent waits for the child's result, with a grace period.

    int rc = chrecv(ch[0], &val, sizeof(val), now() + 500);
    if(rc < 0 && errno == ETIMEDOUT) printf("Timed out\n"); /* 5a. */
    hclose(cr); /* 6. */
"""

from __future__ import annotations

from dill import Canceled, ChannelEnd, TimedOut, chmake, chrecv, chsend, coroutine, go, hclose
from dill import msleep, now
from timeline import log, reset


@coroutine
def worker(ch: ChannelEnd, work_ms: int) -> None:
    try:
        msleep(now() + work_ms)
    except Canceled:
        log("worker", "canceled before finishing (7)")
        raise
    log("worker", "computed 42 (2)")
    chsend(ch, 42)


def main(work_ms: int, parent_ms: int, grace_ms: int) -> None:
    ch = chmake()
    cr = go(worker(ch[1], work_ms))
    log("main", "launched worker (1)")
    msleep(now() + parent_ms)
    log("main", f"waits at most {grace_ms} ms for the result (4)")
    try:
        val = chrecv(ch[0], now() + grace_ms)
        log("main", f"success: {val} (5)")
    except TimedOut:
        log("main", "timed out (5a)")
    hclose(cr)
    log("main", "closed the worker (6)")
    hclose(ch[0])
    hclose(ch[1])


if __name__ == "__main__":
    reset("grace period: the result arrives in time")
    main(work_ms=150, parent_ms=100, grace_ms=100)
    reset("grace period: the child is too slow")
    main(work_ms=2000, parent_ms=100, grace_ms=100)
