"""Guide use case: the parent closes many children at once through a bundle.

    int b = bundle();
    for(i = 0; i != 3; i++) bundle_go(b, worker()); /* 1. */
    msleep(now() + 500);
    hclose(b); /* 3. */
"""

from __future__ import annotations

from dill import Canceled, bundle, bundle_go, coroutine, hclose, msleep, now
from timeline import log, reset


@coroutine
def worker(name: str, work_ms: int) -> None:
    try:
        msleep(now() + work_ms)
    except Canceled:
        log(name, "canceled (4)")
        raise
    log(name, "finished (2)")


def main(work_ms: list[int], parent_ms: int) -> None:
    b = bundle()
    for i, ms in enumerate(work_ms):
        bundle_go(b, worker(f"worker{i}", ms))
    log("main", f"launched {len(work_ms)} workers (1), sleeps {parent_ms} ms")
    msleep(now() + parent_ms)
    log("main", "hclose(bundle) (3)")
    hclose(b)
    log("main", "every worker has exited")


if __name__ == "__main__":
    reset("parent closes many children")
    main(work_ms=[100, 300, 800], parent_ms=500)
