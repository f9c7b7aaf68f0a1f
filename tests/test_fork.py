"""Fork safety: a forked child starts with fresh dill state (dill/_fork.py).

Each scenario runs in its own interpreter, so that the test runner itself never forks.
"""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)


def run(tmp_path, source, *args, patched=False):
    """Run ``source`` as a script (under ``python -m dill.patch`` if ``patched``)."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source))
    cmd = [sys.executable, *(["-m", "dill.patch"] if patched else []), str(script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=50, cwd=tmp_path)


FORK_IN_A_COROUTINE = """
    import os, sys, dill
    from dill import TimedOut, bundle, fdin, go, msleep, now, to_thread

    r, w = os.pipe()
    how = sys.argv[1]

    def sibling():
        try:
            msleep(now() + 60_000)
        finally:
            print("sibling finally in", "child" if os.getpid() != PARENT else "parent", flush=True)

    def waiter():
        fdin(r, now() + 60_000)            # a live fd wait in the parent's hub
        print("parent's fd wait woke", flush=True)

    def child_body(parent_bundle):
        t0 = now()
        msleep(now() + 30)                 # timers work at once
        cr = go(msleep, now() + 10)
        cr.wait(); cr.close()
        try:
            fdin(r, now() + 20)            # fd waits too (the pipe is still empty)
        except TimedOut:
            pass
        assert to_thread(lambda: 6 * 7) == 42
        try:
            parent_bundle.wait(0)
        except RuntimeError as e:
            print("parent handle refused:", "another" in str(e), flush=True)
        print("child ok", now() - t0 >= 30, flush=True)
        if how == "exit3":
            sys.exit(3)
        if how == "raise":
            raise ValueError("boom in the child")
        return "ignored"

    def forker(parent_bundle):
        pid = os.fork()
        if pid == 0:
            return child_body(parent_bundle)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status), flush=True)
        os.write(w, b"x")                  # the parent's own fd wait still works

    PARENT = os.getpid()
    with bundle() as b:
        b.go(sibling)
        b.go(waiter)
        msleep(now() + 20)                 # both are blocked: a timer and an fd wait
        h = go(forker, b)
        h.wait(); h.close()
        msleep(now() + 50)
    print("parent done", flush=True)
"""


@pytest.mark.parametrize("how, status", [("return", 0), ("exit3", 3), ("raise", 1)])
def test_fork_inside_a_coroutine_with_live_timers_and_fd_waits(tmp_path, how, status):
    p = run(tmp_path, FORK_IN_A_COROUTINE, how)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # The child: dill works at once, the parent's handles are refused, its exit status
    # is the forking coroutine's outcome, and the parent's siblings never ran there.
    assert "child ok True" in lines
    assert "parent handle refused: True" in lines
    assert f"child exit {status}" in lines
    assert "sibling finally in child" not in lines
    assert ("boom in the child" in p.stderr) == (how == "raise")
    # The parent is untouched: its fd wait wakes, its sibling is canceled as usual.
    assert lines[-3:] == ["parent's fd wait woke", "sibling finally in parent", "parent done"]


def test_fork_from_the_root_keeps_going_with_a_fresh_hub(tmp_path):
    p = run(tmp_path, """
        import os, dill
        from dill import go, msleep, now
        parked = go(msleep, now() + 60_000)
        pid = os.fork()
        if pid == 0:
            cr = go(lambda: 7)
            print("child", cr.wait(), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        parked.close()
        print("parent done", flush=True)
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["child 7", "parent done"]


MULTIPROCESSING = """
    import multiprocessing, sys, threading, time

    def work(q, x):
        time.sleep(0.01)                   # green in a patched child too
        q.put(x * x)

    def main():
        ctx = multiprocessing.get_context(sys.argv[1])
        q = ctx.Queue()
        procs = [ctx.Process(target=work, args=(q, x)) for x in range(4)]
        for p in procs:
            p.start()
        got = sorted(q.get(timeout=20) for _ in procs)
        for p in procs:
            p.join(20)
        print(got, [p.exitcode for p in procs], flush=True)
        print("patched", threading.Lock.__module__.startswith("dill"), flush=True)

    if __name__ == "__main__":
        main()
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_from_a_patched_program(tmp_path, method):
    p = run(tmp_path, MULTIPROCESSING, method, patched=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["[0, 1, 4, 9] [0, 0, 0, 0]", "patched True"]


def test_process_pool_executor_from_a_patched_program(tmp_path):
    p = run(tmp_path, """
        import concurrent.futures, time

        def work(x):
            time.sleep(0.01)
            return x + 1

        if __name__ == "__main__":
            with concurrent.futures.ProcessPoolExecutor(2) as ex:
                print(sum(ex.map(work, range(50))), flush=True)
    """, patched=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [str(sum(range(1, 51)))]


def test_a_forked_child_starts_green_threads_after_the_parent_did(tmp_path):
    """The parent's green threads live in a bundle of its hub: the child, whose
    fresh hub cannot use it, starts its own (a forked multiprocessing.Process
    that puts on a Queue starts a feeder thread)."""
    p = run(tmp_path, """
        import os, threading

        def hello(out):
            out.append(os.getpid())

        seen = []
        t = threading.Thread(target=hello, args=(seen,)); t.start(); t.join()
        pid = os.fork()
        if pid == 0:
            mine = []
            t = threading.Thread(target=hello, args=(mine,)); t.start(); t.join()
            os._exit(0 if mine == [os.getpid()] else 3)
        _, status = os.waitpid(pid, 0)
        print(seen == [os.getpid()], os.waitstatus_to_exitcode(status), flush=True)
    """, patched=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "True 0\n", p.stderr
