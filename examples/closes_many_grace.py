"""Guide use case: close many children, after a grace period.

    for(i = 0; i != 3; i++) bundle_go(b, worker()); /* 1. */
    bundle_wait(b, now() + 500); /* 4. */
    hclose(b); /* 5. */
"""

from __future__ import annotations

from dill import Canceled, TimedOut, bundle, bundle_go, bundle_wait, coroutine, hclose
from dill import msleep, now
from timeline import log, reset


@coroutine
def worker(name: str, work_ms: int) -> None:
    try:
        msleep(now() + work_ms)
    except Canceled:
        log(name, "canceled (6)")
        raise
    log(name, "finished (2)")


def main(work_ms: list[int], grace_ms: int) -> None:
    b = bundle()
    for i, ms in enumerate(work_ms):
        bundle_go(b, worker(f"worker{i}", ms))
    log("main", f"launched workers (1); grace period {grace_ms} ms (3)")
    try:
        bundle_wait(b, now() + grace_ms)
        log("main", "every worker finished in time (4)")
    except TimedOut:
        log("main", "grace period over (4)")
    hclose(b)
    log("main", "closed the bundle (5)")


if __name__ == "__main__":
    reset("grace period for many: all finish in time")
    main(work_ms=[50, 100, 150], grace_ms=300)
    reset("grace period for many: one is too slow")
    main(work_ms=[50, 100, 900], grace_ms=300)
