"""dill.green.subprocess: waits that block only the calling coroutine."""

from __future__ import annotations

import subprocess as stdsubprocess
import sys
import time

import pytest

from dill import Canceled, go, hclose, msleep, now
from dill.green import subprocess


def later(ms):
    return now() + ms


def ticker(counter):
    while True:
        msleep(later(5))
        counter[0] += 1


PY = sys.executable


def test_surface():
    assert issubclass(subprocess.Popen, stdsubprocess.Popen)
    assert subprocess.PIPE == stdsubprocess.PIPE
    assert subprocess.CalledProcessError is stdsubprocess.CalledProcessError
    for name in stdsubprocess.__all__:
        assert hasattr(subprocess, name), name


def test_wait_does_not_block_the_hub():
    ticks = [0]
    t = go(ticker, ticks)
    p = subprocess.Popen(["sleep", "0.15"])
    assert p.wait() == 0
    assert ticks[0] >= 10
    hclose(t)


def test_wait_timeout():
    p = subprocess.Popen(["sleep", "5"])
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        p.wait(timeout=0.05)
    assert time.monotonic() - t0 < 1
    p.kill()
    assert p.wait() == -9


def test_communicate_in_parallel():
    code = "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d[::-1])"

    def one(i):
        p = subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, err = p.communicate(b"%05d" % i * 20000)
        assert out == (b"%05d" % i * 20000)[::-1] and err is None
        return p.returncode

    crs = [go(one, i) for i in range(4)]
    assert [cr.wait() for cr in crs] == [0] * 4


def test_communicate_single_pipe_and_text():
    p = subprocess.Popen(["echo", "hello"], stdout=subprocess.PIPE, text=True)
    assert p.communicate() == ("hello\n", None)
    p = subprocess.Popen(["cat"], stdin=subprocess.PIPE)
    assert p.communicate(b"") == (None, None)


def test_communicate_timeout():
    p = subprocess.Popen(["sleep", "5"], stdout=subprocess.PIPE)
    with pytest.raises(subprocess.TimeoutExpired):
        p.communicate(timeout=0.05)
    p.kill()
    p.communicate()


def test_run_and_helpers():
    r = subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 3"],
                       capture_output=True)
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    assert subprocess.call(["true"]) == 0
    assert subprocess.check_call(["true"]) == 0
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.check_call(["false"])
    assert subprocess.check_output(["cat"], input=b"in") == b"in"
    assert subprocess.getoutput("echo x") == "x"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(["sleep", "5"], timeout=0.05)
    with pytest.raises(FileNotFoundError):
        subprocess.Popen(["/nonexistent/program"])


def test_cancel_in_wait():
    p = subprocess.Popen(["sleep", "5"])
    seen = []

    def waiter():
        try:
            p.wait()
        except Canceled:
            seen.append(True)
            raise

    cr = go(waiter)
    msleep(later(20))
    hclose(cr)
    assert seen == [True] and p.returncode is None
    p.kill()
    assert p.wait() == -9


def test_cancel_in_communicate():
    p = subprocess.Popen(["sleep", "5"], stdout=subprocess.PIPE)
    seen = []

    def communicator():
        try:
            p.communicate()
        except Canceled:
            seen.append("canceled")
            raise
        seen.append("returned")  # pragma: no cover

    cr = go(communicator)
    msleep(later(20))
    hclose(cr)
    assert seen == ["canceled"]
    assert p.poll() is None  # canceling the wait does not touch the child
    p.kill()
    assert p.wait() == -9
    p.stdout.close()


def test_wait_after_reaped_elsewhere():
    p = subprocess.Popen(["true"])
    msleep(later(50))
    assert p.poll() == 0
    assert p.wait() == 0
