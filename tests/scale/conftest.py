"""Fixtures of the scale-out tests: a gunicorn master, Redis (see ``scale_engines``).

Redis: ``$DILL_TEST_REDIS_URL`` when set (``.ci/run`` starts one), else a
``redis-server`` started for the session on a free port, else the Redis tests
skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest
from scale_engines import Engine, Gunicorn, free_port, wait_until


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
