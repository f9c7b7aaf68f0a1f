"""The socket examples run standalone, serve their demo clients and shut down cleanly."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


@pytest.mark.parametrize("name, args, last", [
    ("http_server.py", ["--seconds", "0.5", "--grace", "0.3"], "served 4 requests"),
    ("ws_echo.py", ["--seconds", "0.5", "--grace", "0.3"], "bye"),
    ("chat_server.py", ["--seconds", "0.5", "--grace", "0.3"], "bye"),
    ("socks5_proxy.py", ["--seconds", "0.5", "--grace", "0.3"], "bye"),
    ("echo_server.py", ["--port", "0", "--seconds", "0.3", "--grace", "200"], "bye"),
])
def test_server_example(name, args, last):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "shutting down" in p.stdout or "broadcasting shutdown" in p.stdout
    assert last in p.stdout.rstrip().splitlines()[-1]
