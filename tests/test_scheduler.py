"""Scheduler guarantees: fairness, context variables, one hub per OS thread."""

import contextvars
import threading
import time

import pytest

import dill
from dill import chmake, chrecv, chsend, coroutine, go, hclose, msleep, now, yield_


# ------------------------------------------------------------------ fairness

def test_yield_loop_delays_due_timer_by_at_most_one_pass():
    state = {"woke": None, "deadline": now() + 15}
    spins_after_due = []

    @coroutine
    def sleeper():
        msleep(state["deadline"])
        state["woke"] = time.monotonic_ns()

    @coroutine
    def spinner():
        due_ns = state["deadline"] * 1_000_000
        for i in range(5_000_000):
            if state["woke"] is not None:
                return i
            if time.monotonic_ns() >= due_ns:
                spins_after_due.append(i)
            yield_()
        return None

    s = go(sleeper())
    sp = go(spinner())
    assert sp.wait() is not None, "the timer never fired while a coroutine spun"
    # libdill polls timers at most once a second while the ready queue is busy;
    # dill checks them every pass: the sleeper runs within a pass or two.
    assert len(spins_after_due) <= 3
    assert state["woke"] // 1_000_000 - state["deadline"] < 100
    hclose(s)
    hclose(sp)


def test_two_spinners_and_a_timer():
    deadline = now() + 10
    woke = []
    counts = [0, 0]

    @coroutine
    def spinner(k):
        while not woke:
            counts[k] += 1
            yield_()

    @coroutine
    def sleeper():
        msleep(deadline)
        woke.append(now())

    s = go(sleeper())
    a = go(spinner(0))
    b = go(spinner(1))
    a.wait()
    b.wait()
    assert woke[0] - deadline < 100
    assert abs(counts[0] - counts[1]) <= 1  # FIFO: they alternate
    for h in (s, a, b):
        hclose(h)


def test_overload_relays_can_be_closed_promptly():
    # libdill tests/overload.c: a value circulating forever between two relays
    # keeps the ready queue busy; the root can still sleep and close them.
    left = chmake()
    right = chmake()

    @coroutine
    def relay(src, dst):
        while True:
            chsend(dst, chrecv(src))

    r1 = go(relay(left[1], right[1]))
    r2 = go(relay(right[0], left[0]))
    chsend(left[0], 42)
    t0 = now()
    msleep(now() + 20)
    assert now() - t0 < 1000
    hclose(r1)
    hclose(r2)
    for h in left + right:
        hclose(h)


# ------------------------------------------------------------ contextvars

var = contextvars.ContextVar("var", default="default")


def test_contextvars_propagate_into_coroutines():
    token = var.set("parent")
    try:
        seen = []
        cr = go(lambda: seen.append(var.get()))
        hclose(cr)
        assert seen == ["parent"]
    finally:
        var.reset(token)


def test_contextvars_set_in_coroutine_do_not_leak():
    seen = []

    @coroutine
    def setter():
        var.set("child")
        yield_()
        seen.append(("setter", var.get()))

    @coroutine
    def reader():
        seen.append(("reader", var.get()))
        yield_()
        seen.append(("reader", var.get()))

    a = go(setter())
    b = go(reader())
    a.wait()
    b.wait()
    hclose(a)
    hclose(b)
    assert var.get() == "default"
    assert sorted(seen) == [("reader", "default"), ("reader", "default"),
                            ("setter", "child")]


def test_contextvars_do_not_leak_between_coroutines_reusing_a_worker():
    # Sequential coroutines reuse the same idle worker greenlet.
    seen = []

    def first():
        var.set("leaked?")

    def second():
        seen.append(var.get())

    for _ in range(3):
        hclose(go(first))
        hclose(go(second))
    assert seen == ["default"] * 3
    assert var.get() == "default"


def test_contextvars_snapshot_taken_at_go():
    token = var.set("at go")
    try:
        seen = []

        @coroutine
        def later():
            yield_()
            seen.append(var.get())

        cr = go(later())
        var.set("changed after go")
        cr.wait()
        hclose(cr)
        assert seen == ["at go"]
    finally:
        var.reset(token)


# ----------------------------------------------------------------- threads

def test_threads_have_independent_schedulers():
    # libdill tests/threads.c: each thread runs three workers side by side.
    results = {}
    barrier = threading.Barrier(3)

    def thread_main(name):
        log = []

        @coroutine
        def worker(count, text):
            for _ in range(count):
                log.append(text)
                msleep(now() + 5)

        barrier.wait()
        start = now()
        crs = [go(worker(4, "a")), go(worker(2, "b")), go(worker(3, "c"))]
        msleep(now() + 100)
        for cr in crs:
            hclose(cr)
        results[name] = (sorted(log), start, now(), dill._hub.get_hub())

    threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0, 1, 2]
    for log, *_ in results.values():
        assert log == ["a"] * 4 + ["b"] * 2 + ["c"] * 3
    hubs = {id(r[3]) for r in results.values()}
    assert len(hubs) == 3 and id(dill._hub.get_hub()) not in hubs
    # they ran side by side: every thread started before any finished
    assert max(r[1] for r in results.values()) <= min(r[2] for r in results.values())


def test_thread_channels_and_deadlock_detection_are_per_thread():
    out = {}

    def thread_main():
        a, b = chmake()
        try:
            chrecv(a)  # nothing in *this* thread can wake it
        except RuntimeError as e:
            out["err"] = str(e)
        cr = go(chsend, b, "t")
        out["val"] = chrecv(a)
        hclose(cr)
        hclose(a)
        hclose(b)

    # the main thread has a sleeping coroutine: it must not count for the thread
    sleeper = go(msleep, now() + 60_000)
    t = threading.Thread(target=thread_main)
    t.start()
    t.join(30)
    hclose(sleeper)
    assert "deadlock" in out["err"]
    assert out["val"] == "t"


def test_plain_thread_code_needs_no_wrapper():
    out = []

    def thread_main():
        msleep(now() + 1)
        dill.yield_()
        cr = go(lambda: 7)
        out.append(cr.wait())
        hclose(cr)

    t = threading.Thread(target=thread_main)
    t.start()
    t.join(30)
    assert out == [7]


@pytest.mark.parametrize("nthreads", [4])
def test_many_threads_with_many_coroutines(nthreads):
    totals = []

    def thread_main():
        a, b = chmake()

        @coroutine
        def producer(i):
            for j in range(100):
                chsend(a, 1)
                if j % 10 == 0:
                    yield_()

        with dill.bundle() as bund:
            for i in range(5):
                bund.go(producer(i))
            totals.append(sum(chrecv(b) for _ in range(500)))
        hclose(a)
        hclose(b)

    threads = [threading.Thread(target=thread_main) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert totals == [500] * nthreads


def test_handle_used_from_another_thread_fails_cleanly():
    # "A handle belongs to the thread that made it": using it from another
    # thread must raise there and leave the owner's scheduler intact.
    owner_ready = threading.Event()
    intruder_done = threading.Event()
    box, out = {}, {}

    def owner():
        a, b = chmake()
        box["a"] = a
        owner_ready.set()
        intruder_done.wait(10)
        # nobody in this thread receives: a non-blocking send must time out
        try:
            chsend(b, "v", 0)
            out["send"] = "returned"
        except dill.TimedOut:
            out["send"] = "timed out"
        cr = go(chsend, b, "w")
        out["recv"] = chrecv(a, 0)
        hclose(cr)
        hclose(a)
        hclose(b)

    def intruder():
        owner_ready.wait(10)
        try:
            chrecv(box["a"], now() + 10)
            out["intruder"] = "returned"
        except Exception as e:
            out["intruder"] = type(e).__name__
        finally:
            intruder_done.set()

    t1 = threading.Thread(target=owner)
    t2 = threading.Thread(target=intruder)
    t1.start()
    t2.start()
    t2.join(10)
    t1.join(10)
    assert out["intruder"] not in ("returned", None)
    assert out["send"] == "timed out"
    assert out["recv"] == "w"
