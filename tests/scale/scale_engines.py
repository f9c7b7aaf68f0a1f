"""Helpers of the scale-out tests: engines run as real processes, HTTP probes.

Every engine runs as its own process group (started and stopped here by its
own pid), listening on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

APPS = Path(__file__).parent / "apps"
REPO = Path(__file__).parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, seconds: float, what: str, interval: float = 0.05):
    """Poll ``check()`` until it returns something true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(interval)


def http_get(port: int, path: str = "/", timeout: float = 10.0) -> tuple[int, bytes]:
    """One GET on a fresh connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


class Engine:
    """A process group we started: its log, its pid, stopping it for sure."""

    def __init__(self, cmd: list[str], log: Path, env: dict | None = None,
                 nofile: int | None = None, cwd: Path = APPS) -> None:
        self.log_path = log
        self._log = open(log, "wb")

        def limit_fds() -> None:
            if nofile is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})},
                                     start_new_session=True, preexec_fn=limit_fds)
        self.pid = self.proc.pid

    def log(self) -> str:
        """Everything the engine printed so far."""
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the engine's main process."""
        os.kill(self.pid, sig)

    def wait(self, seconds: float) -> int:
        """Its exit status, waiting at most ``seconds``."""
        return self.proc.wait(timeout=seconds)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole group if it lingers."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the group we made: stray workers too
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self._log.close()


class Gunicorn(Engine):
    """A gunicorn master serving ``app`` from ``tests/scale/apps`` on a free port."""

    def __init__(self, app: str, log: Path, *args: str, workers: int = 2,
                 worker: str = "dill.gunicorn.Worker", nofile: int | None = None) -> None:
        self.port = free_port()
        self.workers = workers
        super().__init__([sys.executable, "-m", "gunicorn", "-k", worker, "-w", str(workers),
                          "-b", f"127.0.0.1:{self.port}", "--no-control-socket",
                          *args, app], log, nofile=nofile)

    def ready(self, seconds: float = 30.0) -> "Gunicorn":
        """Wait until every worker has answered a request (so has its signal handlers:
        before that a worker ignores SIGTERM, as gunicorn's own workers do)."""
        answered: set[int] = set()

        def booted() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited {self.proc.returncode}:\n{self.log()}")
            try:
                answered.add(int(http_get(self.port, "/", timeout=2)[1]))
            except (OSError, http.client.HTTPException):   # e.g. a worker cut mid-answer
                return False
            pids = set(self.worker_pids())
            return len(pids) == self.workers and pids <= answered
        wait_until(booted, seconds, "every gunicorn worker to answer", interval=0.01)
        return self

    def worker_pids(self) -> list[int]:
        """The master's live worker processes."""
        return children(self.pid)


def loadgen(port: int, clients: int, path: str, requests: int = 1,
            max_seconds: float = 30.0) -> dict:
    """Run ``bench.scale_loadgen`` in its own process; its JSON result."""
    out = subprocess.run([sys.executable, "-m", "bench.scale_loadgen", str(port),
                          "--clients", str(clients), "--requests", str(requests),
                          "--path", path, "--max-seconds", str(max_seconds)],
                         cwd=REPO, capture_output=True, text=True, timeout=max_seconds + 60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def many_clients(port: int, n: int, payload: bytes, expect: bytes,
                 seconds: float = 30.0) -> list:
    """``n`` concurrent connections, each sending ``payload`` and reading until the
    reply contains ``expect`` (or EOF); the replies, an exception in place of a failure."""
    import asyncio
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, n + 200):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(payload)
            buf = b""
            while expect not in buf:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buf += chunk
            return buf
        finally:
            writer.close()

    async def all_of_them() -> list:
        return await asyncio.wait_for(
            asyncio.gather(*(one() for _ in range(n)), return_exceptions=True), seconds)

    return asyncio.run(all_of_them())
