"""Guide use case: the parent broadcasts a shutdown signal with chdone.

    coroutine void worker(int ch) {
        while(1) {
            int rc = msleep(now() + (random() % 1000));
            if(rc < 0 && errno == ECANCELED) return; /* 6. */
            rc = chrecv(ch, NULL, 0, 0);
            if(rc == -1 && errno == EPIPE) return; /* 3. */
        }
    }
    ...
    chdone(ch[1]); /* 2. */
    rc = bundle_wait(b, now() + 500); /* 4. */
    hclose(b); /* 5. */
"""

from __future__ import annotations

from dill import (
    Canceled, ChannelEnd, Done, TimedOut, bundle, bundle_go, bundle_wait, chdone, chmake,
    chrecv, coroutine, hclose, msleep, now,
)
from timeline import log, reset


@coroutine
def worker(name: str, ch: ChannelEnd, step_ms: int) -> None:
    while True:
        try:
            msleep(now() + step_ms)
        except Canceled:
            log(name, "canceled in the middle of a step (6)")
            raise
        try:
            chrecv(ch, 0)
        except Done:
            log(name, "got the shutdown signal, exits (3)")
            return
        except TimedOut:
            pass  # no signal yet: keep working


def main(steps_ms: list[int], run_ms: int, grace_ms: int) -> None:
    ch = chmake()
    b = bundle()
    for i, ms in enumerate(steps_ms):
        bundle_go(b, worker(f"worker{i}", ch[0], ms))
    log("main", "launched workers (1)")
    msleep(now() + run_ms)
    log("main", "chdone: broadcast shutdown (2)")
    chdone(ch[1])
    try:
        bundle_wait(b, now() + grace_ms)
        log("main", "all workers exited in time")
    except TimedOut:
        log("main", "grace period over (4)")
    hclose(b)
    log("main", "closed the bundle (5)")
    hclose(ch[1])
    hclose(ch[0])


if __name__ == "__main__":
    reset("broadcast shutdown")
    main(steps_ms=[60, 1000, 90], run_ms=200, grace_ms=300)
