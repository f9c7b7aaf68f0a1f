"""Servers that run out of file descriptors back off and keep serving."""

import sys
from pathlib import Path

import pytest
from scale_engines import Engine, free_port, http_get, many_clients, wait_until

pytestmark = pytest.mark.timeout(90)

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_gunicorn_worker_backs_off_on_emfile_and_serves_everyone(gunicorn):
    """``ulimit -n 256``, 1,000 clients at once: EMFILE, back-off, all answered."""
    # gunicorn's async workers read even a connection's first request under the
    # keep-alive timeout (2 s): on a loaded machine 1,000 asyncio clients may
    # write theirs later than that after connecting, and are closed unanswered.
    g = gunicorn("wsgi_app:app", "--worker-connections", "1000", "--keep-alive", "60",
                 nofile=256)
    request = b"GET /sleep?0.2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    replies = many_clients(g.port, 1000, request, b"\n\n", seconds=60)
    failed = [r for r in replies if isinstance(r, Exception) or not r.startswith(b"HTTP/1.1 200")]
    assert not failed, failed[:3]
    assert "backing off" in g.log()              # it did run out of fds
    assert "serving again" in g.log()
    assert http_get(g.port, "/")[0] == 200       # and serves normally afterwards
    assert len(g.worker_pids()) == 2             # no worker died on the way


def test_echo_server_example_survives_emfile(tmp_path):
    """``examples/echo_server.py`` under ``ulimit -n 128`` with 300 clients at once."""
    port = free_port()
    server = Engine([sys.executable, str(EXAMPLES / "echo_server.py"), "--port", str(port),
                     "--seconds", "60", "--grace", "200"], tmp_path / "echo.log",
                    nofile=128, cwd=EXAMPLES)
    try:
        wait_until(lambda: "listening" in server.log(), 20, "the echo server to listen")
        replies = many_clients(port, 300, b"ping!", b"ping!", seconds=20)
        assert replies.count(b"ping!") == 300, [r for r in replies if r != b"ping!"][:3]
        assert "backing off" in server.log()
        assert many_clients(port, 1, b"again", b"again") == [b"again"]
        assert server.proc.poll() is None        # still serving
    finally:
        server.stop()
