"""Guide use case: the parent closes the child, whether or not it has finished.

    coroutine void worker(void) {
        int rc = msleep(now() + 2000);
        if(rc < 0 && errno == ECANCELED) return; /* 4. */
        /* 2. */
    }
    int main(void) {
        int cr = go(worker()); /* 1. */
        msleep(now() + (random() % 1000));
        hclose(cr); /* 3. */
    }
"""

from __future__ import annotations

from dill import Canceled, coroutine, go, hclose, msleep, now
from timeline import log, reset


@coroutine
def worker(work_ms: int) -> None:
    try:
        msleep(now() + work_ms)
    except Canceled:
        log("worker", "canceled: cleans up and exits (4)")
        raise
    log("worker", "finished its work (2)")


def main(work_ms: int, parent_ms: int) -> None:
    cr = go(worker(work_ms))
    log("main", f"launched worker (1), sleeps {parent_ms} ms")
    msleep(now() + parent_ms)
    log("main", "hclose(worker) (3)")
    hclose(cr)
    log("main", "hclose returned: the worker is gone")


if __name__ == "__main__":
    reset("parent closes child: the child finishes first")
    main(work_ms=50, parent_ms=100)
    reset("parent closes child: the parent cancels it")
    main(work_ms=2000, parent_ms=100)
