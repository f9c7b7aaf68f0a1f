"""The structured-concurrency guide's use cases, line by line.

``random() % N`` is replaced by fixed values so that each scenario of each use
case is exercised deterministically.  Numbered comments are the guide's points.
"""

import pytest

from dill import (
    Canceled, Done, TimedOut, bundle, bundle_go, bundle_wait, chdone, chmake, chrecv, chsend,
    coroutine, go, hclose, msleep, now,
)


def test_foo_frees_resource_on_cancel():
    freed = []

    @coroutine
    def foo():
        resource = bytearray(1000)
        while True:
            try:
                msleep(now() + 100)
            except Canceled:
                del resource
                freed.append(True)
                return

    h = go(foo())
    msleep(now() + 5)  # do_work()
    hclose(h)
    assert freed == [True]


# -------------------------------------- Parent coroutine closes child coroutine

@pytest.mark.parametrize("parent_sleep, child_sleep, expected", [
    (20, 2, "2"),       # child finishes before hclose
    (2, 2000, "4"),     # child is canceled by hclose
])
def test_parent_closes_child(parent_sleep, child_sleep, expected):
    points = []

    @coroutine
    def worker():
        try:
            msleep(now() + child_sleep)
        except Canceled:
            points.append("4")
            return
        points.append("2")

    cr = go(worker())                 # 1.
    msleep(now() + parent_sleep)
    hclose(cr)                        # 3.
    assert points == [expected]


# --------------------------------- Parent coroutine closes multiple children

def test_parent_closes_multiple_children():
    points = []
    sleeps = iter([2, 2000, 5])      # "random() % 1000" for the three workers

    @coroutine
    def worker(i):
        try:
            msleep(now() + next(sleeps))
        except Canceled:
            points.append(("4", i))
            return
        points.append(("2", i))

    b = bundle()
    for i in range(3):
        bundle_go(b, worker(i))       # 1.
    msleep(now() + 30)
    hclose(b)                         # 3.
    assert sorted(points) == [("2", 0), ("2", 2), ("4", 1)]


# ------------------------------------------ Parent coroutine waits for child

@pytest.mark.parametrize("child_sleep, parent_sleep", [
    (2, 20),   # child finishes first and blocks in chsend until the parent reads
    (20, 2),   # parent blocks in chrecv until the child sends
])
def test_parent_waits_for_child(child_sleep, parent_sleep):
    points = []

    @coroutine
    def worker(ch):
        msleep(now() + child_sleep)
        points.append("2")
        val = 42
        chsend(ch, val, -1)           # 3.
        points.append("3")

    ch = chmake()
    cr = go(worker(ch[1]))            # 1.
    msleep(now() + parent_sleep)
    points.append("4")
    val = chrecv(ch[0], -1)
    points.append("5")
    hclose(cr)                        # 6.
    assert val == 42
    if child_sleep < parent_sleep:
        assert points[:2] == ["2", "4"]
    else:
        assert points[:2] == ["4", "2"]
    assert set(points) == {"2", "3", "4", "5"}
    hclose(ch[0])
    hclose(ch[1])


# ---------------------------- Parent waits for child, with a grace period

@pytest.mark.parametrize("child_sleep, expected", [
    (2, "Success"),          # done before the parent even waits
    (25, "Success"),         # done within the grace period
    (5000, "Timed out"),     # not done: canceled at 6.
])
def test_parent_waits_with_grace_period(child_sleep, expected):
    points = []

    @coroutine
    def worker(ch):
        try:
            msleep(now() + child_sleep)
        except Canceled:
            points.append("7")
            return
        val = 42
        chsend(ch, val, -1)
        points.append("3")

    ch = chmake()
    cr = go(worker(ch[1]))                        # 1.
    msleep(now() + 10)
    try:                                          # 4.
        val = chrecv(ch[0], now() + 200)
    except TimedOut:
        result = "Timed out"                      # 5a.
    else:
        assert val == 42
        result = "Success"                        # 5.
    hclose(cr)                                    # 6.
    assert result == expected
    assert points == (["7"] if expected == "Timed out" else ["3"])
    hclose(ch[0])
    hclose(ch[1])


# ------------------------ Parent closes multiple children, with a grace period

@pytest.mark.parametrize("sleeps, timed_out", [
    ([2, 5, 10], False),       # all end before the deadline
    ([2, 5000, 10], True),     # one is still running at the deadline
])
def test_parent_closes_children_with_grace_period(sleeps, timed_out):
    points = []

    @coroutine
    def worker(ms):
        try:
            msleep(now() + ms)
        except Canceled:
            points.append(("6", ms))
            return
        points.append(("2", ms))

    b = bundle()
    for ms in sleeps:
        bundle_go(b, worker(ms))        # 1.
    t0 = now()                          # 3.
    try:
        bundle_wait(b, now() + 200)
        got_timeout = False
    except TimedOut:
        got_timeout = True
    elapsed = now() - t0                # 4.
    hclose(b)                           # 5.
    assert got_timeout == timed_out
    if not timed_out:
        # bundle_wait returned right after the last child finished
        assert elapsed < 200
        assert sorted(points) == [("2", 2), ("2", 5), ("2", 10)]
    else:
        assert elapsed >= 200
        assert sorted(points) == [("2", 2), ("2", 10), ("6", 5000)]


# ------------------------ Parent broadcasts a shutdown signal to children

def test_broadcast_shutdown():
    points = []
    # per worker: how long each loop iteration sleeps; worker 1 is stuck in a
    # long sleep when the signal arrives and does not make the grace period.
    sleeps = {0: 3, 1: 2000, 2: 5}

    @coroutine
    def worker(i, ch):
        while True:
            try:
                msleep(now() + sleeps[i])
            except Canceled:
                points.append(("6", i))
                return
            try:
                chrecv(ch, 0)
            except Done:
                points.append(("3", i))
                return
            except TimedOut:
                pass

    ch = chmake()
    b = bundle()
    for i in range(3):
        bundle_go(b, worker(i, ch[0]))  # 1.
    msleep(now() + 20)
    chdone(ch[1])                       # 2.
    try:
        bundle_wait(b, now() + 50)
    except TimedOut:
        points.append("4")              # 4.
    hclose(b)                           # 5.
    hclose(ch[1])
    hclose(ch[0])
    assert sorted(p for p in points if p != "4") == [("3", 0), ("3", 2), ("6", 1)]
    assert points.index("4") < points.index(("6", 1))


def test_broadcast_shutdown_all_in_time():
    points = []

    @coroutine
    def worker(i, ch):
        while True:
            try:
                msleep(now() + 3)
            except Canceled:  # pragma: no cover - would fail the assert below
                points.append(("6", i))
                return
            try:
                chrecv(ch, 0)
            except Done:
                points.append(("3", i))
                return
            except TimedOut:
                pass

    ch = chmake()
    b = bundle()
    for i in range(3):
        bundle_go(b, worker(i, ch[0]))
    msleep(now() + 10)
    chdone(ch[1])
    bundle_wait(b, now() + 1000)   # no timeout
    hclose(b)
    hclose(ch[1])
    hclose(ch[0])
    assert sorted(points) == [("3", 0), ("3", 1), ("3", 2)]
