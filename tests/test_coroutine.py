"""Launching coroutines: go, @coroutine, yield_, msleep, ordering (libdill go1-go5)."""

import pytest

import dill
from dill import Canceled, coroutine, go, hclose, msleep, now, yield_


# ---------------------------------------------------------------- @coroutine / go

def test_coroutine_call_is_unstarted():
    ran = []

    @coroutine
    def foo(a, b, *, c=0):
        ran.append((a, b, c))
        return a + c

    call = foo(34, "ABC", c=1)
    assert isinstance(call, dill.Call)
    assert ran == []  # calling a @coroutine function runs nothing
    assert "foo" in repr(call)
    cr = go(call)
    assert ran == [(34, "ABC", 1)]
    assert cr.wait() == 35
    hclose(cr)


def test_coroutine_keeps_plain_function_and_metadata():
    @coroutine
    def foo(x):
        """Doc."""
        return x * 2

    assert foo.__name__ == "foo"
    assert foo.__doc__ == "Doc."
    assert foo.func(21) == 42
    assert foo(21)() == 42  # a Call can be run synchronously


def test_coroutine_decorator_rejects_non_callable():
    with pytest.raises(TypeError, match="callable"):
        coroutine(42)


def test_go_plain_callable_with_args_and_kwargs():
    got = []
    cr = go(lambda a, b=0: got.append((a, b)) or "r", 1, b=2)
    assert got == [(1, 2)]
    assert cr.wait() == "r"
    hclose(cr)


def test_go_call_with_extra_arguments_is_rejected():
    @coroutine
    def foo():
        pass

    with pytest.raises(TypeError):
        go(foo(), 1)
    # the runtime still works
    hclose(go(foo()))


@pytest.mark.parametrize("bad", [42, "f", None])
def test_go_rejects_non_callables(bad):
    with pytest.raises(TypeError):
        go(bad)
    hclose(go(lambda: None))


def test_go_returns_coroutine_handle():
    cr = go(lambda: None)
    assert isinstance(cr, dill.Coroutine)
    assert isinstance(cr, dill.Handle)
    assert cr.finished
    assert "finished" in repr(cr)
    hclose(cr)
    assert cr.closed
    assert "closed" in repr(cr)


# --------------------------------------------------------------------- ordering

def test_go_is_eager_and_parent_goes_to_back_of_queue():
    log = []

    @coroutine
    def child(name):
        log.append(f"{name} start")
        yield_()
        log.append(f"{name} after yield")

    log.append("before go")
    c1 = go(child("1"))
    log.append("after go 1")
    c2 = go(child("2"))
    log.append("after go 2")
    yield_()
    log.append("after yield")
    assert log == [
        "before go",
        "1 start",
        "after go 1",
        "2 start",
        "1 after yield",   # child 1 was queued before the parent
        "after go 2",
        "2 after yield",
        "after yield",
    ]
    hclose(c1)
    hclose(c2)


def test_nested_go_runs_grandchild_first():
    log = []

    @coroutine
    def grandchild():
        log.append("gc")

    @coroutine
    def child():
        log.append("c start")
        g = go(grandchild())
        log.append("c after go")
        hclose(g)

    c = go(child())
    # root was queued (by its go) before child (by the child's go): it runs first
    log.append("root")
    assert log == ["c start", "gc", "root"]
    c.wait()
    assert log == ["c start", "gc", "root", "c after go"]
    hclose(c)


def test_yield_runs_every_other_ready_coroutine_once_fifo():
    log = []

    @coroutine
    def worker(name, n):
        for i in range(n):
            log.append((name, i))
            yield_()

    crs = [go(worker(name, 3)) for name in "abc"]
    # libdill's order: go(x) queues the parent at the back and runs x until
    # it yields; the queue rotates FIFO.
    #   go(a): a0          queue [root, a]
    #   go(b): b0          queue [a, root, b] -> a1, queue [root, b, a]
    #   go(c): c0          queue [b, a, root, c] -> b1, a2, then root
    assert log == [("a", 0), ("b", 0), ("a", 1), ("c", 0), ("b", 1), ("a", 2)]
    log.clear()
    yield_()
    # queue was [c, b, a(finishing)] + root: each runs once, in order
    assert log == [("c", 1), ("b", 2)]
    for cr in crs:
        cr.wait()
        hclose(cr)
    assert log == [("c", 1), ("b", 2), ("c", 2)]


def test_go1_sum():
    # libdill tests/go1.c
    total = [0]

    @coroutine
    def worker(count, n):
        for _ in range(count):
            total[0] += n
            assert yield_() is None

    crs = [go(worker(3, 7)), go(worker(1, 11)), go(worker(2, 5))]
    assert msleep(now() + 30) is None
    for cr in crs:
        assert hclose(cr) is None
    assert total[0] == 42


def test_go2_many_sleepers_not_canceled():
    # libdill tests/go2.c
    done = []

    @coroutine
    def dummy():
        msleep(now() + 20)  # must not raise Canceled
        done.append(1)

    crs = [go(dummy()) for _ in range(20)]
    msleep(now() + 40)
    for cr in crs:
        hclose(cr)
    assert len(done) == 20


def test_go3_cancel_is_sticky_and_hclose_waits_for_cleanup():
    # libdill tests/go3.c
    worker_done = [0]

    @coroutine
    def worker():
        with pytest.raises(Canceled):
            msleep(now() + 10_000)
        with pytest.raises(Canceled):
            msleep(now() + 10_000)
        worker_done[0] += 1

    crs = [go(worker()) for _ in range(3)]
    msleep(now() + 10)
    for cr in crs:
        hclose(cr)
    assert worker_done[0] == 3


def test_go4_close_finished_coroutine():
    # libdill tests/go4.c
    cr = go(lambda: None)
    assert cr.finished
    assert hclose(cr) is None
    assert msleep(now() + 5) is None


def test_go5_repeated_launch_and_close():
    # libdill tests/go5.c (without user stacks)
    for _ in range(5):
        log = []

        @coroutine
        def dummy():
            msleep(now() + 5)
            log.append("slept")

        cr = go(dummy())
        msleep(now() + 15)
        hclose(cr)
        assert log == ["slept"]


def test_example_two_empty_workers():
    # libdill tests/example.c
    ran = []
    a = go(lambda: ran.append("a"))
    b = go(lambda: ran.append("b"))
    assert ran == ["a", "b"]  # each ran at once, to its end
    assert a.finished and b.finished
    assert hclose(a) is None and hclose(b) is None
    assert a.closed and b.closed


# ------------------------------------------------------------------- msleep

def test_msleep_returns_at_deadline():
    deadline = now() + 30
    assert msleep(deadline) is None
    t = now()
    assert t >= deadline
    assert t - deadline < 200


def test_msleep_past_and_zero_return_at_once():
    t0 = now()
    msleep(0)
    msleep(t0 - 1000)
    assert now() - t0 < 200


def test_sleep_sort():
    # libdill tests/sleep.c "msleep-sort"
    a, b = dill.chmake()

    @coroutine
    def delay(n):
        msleep(start + n)  # one base: spawning under load must not reorder them
        dill.chsend(a, n)

    start = now() + 50  # every timer is armed before the first one is due
    crs = [go(delay(n)) for n in (30, 40, 10, 20)]
    got = [dill.chrecv(b) for _ in range(4)]
    assert got == [10, 20, 30, 40]
    for cr in crs:
        hclose(cr)
    hclose(a)
    hclose(b)


def test_canceled_delay_sets_flag():
    # libdill tests/sleep.c case 3
    flag = []

    @coroutine
    def canceled_delay(n):
        try:
            msleep(now() + n)
        except Canceled:
            flag.append(1)

    cr = go(canceled_delay(1000))
    msleep(now() + 10)
    hclose(cr)
    assert flag == [1]


# ----------------------------------------------------------------- results

def test_wait_returns_result_and_is_repeatable():
    @coroutine
    def compute():
        msleep(now() + 5)
        return 42

    cr = go(compute())
    assert not cr.finished
    assert "running" in repr(cr)
    assert cr.wait() == 42
    assert cr.finished
    assert cr.wait(0) == 42
    hclose(cr)


def test_wait_timeout_leaves_coroutine_running():
    @coroutine
    def slow():
        msleep(now() + 30)
        return "late"

    cr = go(slow())
    with pytest.raises(dill.TimedOut):
        cr.wait(now() + 5)
    assert not cr.finished
    with pytest.raises(dill.TimedOut):
        cr.wait(0)
    assert cr.wait() == "late"
    hclose(cr)


def test_coroutine_waits_for_sibling():
    @coroutine
    def producer():
        msleep(now() + 5)
        return "p"

    @coroutine
    def consumer(other):
        return other.wait() + "c"

    p = go(producer())
    c = go(consumer(p))
    assert c.wait() == "pc"
    hclose(c)
    hclose(p)


def test_coroutine_cannot_close_its_own_handle():
    box = []
    errors = []

    @coroutine
    def selfish():
        yield_()
        try:
            hclose(box[0])
        except RuntimeError as e:
            errors.append(e)
        return "alive"

    cr = go(selfish())
    box.append(cr)
    assert cr.wait() == "alive"
    assert len(errors) == 1 and "own" in str(errors[0])
    hclose(cr)
    assert cr.closed


def test_root_code_can_call_everything_without_run_wrapper():
    # Plain module-level code (the root task) sleeps, yields and uses channels.
    yield_()
    msleep(now() + 1)
    a, b = dill.chmake(1)
    a.send("x", 0)
    assert b.recv(0) == "x"
    a.close()
    b.close()
    assert isinstance(now(), int)


def test_msleep_requires_a_deadline():
    with pytest.raises(TypeError):
        msleep()


def test_coroutine_cannot_wait_for_itself():
    box, errs = [], []

    @coroutine
    def selfwait():
        yield_()
        try:
            box[0].wait()
        except RuntimeError as e:
            errs.append(e)

    cr = go(selfwait())
    box.append(cr)
    cr.wait()
    hclose(cr)
    assert len(errs) == 1


def test_many_coroutines_interleave_fifo():
    order = []

    @coroutine
    def w(i):
        for k in range(3):
            order.append((k, i))
            yield_()

    crs = [go(w(i)) for i in range(50)]
    for cr in crs:
        cr.wait()
        hclose(cr)
    assert sorted(order) == [(k, i) for k in range(3) for i in range(50)]
    # each coroutine's rounds are in order
    for i in range(50):
        assert [k for (k, j) in order if j == i] == [0, 1, 2]
