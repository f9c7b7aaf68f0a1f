"""Unmodified programs: once on OS threads, once under ``python -m dill.patch``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(60)

HERE = os.path.join(os.path.dirname(__file__), "programs")
HAS_SOCKET = importlib.util.find_spec("dill.green.socket") is not None


def run(*args, patched=False):
    cmd = [sys.executable] + (["-m", "dill.patch"] if patched else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=50)


def same_both_ways(name, *args):
    path = os.path.join(HERE, name)
    plain = run(path, *args)
    green = run(path, *args, patched=True)
    assert plain.returncode == green.returncode, (plain.stderr, green.stderr)
    assert plain.stdout == green.stdout, (plain.stdout, green.stdout, green.stderr)
    assert plain.stdout
    return plain, green


def test_pipeline_queue_condition():
    plain, green = same_both_ways("pipeline.py")
    assert plain.returncode == 0 and "complete True 40" in plain.stdout


def test_thread_pool_executor():
    plain, _ = same_both_ways("executor.py")
    assert plain.returncode == 0 and "counter 25" in plain.stdout


def test_exit_semantics_and_status():
    plain, green = same_both_ways("exit_semantics.py")
    assert plain.returncode == 7
    assert plain.stdout == "main done\nnon-daemon finished\n"


def test_many_threads_same_output():
    same_both_ways("many_threads.py", "200")


def test_ten_thousand_green_threads_one_os_thread():
    t0 = time.monotonic()
    # --no-inspect: the inspection listener would be a second (dill's own) OS thread
    r = run("--no-inspect", os.path.join(HERE, "many_threads.py"), "10000", patched=True)
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stdout == "finished 10000 True\n"
    info = r.stderr.split()
    elapsed, os_threads = float(info[1]), int(info[3])
    assert os_threads == 1
    # Concurrent, not serialized (10,000 s one after another): about a second
    # on a quiet machine; the bound leaves room for a loaded one.
    assert 1.0 <= elapsed < 60, elapsed
    assert wall < 120


@pytest.mark.skipif(not HAS_SOCKET, reason="dill.green.socket is not there yet")
@pytest.mark.parametrize("name", ["socketserver_echo.py", "http_server.py",
                                  "http_urllib.py", "http_requests.py"])
def test_socket_programs(name):
    """200 concurrent clients each way (full scale: run_programs_full.py)."""
    if name == "http_requests.py":
        pytest.importorskip("requests")
    plain, green = same_both_ways(name)
    assert plain.returncode == 0
    assert " 200 " in plain.stdout and "True" in plain.stdout
    assert "peak threads=402 " in green.stderr
