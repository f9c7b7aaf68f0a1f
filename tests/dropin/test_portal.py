"""Portal: other OS threads run code as coroutines in this thread's hub."""

import sys
import threading
import time

import pytest

import dill
from dill import BadHandle, Canceled, coroutine, go, hclose, msleep, now
from dill._hub import get_hub
from dill._threads import Portal, to_thread

pytestmark = pytest.mark.timeout(10)


def in_thread(fn, *args):
    """Run fn(*args) in a new OS thread; return (thread, outcome list)."""
    out = []

    def main():
        try:
            out.append(("ok", fn(*args)))
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            out.append(("err", e))

    t = threading.Thread(target=main)
    t.start()
    return t, out


def test_plain_callable_runs_in_the_hub_thread():
    hub_thread = threading.get_ident()
    with Portal() as p:
        t, out = in_thread(p.call, lambda a, b: (a + b, threading.get_ident()), 1, 2)
        to_thread(t.join)
    assert out == [("ok", (3, hub_thread))]


def test_coroutine_call_runs_as_a_coroutine():
    @coroutine
    def slow_double(x):
        msleep(now() + 5)  # a coroutine may block: the hub goes on
        return 2 * x

    with Portal() as p:
        t, out = in_thread(p.call, slow_double(21))
        to_thread(t.join)
        t2, out2 = in_thread(p.call, slow_double, 4)  # go(foo, *args) style
        to_thread(t2.join)
    assert out == [("ok", 42)]
    assert out2 == [("ok", 8)]


def test_exception_is_raised_in_the_calling_thread():
    def boom():
        raise KeyError("remote")

    with Portal() as p:
        t, out = in_thread(p.call, boom)
        to_thread(t.join)
    kind, exc = out[0]
    assert kind == "err" and isinstance(exc, KeyError)


def test_four_threads_times_100_calls():
    counter = [0]

    def bump(k):
        counter[0] += 1  # runs in the hub thread: no lock needed
        return k

    def worker(p, base):
        return [p.call(bump, base + i) for i in range(100)]

    with Portal() as p:
        started = [in_thread(worker, p, 1000 * n) for n in range(4)]
        for t, _ in started:
            to_thread(t.join)
    assert counter[0] == 400
    for n, (_, out) in enumerate(started):
        assert out == [("ok", [1000 * n + i for i in range(100)])]


def test_calls_run_concurrently_with_the_hubs_coroutines():
    ticks = []

    def ticker():
        while True:
            msleep(now() + 2)
            ticks.append(1)

    with Portal() as p, dill.bundle() as b:
        b.go(ticker)
        t, out = in_thread(p.call, lambda: msleep(now() + 30) or len(ticks))
        to_thread(t.join)
    assert out[0][0] == "ok" and out[0][1] >= 3


def test_call_from_the_hub_thread_raises_runtime_error():
    with Portal() as p:
        with pytest.raises(RuntimeError, match="deadlock"):
            p.call(lambda: 1)

        def inside():
            p.call(lambda: 1)

        cr = go(inside)
        with pytest.raises(RuntimeError):
            cr.wait()


def test_closed_mid_call_raises_canceled_in_the_calling_thread():
    entered = threading.Event()

    def forever():
        entered.set()
        msleep(-1)

    p = Portal()
    t, out = in_thread(p.call, forever)
    to_thread(entered.wait, 5)
    hclose(p)
    to_thread(t.join)
    kind, exc = out[0]
    assert kind == "err" and isinstance(exc, Canceled)


def test_queued_calls_are_canceled_on_close():
    # Calls queued but not yet dispatched when the portal closes get Canceled.
    p = Portal()
    t, out = in_thread(p.call, lambda: "never")
    # Hold the hub (no dill call) until the request sits in the queue.
    deadline = time.monotonic() + 2
    while not p._requests and time.monotonic() < deadline:
        time.sleep(0.001)
    hclose(p)
    to_thread(t.join)
    kind, exc = out[0]
    assert kind == "err" and isinstance(exc, Canceled)


def test_call_after_close_raises_bad_handle():
    p = Portal()
    hclose(p)
    hclose(p)  # twice: a no-op
    t, out = in_thread(p.call, lambda: 1)
    t.join(5)
    kind, exc = out[0]
    assert kind == "err" and isinstance(exc, BadHandle)
    with pytest.raises(BadHandle):
        p.serve(0)


def test_serve_until_deadline_and_stop():
    with Portal() as p:
        t0 = now()
        p.serve(now() + 20)  # returns at its deadline, like msleep
        assert now() - t0 >= 19

        def client():
            r = p.call(lambda: "served")
            p.stop()
            return r

        t, out = in_thread(client)
        p.serve()  # until stop()
        t.join(5)
        assert out == [("ok", "served")]
        p.serve()  # stop() is sticky
        p.serve(0)


def test_serve_returns_when_closed():
    p = Portal()

    def closer():
        msleep(now() + 10)
        hclose(p)

    cr = go(closer)
    p.serve()
    assert p.closed
    hclose(cr)


def test_idle_portal_costs_nothing():
    hub = get_hub()
    with Portal() as p:
        # No syscall per scheduler pass and no coroutine in the ready queue.
        assert hub.nregistered == 0
        yield_count = 0
        for _ in range(100):
            dill.yield_()
            yield_count += 1
        assert not hub.ready
        assert p._dispatcher.waiting  # parked
        # An open portal is something another thread can wake us for:
        # the root may sleep without a deadlock report.
        p.serve(now() + 5)
    assert hub.remote_waits == 0


def test_deadlock_detection_returns_after_close():
    with Portal():
        pass
    a, b = dill.chmake()
    with pytest.raises(RuntimeError, match="deadlock"):
        a.recv()
    hclose(a)
    hclose(b)


def test_close_from_wrong_thread_raises():
    with Portal() as p:
        t, out = in_thread(p.close)
        to_thread(t.join)
        assert out[0][0] == "err" and isinstance(out[0][1], RuntimeError)
        assert not p.closed


def test_portal_serves_while_root_waits_on_a_channel():
    a, b = dill.chmake(1)
    with Portal() as p:
        t, _ = in_thread(p.call, a.send, "from thread")
        assert b.recv() == "from thread"
        to_thread(t.join)
    hclose(a)
    hclose(b)


def test_non_callable_rejected():
    with Portal() as p:
        t, out = in_thread(p.call, 42)
        to_thread(t.join)
    assert isinstance(out[0][1], TypeError)


def test_caller_coroutine_in_another_hub_is_canceled(monkeypatch):
    # From a coroutine of another hub only that coroutine waits; canceling it
    # cancels the call in the portal's hub.
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    entered = threading.Event()
    remote_done = threading.Event()

    def remote():
        entered.set()
        try:
            msleep(-1)
        finally:
            remote_done.set()

    def other_thread(p):
        result = {}

        def caller():
            try:
                p.call(remote)
            except Canceled:
                result["caller"] = "canceled"
                raise

        def bystander():
            msleep(now() + 20)
            result["bystander"] = "ran"

        with dill.bundle() as b:
            b.go(caller)
            b.go(bystander)
            msleep(now() + 40)  # the bystander ran while caller waited
            assert entered.wait(2)
        result["remote_done"] = remote_done.wait(2)
        return result

    with Portal() as p:
        t, out = in_thread(other_thread, p)
        to_thread(t.join)
    assert out == [("ok", {"caller": "canceled", "bystander": "ran", "remote_done": True})]
    assert seen == []
