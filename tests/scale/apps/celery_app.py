"""The Celery app the scale tests and ``bench/scale.py`` run: the broker and the result
backend are the Redis at ``$DILL_TEST_REDIS_URL``."""

import os
import time

from celery import Celery

URL = os.environ.get("DILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("celery_app", broker=URL, backend=URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=4,
    worker_hijack_root_logger=False,
    task_acks_late=False,
    result_expires=600,
    # One backend (one Redis connection pool) for the process: without it every
    # green task, having its own threading.local, opens a connection of its own.
    result_backend_thread_safe=True,
)


@app.task
def nap(x, seconds):
    """Sleep, then return twice ``x``."""
    time.sleep(seconds)
    return 2 * x


def _mark(path):
    with open(path, "w") as f:  # plain file I/O: works in a canceled coroutine
        f.write(str(os.getpid()))


@app.task
def watched(marker, seconds):
    """Mark start, sleep, mark done; the ``finally`` marks that cleanup ran."""
    _mark(marker + ".started")
    try:
        time.sleep(seconds)
        _mark(marker + ".done")
        return "done"
    finally:
        _mark(marker + ".finally")


@app.task(soft_time_limit=0.3)
def soft_limited(marker, seconds):
    """``watched`` under a 0.3 s soft time limit."""
    return watched(marker, seconds)


@app.task(time_limit=0.3)
def hard_limited(marker, seconds):
    """``watched`` under a 0.3 s hard time limit."""
    return watched(marker, seconds)


def enqueue_many(task, arglists, queue):
    """Queue ``task(*args)`` for each of ``arglists`` on ``queue``; the task ids.

    The messages are exactly those ``apply_async`` sends (one is sent that way
    and used as the template), pushed through one Redis pipeline: a publisher
    in the same process would take longer than the workers being measured.
    """
    import base64
    import json
    import uuid

    scratch = "template-" + uuid.uuid4().hex
    task.apply_async(arglists[0], queue=scratch)
    client = app.backend.client
    template = json.loads(client.rpop(scratch))
    body = json.loads(base64.b64decode(template["body"]))
    template["properties"]["delivery_info"]["routing_key"] = queue
    ids = []
    pipe = client.pipeline(transaction=False)
    for args in arglists:
        tid = uuid.uuid4().hex
        ids.append(tid)
        msg = {**template, "headers": {**template["headers"], "id": tid, "root_id": tid,
                                        "argsrepr": repr(tuple(args))},
               "properties": {**template["properties"], "correlation_id": tid,
                              "delivery_tag": uuid.uuid4().hex},
               "body": base64.b64encode(json.dumps([list(args)] + body[1:]).encode()).decode()}
        pipe.lpush(queue, json.dumps(msg))
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    return ids


def results(ids):
    """The stored result metadata (a dict, or None while pending) of each task id."""
    import json

    keys = [app.backend.get_key_for_task(tid) for tid in ids]
    raw = []
    for start in range(0, len(keys), 5000):
        raw += app.backend.client.mget(keys[start:start + 5000])
    return [json.loads(r) if r else None for r in raw]
