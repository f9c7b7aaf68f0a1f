"""``python -m dill.trace``: Chrome trace-event JSON of a run, and its PNG timeline.

(That a tracer sees every hub event in order is tested in test_tools.py; here
the ``ChromeTracer`` turns them into tracks, and the command runs programs.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from dill import chmake, chrecv, go, hclose, msleep, now
from dill.trace import ChromeTracer

REQUIRED = {"M": ("name", "pid", "tid", "args"), "X": ("name", "pid", "tid", "ts", "dur"),
            "i": ("name", "pid", "tid", "ts", "s")}


def check_chrome_trace(doc: dict) -> dict[str, list[dict]]:
    """Assert ``doc`` is well-formed Chrome trace-event JSON as ChromeTracer promises;
    return each track's timed events by its name."""
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    names = {}
    timed = defaultdict(list)
    for e in events:
        for key in REQUIRED[e["ph"]]:  # only these phases are written
            assert key in e, (key, e)
        if e["ph"] == "M":
            if e["name"] == "thread_name":
                names[e["tid"]] = e["args"]["name"]
        else:
            timed[e["tid"]].append(e)
    for tid, evs in timed.items():
        assert tid in names, f"track {tid} has no thread_name"
        ts = [e["ts"] for e in evs]
        assert ts == sorted(ts), f"timestamps of {names[tid]} go back"
        spans = [e for e in evs if e["ph"] == "X"]
        for a, b in zip(spans, spans[1:]):
            assert a["dur"] >= 0
            assert a["ts"] + a["dur"] <= b["ts"] + 1e-3, f"spans of {names[tid]} overlap"
    return {names[tid]: evs for tid, evs in timed.items()}


def test_chrome_tracer_tracks_running_waits_cancels_and_exits():
    def napper():
        msleep(now() + 5)

    def stuck(ch):
        chrecv(ch, -1)

    tracer = ChromeTracer()
    tracer.attach()
    try:
        nap = go(napper)
        ends = chmake()
        st = go(stuck, ends[0])
        msleep(now() + 20)
        hclose(st)
        hclose(nap)
        for end in ends:
            hclose(end)
    finally:
        tracer.detach()
    tracks = check_chrome_trace(tracer.as_dict())
    by_name = {name.split(" #")[0]: evs for name, evs in tracks.items()}
    nap_evs = by_name["test_chrome_tracer_tracks_running_waits_cancels_and_exits.<locals>.napper"]
    assert [e["name"] for e in nap_evs] == ["running", "msleep", "running", "exit"]
    assert nap_evs[1]["args"]["reason"] == "timeout"
    assert nap_evs[1]["dur"] >= 4000  # µs: it slept 5 ms
    stuck_evs = by_name["test_chrome_tracer_tracks_running_waits_cancels_and_exits.<locals>.stuck"]
    assert [e["name"] for e in stuck_evs] == ["running", "chrecv", "cancel", "running", "exit"]
    assert stuck_evs[1]["args"]["reason"] == "cancel"
    assert "exc" not in stuck_evs[-1].get("args", {})  # Canceled is how a coroutine ends
    root = by_name["root (thread MainThread)"]
    # ... go, go, msleep, hclose(st) (it waits for stuck to exit), hclose(nap): at once
    assert [e["name"] for e in root][-5:] == ["running", "msleep", "running", "hclose", "running"]
    assert "hub" in by_name and {e["name"] for e in by_name["hub"]} == {"poll"}


PROGRAM = """
    import sys
    import dill

    @dill.coroutine
    def worker(ms):
        dill.msleep(dill.now() + ms)

    @dill.coroutine
    def forever(ch):
        dill.chrecv(ch, -1)

    print("args", sys.argv[1:], flush=True)
    b = dill.bundle()
    b.go(worker(5))
    b.go(worker(10))
    ch, _ = dill.chmake()
    b.go(forever(ch))
    try:
        b.wait(dill.now() + 30)
    except dill.TimedOut:
        pass
    b.close()
    if sys.argv[1:] == ["raise"]:
        raise ValueError("boom")
    if sys.argv[1:] == ["exit"]:
        sys.exit(3)
"""


def _trace(tmp_path: Path, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dill.trace", *argv], capture_output=True,
                          text=True, timeout=60, cwd=cwd or tmp_path)


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(PROGRAM))
    return path


def test_trace_a_script(tmp_path, program):
    out = tmp_path / "t.json"
    r = _trace(tmp_path, "-o", str(out), str(program), "a", "b")
    assert r.returncode == 0, r.stderr
    assert "args ['a', 'b']" in r.stdout
    assert f"dill.trace: wrote {out}" in r.stderr
    tracks = check_chrome_trace(json.loads(out.read_text()))
    names = sorted(n.split(" #")[0] for n in tracks)
    assert names == ["forever", "hub", "root (thread MainThread)", "worker", "worker"]
    [forever] = [evs for n, evs in tracks.items() if n.startswith("forever")]
    assert [e["name"] for e in forever] == ["running", "chrecv", "cancel", "running", "exit"]
    root_ops = [e["name"] for n, evs in tracks.items() if n.startswith("root") for e in evs]
    assert "bundle_wait" in root_ops and "hclose" in root_ops


@pytest.mark.parametrize("how, status", [("raise", 1), ("exit", 3)])
def test_the_trace_is_written_however_the_program_ends(tmp_path, program, how, status):
    out = tmp_path / "t.json"
    r = _trace(tmp_path, "-o", str(out), str(program), how)
    assert r.returncode == status, r.stderr
    if how == "raise":
        assert "ValueError: boom" in r.stderr
    tracks = check_chrome_trace(json.loads(out.read_text()))
    assert sum(n.startswith("worker") for n in tracks) == 2


def test_trace_a_module_and_other_threads_hubs(tmp_path):
    (tmp_path / "threaded.py").write_text(textwrap.dedent("""
        import sys
        import threading
        import dill

        def in_thread():
            dill.msleep(dill.now() + 5)

        t = threading.Thread(target=in_thread, name="other")
        t.start()
        t.join()
        print("module args", sys.argv[1:])
    """))
    r = _trace(tmp_path, "-m", "threaded", "x")  # default output: ./dill-trace.json
    assert r.returncode == 0, r.stderr
    assert "module args ['x']" in r.stdout
    tracks = check_chrome_trace(json.loads((tmp_path / "dill-trace.json").read_text()))
    [other] = [evs for n, evs in tracks.items() if n.startswith("root (thread other)")]
    assert "msleep" in [e["name"] for e in other]


def test_usage_errors(tmp_path):
    r = _trace(tmp_path)
    assert r.returncode != 0 and "usage: python -m dill.trace" in r.stderr
    r = _trace(tmp_path, "--bogus", "x.py")
    assert r.returncode != 0 and "unknown option '--bogus'" in r.stderr


def test_png_timeline(tmp_path, program):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "t.json", tmp_path / "t.png"
    assert _trace(tmp_path, "-o", str(out), str(program)).returncode == 0
    r = _trace(tmp_path, "--png", str(png), str(out))
    assert r.returncode == 0, r.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 200_000



def test_trace_unmodified_threaded_code_under_dill_patch(tmp_path):
    (tmp_path / "threaded.py").write_text(textwrap.dedent("""
        import queue
        import threading
        import time

        q = queue.Queue()

        def produce():
            for i in range(3):
                time.sleep(0.01)
                q.put(i)

        t = threading.Thread(target=produce)
        t.start()
        got = [q.get() for _ in range(3)]
        t.join()
        print(got)
    """))
    r = subprocess.run([sys.executable, "-m", "dill.patch", "-m", "dill.trace", "-o", "t.json",
                        "threaded.py"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0 and "[0, 1, 2]" in r.stdout, r.stderr
    tracks = check_chrome_trace(json.loads((tmp_path / "t.json").read_text()))
    ops = {e["name"] for evs in tracks.values() for e in evs}
    assert "sleep" in ops  # the green thread's time.sleep, a wait of the hub
    assert len(tracks) == 3  # the main thread's root, the green thread, the hub loop
