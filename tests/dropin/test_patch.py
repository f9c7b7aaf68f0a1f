"""dill.patch(): each case in a fresh interpreter (patching is process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

KEYS = ["threading", "queue", "time", "socket", "select", "selectors", "ssl", "subprocess",
        "signal", "multiprocessing"]


def py(code, *args, patched=False):
    cmd = [sys.executable] + (["-m", "dill.patch"] + list(args) if patched else []) + \
        ([] if patched else ["-c"]) + ([] if patched else [textwrap.dedent(code)])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=50)


def ok(code):
    r = py(code)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_dill_patch_is_the_function():
    out = ok("""
        import types, dill
        assert isinstance(dill.patch, types.FunctionType), dill.patch
        import dill.patch
        assert isinstance(dill.patch, types.FunctionType), dill.patch
        from dill import patch
        assert patch is dill.patch
        # the package's public names, as the README spells them
        import time
        sleep = time.sleep
        assert dill.patch.get_original("time", "sleep") is sleep
        from dill.patch import get_original, MODULES
        assert dill.patch.get_original is get_original and dill.patch.MODULES is MODULES
        assert dill.patch.patch is dill.patch
        print(sorted(dill.patch()))
        assert time.sleep is not sleep and dill.patch.get_original("time", "sleep") is sleep
    """)
    assert out.strip() == str(sorted(KEYS))


def test_patch_swaps_modules_in_place_and_is_idempotent():
    out = ok("""
        import threading, _thread, queue, time
        from threading import Lock as early_lock
        import dill
        r = dill.patch(socket=False, ssl=False)
        assert r == dill.patch() and r is not dill.patch()
        from dill.green import threading as gt, thread as gth, queue as gq, time as gtm
        assert threading.Thread is gt.Thread and threading.Lock is gt.Lock
        assert threading.Condition is gt.Condition and threading.local is gt.local
        assert _thread.allocate_lock is gth.allocate_lock and _thread.get_ident is gth.get_ident
        assert queue.Queue is gq.Queue and queue.Empty is gq.Empty and time.sleep is gtm.sleep
        assert early_lock is not gt.Lock   # bound before patching: untouched
        from dill.patch import get_original
        assert get_original("time", "sleep").__module__ == "time"
        print(r["socket"], r["ssl"], r["threading"], r["queue"], r["time"])
    """)
    assert out.split() == ["False", "False", "True", "True", "True"]


def test_opt_outs_and_bad_keywords():
    out = ok("""
        import threading, time, dill
        orig = threading.Lock, time.sleep
        r = dill.patch(threading=False, time=False)
        assert (threading.Lock, time.sleep) == orig
        assert r["threading"] is False and r["time"] is False and r["queue"] is True
        print("ok")
    """)
    assert out.strip() == "ok"
    r = py("import dill; dill.patch(nosuch=False)")
    assert r.returncode != 0 and "nosuch" in r.stderr
    r = py("import dill; dill.patch(time='no')")
    assert r.returncode != 0 and "TypeError" in r.stderr


def test_refuses_with_other_os_threads():
    r = py("""
        import threading, dill
        ev = threading.Event()
        t = threading.Thread(target=ev.wait, name="busy-worker"); t.start()
        try:
            dill.patch()
        except RuntimeError as e:
            print("refused:", e)
        ev.set(); t.join()
        print(sorted(k for k, v in dill.patch().items() if v)[:1])
    """)
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "busy-worker" in r.stdout
    assert "threading" not in r.stdout.split("refused:")[0]


def test_dill_workers_do_not_count_and_core_keeps_originals():
    out = ok("""
        import time, dill
        from dill._threads import to_thread
        assert to_thread(lambda: 41) == 41     # a worker thread exists now
        r = dill.patch()
        assert r["threading"]
        # the pool still runs real OS threads, and the hub still sleeps for real
        import threading
        assert to_thread(threading.get_native_id) != threading.get_native_id()
        t0 = time.monotonic(); dill.msleep(dill.now() + 20)
        assert time.monotonic() - t0 >= 0.019
        print("ok")
    """)
    assert out.strip() == "ok"


def test_patched_code_is_green():
    out = ok("""
        import dill; dill.patch()
        import threading, time, queue
        q = queue.Queue()
        order = []
        def worker(i):
            time.sleep(0.01 * (3 - i))
            order.append(i); q.put(i)
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(order, threading.get_native_id() == ts[0].native_id,
              len(set(t.ident for t in ts)))
    """)
    assert out.strip() == "[2, 1, 0] True 3"


def test_main_verbose_args_and_exit_status(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import sys, threading\n"
                      "print(sys.argv[1:], threading.Thread.__module__)\n"
                      "sys.exit(int(sys.argv[1]))\n")
    r = subprocess.run([sys.executable, "-m", "dill.patch", "--verbose", str(script), "5", "x"],
                       capture_output=True, text=True, timeout=50)
    assert r.returncode == 5
    assert r.stdout.strip() == "['5', 'x'] dill.green.threading"
    assert "'threading': True" in r.stderr
    r = subprocess.run([sys.executable, "-m", "dill.patch", "--no-threading", str(script), "0"],
                       capture_output=True, text=True, timeout=50)
    assert r.returncode == 0 and r.stdout.strip() == "['0'] threading"
    r = subprocess.run([sys.executable, "-m", "dill.patch"], capture_output=True, text=True)
    assert r.returncode != 0 and "usage" in r.stderr
    script.write_text("raise ValueError('boom')\n")
    r = subprocess.run([sys.executable, "-m", "dill.patch", str(script)],
                       capture_output=True, text=True, timeout=50)
    assert r.returncode == 1 and "ValueError: boom" in r.stderr


def test_main_runs_module(tmp_path):
    (tmp_path / "mymod.py").write_text("import threading; print(threading.Lock.__module__)\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "dill.patch", "-m", "mymod"],
                       capture_output=True, text=True, timeout=50, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "dill.green.thread"


def test_at_exit_daemons_canceled_non_daemons_joined():
    r = py("""
        import dill; dill.patch()
        import threading, time
        def daemon():
            try:
                time.sleep(10)
            finally:
                print("daemon closed", flush=True)
        def worker():
            time.sleep(0.02); print("worker done", flush=True)
        threading.Thread(target=daemon, daemon=True).start()
        threading.Thread(target=worker).start()
        print("main exits", flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["main exits", "worker done", "daemon closed"]


def test_daemons_still_run_in_atexit_handlers_after_threading_shutdown():
    """As with real threads, threading._shutdown leaves daemon threads running:
    an atexit handler may still join one (multiprocessing's flushes a Queue
    through its feeder thread this way; on 3.13 a forked child calls
    threading._shutdown before that handler, and lost what it had put)."""
    r = py("""
        import dill; dill.patch()
        import atexit, threading, time
        sent = []
        def feeder():
            try:
                time.sleep(0.05)
                sent.append("data")
            finally:
                print("feeder ended", flush=True)
        t = threading.Thread(target=feeder, daemon=True)
        t.start()
        def flush():
            t.join()
            print("atexit joined the daemon:", sent, flush=True)
        atexit.register(flush)
        threading._shutdown()   # what a 3.13 multiprocessing child does first
        print("after threading._shutdown:", t.is_alive(), flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["after threading._shutdown: True", "feeder ended",
                                     "atexit joined the daemon: ['data']"]


def test_blocking_detector_watchdog_is_dills_own_thread(tmp_path):
    # DILL_BLOCKING_DETECTOR starts the watchdog at ``import dill``, before
    # patch() looks for other OS threads: it must not count as one.
    script = tmp_path / "tiny.py"
    script.write_text("import threading, dill._detector as d\n"
                      "print(threading.Lock.__module__, d._detector is not None)\n")
    env = dict(os.environ, DILL_BLOCKING_DETECTOR="100")
    for _ in range(3):  # whether the watchdog runs before patch() is a race: try a few
        r = subprocess.run([sys.executable, "-m", "dill.patch", str(script)],
                           capture_output=True, text=True, timeout=50, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["dill.green.thread", "True"]


def test_detector_watchdogs_running_or_stopping_do_not_count():
    out = ok("""
        import io, _thread, time, dill
        from dill._threads import own_thread_idents as watchdog_idents
        dill.enable_blocking_detector(50, file=io.StringIO())
        time.sleep(0.05)                    # the watchdog runs (and is counted)
        dill.disable_blocking_detector()    # stopping: dill's until it is gone
        dill.enable_blocking_detector(50, file=io.StringIO())
        time.sleep(0.05)
        assert dill.patch()["threading"]
        dill.disable_blocking_detector()
        end = time.monotonic() + 5          # each leaves the set once it has exited
        while (watchdog_idents() or _thread._count()) and time.monotonic() < end:
            time.sleep(0.01)
        print(len(watchdog_idents()), _thread._count())
    """)
    assert out.split() == ["0", "0"]
