"""The type hints hold: a type checker (mypy) accepts the examples and typed
user code, and catches a wrong call (``py.typed`` is part of the package)."""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [pytest.mark.timeout(180)]

pytest.importorskip("mypy")


def _mypy(tmp_path, *args):
    """mypy's verdict on ``args``, resolving ``dill`` to this checkout; errors
    inside dill itself are not reported (the stdlib-internal parts of
    ``dill.green`` are beyond typeshed), only those of the code checked."""
    p = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
         "--cache-dir", str(tmp_path / "cache"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=170)
    return p.returncode, p.stdout + p.stderr


def test_the_examples_type_check(tmp_path):
    rc, out = _mypy(tmp_path, "examples")
    assert rc == 0, out


USER_CODE = """
from dill import Coroutine, bundle, chmake, chrecv, chsend, go, hclose, now
from dill.net import (TcpSocket, ipaddr_local, tcp_close, tcp_connect,
                      ws_attach_client, ws_detach, ws_recv, ws_send)

def worker(n: int) -> int:
    return n * 2

cr: Coroutine = go(worker, 21)
answer: int = cr.wait(now() + 1000)
hclose(cr)
a, b = chmake()
with bundle() as g:
    g.go(chsend, a, 1)
    chrecv(b, -1)

def fetch() -> None:
    s = tcp_connect(ipaddr_local("127.0.0.1", 80))
    ws = ws_attach_client(s, "/", "localhost")
    ws_send(ws, b"hi")
    ws_recv(ws)
    raw: TcpSocket = ws_detach(ws)  # the layer gives back what it wrapped
    tcp_close(raw)
"""


def test_typed_user_code_passes_strict(tmp_path):
    f = tmp_path / "user.py"
    f.write_text(textwrap.dedent(USER_CODE))
    rc, out = _mypy(tmp_path, "--strict", str(f))
    assert rc == 0, out


def test_a_wrong_call_is_caught(tmp_path):
    """The checker sees through the layer: an IPC socket detached from its
    WebSocket layer is not a TCP socket (so the test above can fail)."""
    f = tmp_path / "wrong.py"
    f.write_text(textwrap.dedent("""
        from dill.net import ipc_connect, tcp_close, ws_attach_client, ws_detach

        def close_it() -> None:
            ws = ws_attach_client(ipc_connect("/tmp/x"), "/", "localhost")
            tcp_close(ws_detach(ws))
        """))
    rc, out = _mypy(tmp_path, "--strict", str(f))
    assert rc == 1 and 'incompatible type "IpcSocket"' in out, out
