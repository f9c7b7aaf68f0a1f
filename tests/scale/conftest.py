"""Fixtures of the scale-out tests: a gunicorn master, Redis (see ``scale_engines``).

Redis: ``$DILL_TEST_REDIS_URL`` when set (``.ci/run`` starts one), else a
``redis-server`` started for the session on a free port, else the Redis tests
skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import uuid

import pytest
from scale_engines import APPS, Engine, Gunicorn, free_port, wait_until


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "heavy: thousands of clients or tasks, at the issue's sizes")


@pytest.fixture
def gunicorn(tmp_path):
    """``gunicorn(app, *args, workers=2, nofile=None)`` starts a master; all stop at the end."""
    started: list[Gunicorn] = []

    def start(app: str, *args: str, **kw) -> Gunicorn:
        g = Gunicorn(app, tmp_path / f"gunicorn{len(started)}.log", *args, **kw)
        started.append(g)
        return g.ready()

    yield start
    for g in started:
        g.stop()


# ------------------------------------------------------------------ Redis


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A Redis for broker and results: ``$DILL_TEST_REDIS_URL`` or our own redis-server."""
    url = os.environ.get("DILL_TEST_REDIS_URL")
    if url:
        yield url
        return
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("no Redis: redis-server is not installed and DILL_TEST_REDIS_URL "
                    "is not set (apt-get install redis-server, or run .ci/run)")
    port = free_port()
    log = tmp_path_factory.mktemp("redis") / "redis.log"
    server = Engine([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no"], log)
    try:
        wait_until(lambda: _redis_answers(port), 10, "redis-server to answer")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def celery_app(redis_url):
    """``tests/scale/apps/celery_app.py``, talking to the session's Redis."""
    os.environ["DILL_TEST_REDIS_URL"] = redis_url
    sys.path.insert(0, str(APPS))
    import celery_app

    return celery_app


class CeleryWorker(Engine):
    """``celery -A celery_app worker`` on a queue of its own."""

    def __init__(self, log, redis_url: str, pool: str, concurrency: int) -> None:
        self.queue = "q-" + uuid.uuid4().hex
        pool_args = ["-P", "custom"] if pool == "dill" else ["-P", pool]
        super().__init__([sys.executable, "-m", "celery", "-A", "celery_app", "worker",
                          *pool_args, "-c", str(concurrency), "-Q", self.queue,
                          "-n", f"{self.queue}@%h", "-l", "info",
                          "--without-mingle", "--without-gossip"], log,
                         env={"DILL_TEST_REDIS_URL": redis_url,
                              "CELERY_CUSTOM_WORKER_POOL": "dill.celery:TaskPool"})
        wait_until(lambda: self._started(), 60, "the Celery worker to be ready")

    def stop(self) -> None:
        """Kill it: its queue is its own, and a warm shutdown takes seconds."""
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
        super().stop()

    def _started(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"celery exited {self.proc.returncode}:\n{self.log()}")
        return " ready." in self.log()


@pytest.fixture
def celery_worker(tmp_path, redis_url, celery_app):
    """``celery_worker(pool="dill", concurrency=1000)`` starts a worker; all stop at the end."""
    started: list[CeleryWorker] = []

    def start(pool: str = "dill", concurrency: int = 1000) -> CeleryWorker:
        w = CeleryWorker(tmp_path / f"celery{len(started)}.log", redis_url, pool, concurrency)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
