"""multiprocessing under dill.patch(): its blocking IPC blocks only the calling coroutine.

Each scenario is a program run patched (``python -m dill.patch``) in its own
interpreter.  Most are built so that they can only finish if the hub keeps
serving other coroutines while one waits: a coroutine of the parent must act
(set an event, send, read) before the blocked call can return.  Without
dill.green.multiprocessing they hang, and the subprocess timeout fails them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(90)

# The start methods this platform has (forkserver where it works).
METHODS = ["fork", "spawn", "forkserver"]


# A kernel without per-call non-blocking I/O (RWF_NOWAIT): the fallback path.
OLD_KERNEL = """
    import errno, os
    def _unsupported(*args):
        raise OSError(errno.EOPNOTSUPP, "no RWF_NOWAIT here")
    os.preadv = os.pwritev = _unsupported
"""


def run(tmp_path, source, *args, patched=True, timeout=40, old_kernel=False):
    """Run ``source`` as a script (under ``python -m dill.patch`` if ``patched``),
    as on a kernel without ``RWF_NOWAIT`` if ``old_kernel``."""
    script = tmp_path / "prog.py"
    prelude = textwrap.dedent(OLD_KERNEL) if old_kernel else ""
    script.write_text(prelude + textwrap.dedent(source))
    cmd = [sys.executable, *(["-m", "dill.patch"] if patched else []), str(script), *args]
    # its own process group, so that a hang's children are killed with it
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=tmp_path, start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            pytest.fail(f"timed out after {timeout} s\n{out}{err}")
    assert p.returncode == 0, out + err
    return out.splitlines()


POOL_MAP = """
    import multiprocessing, sys, threading, time

    def init(ev):
        global go_on
        go_on = ev

    def work(x):
        go_on.wait()        # released by a coroutine of the parent, while map waits
        return x * x

    def tick(ev, ticks):
        while len(ticks) < 5:
            time.sleep(0.005)
            ticks.append(1)
        ev.set()

    if __name__ == "__main__":
        ctx = multiprocessing.get_context(sys.argv[1])
        ev = ctx.Event()
        ticks = []
        with ctx.Pool(2, initializer=init, initargs=(ev,)) as pool:
            threading.Thread(target=tick, args=(ev, ticks)).start()
            print(sum(pool.map(work, range(100), chunksize=3)), len(ticks), flush=True)
            pool.close()
            pool.join()
"""


@pytest.mark.parametrize("method", METHODS)
def test_pool_map_lets_other_coroutines_run(tmp_path, method):
    assert run(tmp_path, POOL_MAP, method) == ["328350 5"]


def test_pool_map_without_rwf_nowait(tmp_path):
    assert run(tmp_path, POOL_MAP, "fork", old_kernel=True) == ["328350 5"]


def test_pool_apply_async_callbacks_imap_and_terminate(tmp_path):
    lines = run(tmp_path, """
        import multiprocessing, threading, time

        def square(x):
            return x * x

        def fail(x):
            raise ValueError(x)

        if __name__ == "__main__":
            done = threading.Event()
            got, errors = [], []
            with multiprocessing.Pool(2) as pool:
                r = pool.apply_async(square, (7,), callback=got.append)
                pool.apply_async(fail, (3,), error_callback=lambda e: (errors.append(e),
                                                                      done.set()))
                print("apply", r.get(timeout=20), done.wait(20), got, errors)
                print("imap", list(pool.imap(square, range(6))))
                print("unordered", sorted(pool.imap_unordered(square, range(6), 2)))
                # terminate while the workers are busy in tasks that never end
                busy = pool.map_async(time.sleep, [3600] * 4)
                time.sleep(0.2)
                pool.terminate()
                pool.join()
                print("terminated", busy.ready(), [p.exitcode for p in pool._pool])
    """)
    assert lines[:3] == ["apply 49 True [49] [ValueError(3)]", "imap [0, 1, 4, 9, 16, 25]",
                         "unordered [0, 1, 4, 9, 16, 25]"]
    assert lines[3] == "terminated False [-15, -15]"


def test_pool_context_manager_terminates_busy_workers(tmp_path):
    lines = run(tmp_path, """
        import multiprocessing, time
        if __name__ == "__main__":
            with multiprocessing.Pool(2) as pool:
                pool.map_async(time.sleep, [3600] * 4)
                time.sleep(0.2)
                procs = list(pool._pool)
            for p in procs:
                p.join(20)
            print([p.exitcode for p in procs])
    """)
    assert lines == ["[-15, -15]"]


def test_queue_get_timeout_blocking_get_and_put(tmp_path):
    lines = run(tmp_path, """
        import multiprocessing, queue, threading, time

        def echo(q_in, q_out):
            for x in iter(q_in.get, None):
                q_out.put(x)

        if __name__ == "__main__":
            q_in, q_out = multiprocessing.Queue(), multiprocessing.Queue()
            # forked before the parent starts green threads: a forked child cannot
            # start its own (Queue.put's feeder) once the parent has: a dill.green.thread bug
            p = multiprocessing.Process(target=echo, args=(q_in, q_out))
            p.start()
            ticks = []
            def tick():
                while len(ticks) < 3:
                    time.sleep(0.005)
                    ticks.append(1)
            t = threading.Thread(target=tick)
            t.start()
            try:
                q_out.get(timeout=0.1)        # the ticker runs meanwhile
            except queue.Empty:
                print("empty", len(ticks), flush=True)
            t.join()
            # a blocking get() in one coroutine, the put that answers it in another
            got = []
            reader = threading.Thread(target=lambda: got.append(q_out.get()))
            reader.start()
            time.sleep(0.05)
            q_in.put("hello")
            reader.join()
            sq = multiprocessing.SimpleQueue()
            threading.Thread(target=lambda: (time.sleep(0.05), sq.put("simple"))).start()
            print(got, sq.get(), flush=True)
            q_in.put(None)
            p.join()
            print("exit", p.exitcode)
    """)
    assert lines == ["empty 3", "['hello'] simple", "exit 0"]


PIPE = """
    import multiprocessing, sys, threading, time
    from multiprocessing.connection import wait

    if __name__ == "__main__":
        a, b = multiprocessing.Pipe(duplex=sys.argv[1] == "duplex")
        got = []
        reader = threading.Thread(target=lambda: got.append(a.recv()))
        reader.start()
        time.sleep(0.05)                  # the reader is blocked in recv()
        b.send({"x": 1})
        reader.join()
        print(got, a.poll(0), a.poll(0.05), wait([a], timeout=0.05), flush=True)
        waiter = threading.Thread(target=lambda: got.append(wait([a])))
        waiter.start()
        time.sleep(0.05)
        b.send_bytes(b"ping")
        waiter.join()
        print(got[1] == [a], a.recv_bytes(), flush=True)
        into = bytearray(8)
        b.send_bytes(b"abc")
        print(a.recv_bytes_into(into, 2), into, flush=True)
        b.close()
        try:
            a.recv()
        except EOFError:
            print("eof")
"""


@pytest.mark.parametrize("old_kernel", [False, True])
@pytest.mark.parametrize("duplex", ["duplex", "simplex"])
def test_pipe_recv_and_wait_while_the_hub_serves_others(tmp_path, duplex, old_kernel):
    lines = run(tmp_path, PIPE, duplex, old_kernel=old_kernel)
    assert lines == ["[{'x': 1}] False False []", "True b'ping'",
                     "3 bytearray(b'\\x00\\x00abc\\x00\\x00\\x00')", "eof"]


LARGE = """
    import multiprocessing, sys, threading, time

    N = 8 * 1024 * 1024

    def child(inbox, outbox):
        # sends its whole message before reading: the parent must read while it writes
        outbox.send_bytes(b"c" * N)
        data = inbox.recv_bytes()
        outbox.send(len(data) == N and data == b"p" * N)

    def reader(inbox, got):
        time.sleep(0.05)                  # the parent's send has filled the pipe by now
        got.append(inbox.recv_bytes())

    if __name__ == "__main__":
        ctx = multiprocessing.get_context(sys.argv[1])
        if sys.argv[2] == "duplex":       # one socket pair
            mine, theirs = ctx.Pipe()
            args = (theirs, theirs)
            inbox = outbox = mine
        else:                             # two pipes
            inbox, child_out = ctx.Pipe(duplex=False)
            child_in, outbox = ctx.Pipe(duplex=False)
            args = (child_in, child_out)
        p = ctx.Process(target=child, args=args)
        p.start()
        got = []
        t = threading.Thread(target=reader, args=(inbox, got))
        t.start()
        outbox.send_bytes(b"p" * N)       # waits (green) until the child reads
        t.join()
        print(len(got[0]), got[0] == b"c" * N, inbox.recv(), flush=True)
        p.join()
        print("exit", p.exitcode)
"""


@pytest.mark.parametrize("old_kernel", [False, True])
@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("kind", ["duplex", "simplex"])
def test_large_messages_both_ways_at_once(tmp_path, method, kind, old_kernel):
    lines = run(tmp_path, LARGE, method, kind, old_kernel=old_kernel)
    assert lines == [f"{8 * 1024 * 1024} True True", "exit 0"]


def test_locks_join_and_cancel(tmp_path):
    lines = run(tmp_path, """
        import multiprocessing, threading, time
        import dill

        def child(ev):
            ev.wait()

        if __name__ == "__main__":
            # Process.join() without a timeout: a coroutine frees the child meanwhile
            # (first: a child forked after the parent started green threads exits 1)
            ev = multiprocessing.Event()
            p = multiprocessing.Process(target=child, args=(ev,))
            p.start()
            threading.Thread(target=lambda: (time.sleep(0.05), ev.set())).start()
            p.join()
            print("joined", p.exitcode)
            lock = multiprocessing.Lock()
            order = []
            def holder():
                with lock:
                    order.append("held")
                    time.sleep(0.05)
                    order.append("released")
            t = threading.Thread(target=holder)
            t.start()
            time.sleep(0.01)
            print("timeout", lock.acquire(timeout=0.01), lock.acquire(False))
            with lock:                     # waits for the holder, green
                order.append("mine")
            t.join()
            print(order)
            # a canceled coroutine blocked in recv / acquire / get raises Canceled
            a, b = multiprocessing.Pipe(duplex=False)
            q = multiprocessing.Queue()
            lock.acquire()
            def blocked(fn):
                try:
                    fn()
                except dill.Canceled:
                    print("canceled", fn.__name__, flush=True)
                    raise
            crs = [dill.go(blocked, f) for f in (a.recv, lock.acquire, q.get)]
            time.sleep(0.05)
            for cr in crs:
                cr.close()
            lock.release()
            b.send("still usable")
            print(a.recv())
    """)
    assert lines == ["joined 0", "timeout False False", "['held', 'released', 'mine']",
                     "canceled recv", "canceled acquire", "canceled get", "still usable"]


def test_patched_when_already_imported(tmp_path):
    lines = run(tmp_path, """
        import multiprocessing.connection, multiprocessing.synchronize, threading, time
        std_recv = multiprocessing.connection.Connection._recv
        import dill
        print(dill.patch()["multiprocessing"], flush=True)
        assert dill.patch.get_original("multiprocessing.connection",
                                       "Connection._recv") is std_recv
        assert multiprocessing.connection.Connection._recv is not std_recv
        a, b = multiprocessing.Pipe()
        got = []
        t = threading.Thread(target=lambda: got.append(a.recv()))
        t.start()
        time.sleep(0.05)
        b.send(42)
        t.join()
        print(got)
    """, patched=False)
    assert lines == ["True", "[42]"]

@pytest.mark.parametrize("wanted", [True, False])
def test_patched_at_first_import_or_not_at_all(tmp_path, wanted):
    lines = run(tmp_path, """
        import dill, sys
        r = dill.patch(multiprocessing=sys.argv[1] == "True")
        print(r["multiprocessing"], "multiprocessing" in sys.modules)
        import multiprocessing.connection, multiprocessing.synchronize
        print(multiprocessing.connection.Connection._recv.__module__,
              multiprocessing.synchronize.SemLock.__enter__.__module__)
    """, str(wanted), patched=False)
    where = "dill.green.multiprocessing" if wanted else "multiprocessing.%s"
    assert lines == [f"{wanted} False", " ".join([where % "connection", where % "synchronize"]
                                                  if not wanted else [where, where])]
