"""dill's Celery pool against a real worker, a real Redis broker and result backend."""

import os
import signal
import time

import pytest
from scale_engines import wait_until

pytestmark = pytest.mark.timeout(90)


def _wait_results(celery_app, ids, seconds):
    """The result metadata of every task, once all are stored."""
    got = wait_until(lambda: (lambda r: r if all(r) else None)(celery_app.results(ids)),
                     seconds, f"{len(ids)} task results", interval=0.2)
    return got


@pytest.mark.heavy
@pytest.mark.timeout(180)
def test_ten_thousand_sleeping_tasks_run_concurrently(celery_worker, celery_app):
    """10,000 tasks sleeping 100 ms with ``-c 1000``: correct results, far faster
    than serially (about 15 s here; 1,000 s one after another)."""
    n = 10_000
    worker = celery_worker(concurrency=1000)
    t0 = time.monotonic()
    ids = celery_app.enqueue_many(celery_app.nap, [(i, 0.1) for i in range(n)], worker.queue)
    metas = _wait_results(celery_app, ids, seconds=150)
    took = time.monotonic() - t0
    assert [m["status"] for m in metas] == ["SUCCESS"] * n
    assert [m["result"] for m in metas] == [2 * i for i in range(n)]
    assert took < n * 0.1 / 4, took           # serially: n * 0.1 s


def _started(marker):
    wait_until(lambda: os.path.exists(marker + ".started"), 20, "the task to start")


def test_revoke_with_terminate_cancels_the_running_task(celery_worker, celery_app, tmp_path):
    worker = celery_worker()
    marker = str(tmp_path / "revoked")
    res = celery_app.watched.apply_async((marker, 30), queue=worker.queue)
    _started(marker)
    res.revoke(terminate=True)
    wait_until(lambda: os.path.exists(marker + ".finally"), 10, "the task's finally block")
    assert not os.path.exists(marker + ".done")
    wait_until(lambda: res.state == "REVOKED", 10, "the REVOKED state")
    # The worker goes on serving.
    assert celery_app.nap.apply_async((21, 0), queue=worker.queue).get(timeout=10) == 42


@pytest.mark.parametrize("task, error", [("soft_limited", "SoftTimeLimitExceeded"),
                                         ("hard_limited", "TimeLimitExceeded")])
def test_time_limits_cancel_the_task(celery_worker, celery_app, tmp_path, task, error):
    worker = celery_worker()
    marker = str(tmp_path / task)
    t0 = time.monotonic()
    res = getattr(celery_app, task).apply_async((marker, 30), queue=worker.queue)
    with pytest.raises(Exception) as info:
        res.get(timeout=20)
    assert type(info.value).__name__ == error
    assert time.monotonic() - t0 < 10         # the 0.3 s limit, not the 30 s sleep
    assert os.path.exists(marker + ".finally") and not os.path.exists(marker + ".done")


def test_warm_shutdown_waits_for_running_tasks(celery_worker, celery_app, tmp_path):
    worker = celery_worker()
    marker = str(tmp_path / "warm")
    res = celery_app.watched.apply_async((marker, 1.5), queue=worker.queue)
    _started(marker)
    t0 = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert time.monotonic() - t0 >= 1.0       # it waited for the task ...
    assert os.path.exists(marker + ".done")   # ... which finished normally
    assert res.get(timeout=10) == "done"


def test_cold_shutdown_cancels_running_tasks(celery_worker, celery_app, tmp_path):
    worker = celery_worker()
    marker = str(tmp_path / "cold")
    celery_app.watched.apply_async((marker, 30), queue=worker.queue)
    _started(marker)
    worker.signal(signal.SIGQUIT)             # Celery's cold shutdown
    assert worker.wait(20) is not None
    assert os.path.exists(marker + ".finally") and not os.path.exists(marker + ".done")
