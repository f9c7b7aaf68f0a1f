"""dill.green.queue, without patching."""

from __future__ import annotations

import queue as real_queue
import sys
import time as real_time

import pytest

from dill import Canceled, go, hclose, msleep
from dill.green import queue as gq
from dill.green import time as gtime

pytestmark = pytest.mark.timeout(60)

ALL = [gq.Queue, gq.LifoQueue, gq.PriorityQueue, gq.SimpleQueue]


def canceled_at(fn):
    out = []

    def body():
        try:
            out.append(fn())
        except Canceled:
            out.append("canceled")

    h = go(body)
    gtime.sleep(0.005)
    hclose(h)
    return out


def test_surface_and_exceptions_are_stdlib():
    assert gq.Empty is real_queue.Empty and gq.Full is real_queue.Full
    for name in real_queue.__all__:
        assert hasattr(gq, name)
    if hasattr(real_queue, "ShutDown"):  # pragma: no cover - 3.13+
        assert gq.ShutDown is real_queue.ShutDown


@pytest.mark.parametrize("cls", ALL)
def test_order(cls):
    q = cls()
    for v in (3, 1, 2):
        q.put(v)
    assert q.qsize() == 3 and not q.empty()
    got = [q.get() for _ in range(3)]
    expect = {gq.Queue: [3, 1, 2], gq.SimpleQueue: [3, 1, 2], gq.LifoQueue: [2, 1, 3],
              gq.PriorityQueue: [1, 2, 3]}[cls]
    assert got == expect and q.empty()


@pytest.mark.parametrize("cls", ALL)
def test_get_blocks_only_caller(cls):
    q = cls()
    got = []
    h = go(lambda: got.append(q.get()))
    assert got == []
    q.put("x")
    h.wait()
    assert got == ["x"]


@pytest.mark.parametrize("cls", ALL)
def test_get_timeouts(cls):
    q = cls()
    with pytest.raises(gq.Empty):
        q.get(False)
    with pytest.raises(gq.Empty):
        q.get_nowait()
    with pytest.raises(gq.Empty):
        q.get(timeout=0)
    t0 = real_time.monotonic()
    with pytest.raises(gq.Empty):
        q.get(timeout=0.01)
    assert real_time.monotonic() - t0 >= 0.01
    with pytest.raises(gq.Empty):
        q.get(timeout=0.0001)
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    with pytest.raises(TypeError):
        q.get(timeout="1")


@pytest.mark.parametrize("cls", ALL)
def test_get_canceled(cls):
    q = cls()
    assert canceled_at(q.get) == ["canceled"]
    q.put(1)
    # the queue still works, nothing was lost
    assert q.get(False) == 1

    res = []

    def body():
        try:
            msleep(-1)
        except Canceled:
            res.append(q.get())  # an item is there: succeeds though canceled
            try:
                q.get()
            except Canceled:
                res.append("canceled")

    q.put(5)
    h = go(body)
    hclose(h)
    assert res == [5, "canceled"]


def test_bounded_put_full_and_canceled():
    q = gq.Queue(1)
    q.put(1)
    assert q.full()
    with pytest.raises(gq.Full):
        q.put(2, False)
    with pytest.raises(gq.Full):
        q.put_nowait(2)
    with pytest.raises(gq.Full):
        q.put(2, timeout=0.002)
    with pytest.raises(ValueError):
        q.put(2, timeout=-1)
    assert canceled_at(lambda: q.put(2)) == ["canceled"]
    h = go(q.put, 3)
    assert q.get() == 1
    h.wait()
    assert q.get() == 3 and q.empty()


def test_join_task_done_and_canceled_join():
    q = gq.Queue()
    done = []

    def worker():
        while True:
            item = q.get()
            gtime.sleep(0.001)
            done.append(item)
            q.task_done()

    h = go(worker)
    for i in range(5):
        q.put(i)
    q.join()
    assert done == list(range(5))
    q.put(99)
    hclose(h)  # worker canceled holding the item: join would wait forever
    assert canceled_at(q.join) == ["canceled"]
    with pytest.raises(ValueError):
        q.task_done()
        q.task_done()


def test_subclass_hooks_work():
    class Q(gq.Queue):
        def _put(self, item):
            super()._put(item * 2)

    q = Q()
    q.put(2)
    assert q.get() == 4
    assert gq.Queue[int] is not None and gq.SimpleQueue[int] is not None


def test_simplequeue_put_never_blocks_and_many_waiters():
    q = gq.SimpleQueue()
    got = []
    hs = [go(lambda: got.append(q.get(timeout=1))) for _ in range(5)]
    for i in range(5):
        q.put_nowait(i)
    for h in hs:
        h.wait()
    assert sorted(got) == list(range(5))


def test_producer_consumer_pipeline():
    q1, q2 = gq.Queue(3), gq.Queue(3)
    out = []

    def stage1():
        for i in range(50):
            q1.put(i)
        q1.put(None)

    def stage2():
        while (v := q1.get()) is not None:
            q2.put(v * v)
        q2.put(None)

    def sink():
        while (v := q2.get()) is not None:
            out.append(v)

    hs = [go(f) for f in (sink, stage2, stage1)]
    for h in hs:
        h.wait()
    assert out == [i * i for i in range(50)]
