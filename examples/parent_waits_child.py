"""Guide use case: the parent waits for the child's result on a channel.

    coroutine void worker(int ch) {
        msleep(now() + (random() % 2000));
        int val = 42;
        chsend(ch, &val, sizeof(val), -1); /* 3. */
    }
    int main(void) {
        chmake(ch);
        int cr = go(worker(ch[1])); /* 1. */
        msleep(now() + 1000); /* 4. */
        chrecv(ch[0], &val, sizeof(val), -1); /* 5. */
        hclose(cr); /* 6. */
    }
"""

from __future__ import annotations

from dill import ChannelEnd, chmake, chrecv, chsend, coroutine, go, hclose, msleep, now
from timeline import log, reset


@coroutine
def worker(ch: ChannelEnd, work_ms: int) -> None:
    msleep(now() + work_ms)
    log("worker", "computed 42 (2), sends it")
    chsend(ch, 42)
    log("worker", "the parent took the result (3)")


def main(work_ms: int, parent_ms: int) -> None:
    ch = chmake()
    cr = go(worker(ch[1], work_ms))
    log("main", "launched worker (1)")
    msleep(now() + parent_ms)
    log("main", "needs the result now (4)")
    val = chrecv(ch[0])
    log("main", f"received {val} (5)")
    hclose(cr)
    log("main", "closed the worker (6)")
    hclose(ch[0])
    hclose(ch[1])


if __name__ == "__main__":
    reset("parent waits for child: the child is done first")
    main(work_ms=50, parent_ms=150)
    reset("parent waits for child: the parent waits")
    main(work_ms=200, parent_ms=50)
