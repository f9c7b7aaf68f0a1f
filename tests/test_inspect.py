"""``python -m dill.tree PID``: the trees of a running process, read from outside.

Every test runs real processes: a child that opted in (or not), and the
``python -m dill.tree`` command against it.  Each dump must come fast (the
contract says 2 s; the bound asserted here is generous for a loaded machine,
the measured time is printed) and leave the child unharmed: it goes on and
exits normally afterwards.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dill import TaskInfo

if not sys.platform.startswith("linux"):
    pytest.skip("the tests use Linux process semantics", allow_module_level=True)

BOUND = 5.0  # seconds for one dump (the contract: 2 s)

ASLEEP = """
    import sys
    import dill

    @dill.coroutine
    def sleeper():
        dill.msleep(-1)

    b = dill.bundle()
    b.go(sleeper())
    h = dill.go(sleeper())
    print("ready", flush=True)
    dill.fdin(sys.stdin.fileno())   # the hub sleeps in the poller until the test writes
    sys.stdin.readline()
    dill.hclose(b)
    dill.hclose(h)
    print("done", flush=True)
"""

SPINNING = """
    import select
    import dill

    @dill.coroutine
    def spin():
        while not select.select([0], [], [], 0)[0]:  # SPIN LINE
            pass

    print("ready", flush=True)
    h = dill.go(spin())
    dill.hclose(h)
    print("done", flush=True)
"""

THOUSAND_THREADS = """
    import select
    import sys
    import threading

    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait, name=f"waiter-{i}") for i in range(1000)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    select.select([sys.stdin], [], [])
    stop.set()
    for t in threads:
        t.join()
    print("done", flush=True)
"""


def _line(source: str, text: str) -> int:
    """The line number of the first line of ``source`` (as written) containing ``text``."""
    lines = textwrap.dedent(source).splitlines()
    return next(i for i, ln in enumerate(lines, 1) if text in ln)


def _write(tmp_path: Path, source: str) -> str:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


def _start(argv: list[str], inspect_env: bool) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("DILL_INSPECT", None)
    if inspect_env:
        env["DILL_INSPECT"] = "1"
    # Its own session, so that a failed start kills what it forked too (a
    # forked child would otherwise hold the pipes open and hang communicate()).
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "ready":
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"child did not start: {line!r} {proc.communicate(timeout=10)[1]}")
    return proc


def _finish(proc: subprocess.Popen) -> str:
    """Let the child go on; it must exit 0 after printing "done"."""
    out, err = proc.communicate("go\n", timeout=30)
    assert proc.returncode == 0, err
    assert out.strip().endswith("done"), (out, err)
    return out


def _dump(pid: int, *flags: str) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "dill.tree", str(pid), *flags],
                       capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    print(f"python -m dill.tree {pid} {' '.join(flags)}: {took:.3f} s")
    assert took < BOUND, f"the dump took {took:.1f} s"
    return r


@pytest.fixture
def child(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(source: str, *, patched: bool = False, inspect_env: bool = True,
              extra: tuple[str, ...] = ()) -> subprocess.Popen:
        runner = [sys.executable, "-m", "dill.patch", *extra] if patched else [sys.executable]
        proc = _start(runner + [_write(tmp_path, source)], inspect_env)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_asleep_in_the_poller(child):
    proc = child(ASLEEP)
    r = _dump(proc.pid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"pid {proc.pid} ")
    root = next(ln for ln in lines if ln.startswith("root (thread MainThread)"))
    assert "[blocked]  fdin(0) for" in root
    assert f"child.py:{_line(ASLEEP, 'dill.fdin')} in <module>" in root
    sleepers = [ln for ln in lines if "coroutine sleeper" in ln]
    assert len(sleepers) == 2
    for ln in sleepers:
        assert "[blocked]  msleep for" in ln
        assert f"child.py:{_line(ASLEEP, 'dill.msleep(-1)')} in sleeper" in ln
    spawned = {ln.split("spawned at ")[1].rsplit(":", 1)[1] for ln in sleepers}
    assert spawned == {str(_line(ASLEEP, "b.go(")), str(_line(ASLEEP, "h = dill.go("))}
    assert any(ln.strip() == "bundle [running]" for ln in lines)
    _finish(proc)


def test_a_coroutine_spinning_in_a_cpu_loop_is_shown_running_at_its_line(child):
    proc = child(SPINNING)
    r = _dump(proc.pid)
    assert r.returncode == 0, r.stderr
    spin = next(ln for ln in r.stdout.splitlines() if "coroutine spin" in ln)
    assert "[running]" in spin, r.stdout
    assert f"child.py:{_line(SPINNING, 'SPIN LINE')} in spin" in spin, r.stdout
    assert "root (thread MainThread) [ready]" in r.stdout
    _finish(proc)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("inspect_env", [False, True], ids=["by-patch", "by-env-too"])
def test_a_thousand_green_threads_under_dill_patch(child, inspect_env):
    # python -m dill.patch turns inspection on; with DILL_INSPECT=1 as well the
    # listener exists before dill.patch() runs, which must not count it as
    # another program thread.
    proc = child(THOUSAND_THREADS, patched=True, inspect_env=inspect_env)
    r = _dump(proc.pid)
    assert r.returncode == 0, r.stderr
    start = f"spawned at {proc.args[-1]}:{_line(THOUSAND_THREADS, 't.start()')}"
    waiters = [ln.strip() for ln in r.stdout.splitlines() if "thread waiter-" in ln]
    assert len(waiters) == 1000, r.stdout[:2000]
    for i, ln in enumerate(waiters):
        assert ln.startswith(f"thread waiter-{i} [blocked]  event(<threading.Event"), ln
        assert ln.endswith(start), ln
    _finish(proc)


TWO_HUBS = """
    import sys
    import threading
    import dill

    def other():
        dill.msleep(dill.now() + 60_000)

    t = threading.Thread(target=other, name="other", daemon=True)
    t.start()
    dill.msleep(dill.now() + 50)   # let the other thread block
    print("ready", flush=True)
    sys.stdin.readline()
    print("done", flush=True)
"""


def test_every_thread_s_hub(child):
    proc = child(TWO_HUBS)
    r = _dump(proc.pid)
    assert r.returncode == 0, r.stderr
    assert "2 hub(s), 2 task(s)" in r.stdout.splitlines()[0]
    other = next(ln for ln in r.stdout.splitlines() if ln.startswith("root (thread other)"))
    assert "[blocked]  msleep for" in other and "in other" in other
    _finish(proc)


def test_dill_patch_no_inspect_keeps_the_process_closed(child):
    proc = child(THOUSAND_THREADS, patched=True, inspect_env=False, extra=("--no-inspect",))
    r = _dump(proc.pid)
    assert r.returncode == 1
    assert "has not enabled dill inspection" in r.stderr
    _finish(proc)


def test_a_process_that_did_not_opt_in_gets_a_clear_message(child):
    proc = child(ASLEEP, inspect_env=False)
    r = _dump(proc.pid)
    assert r.returncode == 1 and r.stdout == ""
    assert f"process {proc.pid} has not enabled dill inspection" in r.stderr
    assert "DILL_INSPECT=1" in r.stderr and "dill.enable_inspect()" in r.stderr
    _finish(proc)  # not stopped or killed


def test_no_such_process():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # reaped: its pid is free
    r = _dump(p.pid)
    assert r.returncode == 1 and f"no process with pid {p.pid}" in r.stderr


def test_enable_inspect_from_code(child):
    proc = child("import dill\ndill.enable_inspect()\n" + textwrap.dedent(ASLEEP),
                 inspect_env=False)
    r = _dump(proc.pid)
    assert r.returncode == 0 and "coroutine sleeper" in r.stdout, r.stderr
    _finish(proc)


def test_json_round_trips_through_taskinfo(child):
    proc = child(ASLEEP)
    r = _dump(proc.pid, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["pid"] == proc.pid and doc["argv"][0].endswith("child.py")
    [hub] = doc["hubs"]
    root = TaskInfo.from_dict(hub["tree"])
    assert root.as_dict() == hub["tree"]
    assert root.kind == "root" and root.op == "fdin"
    names = sorted(t.name for t in root.walk())
    assert names == ["bundle", "root (thread MainThread)", "sleeper", "sleeper"]
    _finish(proc)


FORKING = """
    import os
    import sys
    import dill

    flag = sys.argv[1]
    pid = os.fork()
    if pid == 0:  # not on stdout: the parent's "ready" must come first there
        with open(flag + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(flag + ".tmp", flag + ".child")
    else:
        print("ready", flush=True)
    while not os.path.exists(flag):
        dill.msleep(dill.now() + 20)
    if pid:
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        print(sys.stdin.readline().strip() and "done", flush=True)
"""


def test_a_forked_child_answers_for_itself(tmp_path):
    flag = tmp_path / "stop"
    script = _write(tmp_path, FORKING)
    proc = _start([sys.executable, script, str(flag)], inspect_env=True)
    try:
        child = Path(str(flag) + ".child")
        end = time.monotonic() + 30
        while not child.exists() and time.monotonic() < end:
            time.sleep(0.01)
        forked = int(child.read_text())
        for pid in (proc.pid, forked):
            r = _dump(pid, "--json")
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["pid"] == pid
    finally:
        flag.touch()
    _finish(proc)


def test_dill_tree_is_the_function_and_the_command():
    import dill.tree.__main__  # noqa: F401  (loads the package's submodule too)

    assert callable(dill.tree) and dill.tree is dill._tree.tree
    assert dill.tree().kind == "root"
    r = subprocess.run([sys.executable, "-m", "dill.tree", "--help"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "usage: python -m dill.tree" in r.stdout
