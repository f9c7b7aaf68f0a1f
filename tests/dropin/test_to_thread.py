"""to_thread: a blocking call in the bounded worker pool; only the caller waits."""

import contextvars
import sys
import threading
import time

import pytest

import dill
from dill import Canceled, TimedOut, go, hclose, msleep, now
from dill._hub import get_hub
from dill._threads import own_thread_idents, set_max_workers, to_thread, worker_idents

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def unraisable(monkeypatch):
    """Collect what reaches sys.unraisablehook (from any thread)."""
    class Seen(list):
        pass

    seen = Seen()
    got = threading.Event()

    def hook(u):
        seen.append(u)
        got.set()

    monkeypatch.setattr(sys, "unraisablehook", hook)
    seen.event = got
    return seen


def settle(hub, timeout=2.0):
    """Let the hub run callbacks owed by workers until none is owed."""
    end = time.monotonic() + timeout
    while hub.remote_waits and time.monotonic() < end:
        msleep(now() + 1)
    assert hub.remote_waits == 0


# ---------------------------------------------------------------- basics


def test_root_code_gets_result():
    assert to_thread(lambda a, b: a + b, 2, 3) == 5
    assert to_thread(dict, a=1) == {"a": 1}  # keywords go to fn


def test_runs_in_a_pool_thread():
    ident = to_thread(threading.get_ident)
    assert ident != threading.get_ident()
    assert ident in worker_idents()
    assert ident in own_thread_idents()


def test_exception_propagates_with_traceback():
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError) as info:
        to_thread(boom)
    assert info.traceback[-1].name == "boom"


def test_context_variables_are_copied():
    var = contextvars.ContextVar("var", default="unset")
    var.set("caller")
    assert to_thread(var.get) == "caller"


def test_bad_arguments():
    with pytest.raises(TypeError):
        to_thread(42)
    with pytest.raises(TypeError):
        to_thread(len, "x", deadline="soon")


def test_only_the_calling_coroutine_waits():
    ticks = []

    def ticker():
        for i in range(5):
            msleep(now() + 10)
            ticks.append(i)

    cr = go(ticker)
    to_thread(time.sleep, 0.15)  # the root blocks in a thread; the ticker runs
    assert ticks == [0, 1, 2, 3, 4]
    hclose(cr)


def test_many_coroutines_wait_concurrently():
    with dill.bundle() as b:
        t0 = time.monotonic()
        for _ in range(4):
            b.go(to_thread, time.sleep, 0.1)
        b.wait()
        assert time.monotonic() - t0 < 0.35


# -------------------------------------------------------------- deadlines


@pytest.mark.parametrize("deadline", [-1, None])
def test_no_deadline(deadline):
    assert to_thread(lambda: "ok", deadline=deadline) == "ok"


@pytest.mark.parametrize("when", ["zero", "past"])
def test_passed_deadline_does_not_start_fn(when):
    ran = []
    deadline = 0 if when == "zero" else now() - 5
    with pytest.raises(TimedOut):
        to_thread(ran.append, 1, deadline=deadline)
    time.sleep(0.02)
    assert ran == []


def test_future_deadline_met():
    assert to_thread(lambda: 7, deadline=now() + 1000) == 7


def test_future_deadline_expires_at_once(unraisable):
    release = threading.Event()
    done = threading.Event()

    def slow():
        release.wait(5)
        done.set()
        return "dropped"

    t0 = now()
    with pytest.raises(TimedOut):
        to_thread(slow, deadline=now() + 30)
    assert now() - t0 < 500
    release.set()
    assert done.wait(2)
    settle(get_hub())
    assert unraisable == []  # a dropped result is not an error


# ------------------------------------------------------------ cancellation


def test_cancel_while_waiting_raises_at_once():
    release = threading.Event()
    outcome = []

    def caller():
        try:
            to_thread(release.wait, 5)
        except Canceled:
            outcome.append("canceled")
            raise

    cr = go(caller)
    msleep(now() + 20)
    t0 = now()
    hclose(cr)
    assert now() - t0 < 500
    assert outcome == ["canceled"]
    release.set()
    settle(get_hub())


def test_canceled_caller_does_not_start_fn():
    ran = []

    def caller():
        try:
            msleep(-1)
        finally:
            try:
                to_thread(ran.append, 1)
            except Canceled:
                ran.append("canceled")

    cr = go(caller)
    hclose(cr)
    time.sleep(0.02)
    assert ran == ["canceled"]


def test_exception_after_caller_gave_up_is_reported(unraisable):
    release = threading.Event()

    def fails_late():
        release.wait(5)
        raise ValueError("late failure")

    with pytest.raises(TimedOut):
        to_thread(fails_late, deadline=now() + 20)
    release.set()
    assert unraisable.event.wait(2)
    (u,) = unraisable
    assert isinstance(u.exc_value, ValueError)
    assert "gave up" in u.err_msg
    settle(get_hub())


def test_exception_that_arrived_while_cancel_was_pending_is_reported(unraisable):
    # The worker finishes (and queues its result) while another coroutine holds
    # the hub; that coroutine then cancels the caller: the failure is reported.
    finished = threading.Event()

    def fails_fast():
        try:
            raise ValueError("raced")
        finally:
            finished.set()

    def caller():
        to_thread(fails_fast)

    cr = go(caller)
    assert finished.wait(2)
    time.sleep(0.05)  # hold the hub: the result is now queued for it
    hclose(cr)
    settle(get_hub())
    assert unraisable.event.wait(2)
    assert isinstance(unraisable[0].exc_value, ValueError)


def test_calls_keep_working_after_give_ups():
    for _ in range(3):
        assert to_thread(int, "5") == 5
    settle(get_hub())


# ---------------------------------------------------------------- the pool


def test_pool_bound_is_respected():
    old = set_max_workers(4)
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def job():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        return 1

    try:
        results = []
        with dill.bundle() as b:
            for _ in range(40):
                b.go(lambda: results.append(to_thread(job)))
            b.wait()
        assert sum(results) == 40  # calls beyond the bound queued, none lost
        assert 2 <= peak[0] <= 4
        assert len(worker_idents()) <= 4 + 4  # shrinking is lazy for busy ones
    finally:
        set_max_workers(old)


def test_set_max_workers_validates():
    with pytest.raises(ValueError):
        set_max_workers(0)
    with pytest.raises(TypeError):
        set_max_workers(2.5)
    old = set_max_workers(None)
    assert set_max_workers(old) >= 1


def test_from_several_hubs_at_once():
    out = []

    def thread_main(k):
        out.append(to_thread(lambda: k * 10))

    threads = [threading.Thread(target=thread_main, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(out) == [0, 10, 20, 30, 40, 50]


# ------------------------------------------------------- the hub stays cheap


def test_hub_pays_nothing_after_use():
    hub = get_hub()
    to_thread(lambda: None)
    settle(hub)
    # the wake-up pipe is watched only while the hub sleeps: no poll per pass
    assert hub.nregistered == 0


def test_deadlock_is_still_detected_after_use():
    to_thread(lambda: None)
    settle(get_hub())
    a, b = dill.chmake()
    with pytest.raises(RuntimeError, match="deadlock"):
        a.recv()
    hclose(a)
    hclose(b)
