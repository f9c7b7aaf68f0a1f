#!/usr/bin/env python
"""Run CPython's own test modules, unmodified, against dill's (and gevent's) patching.

    python tests/dropin/run_cpython_tests.py [--modules test_socket,test_ssl]
                                             [--modes dill,gevent] [--jobs 2]
                                             [--module-timeout 900] [--test-timeout 120]

Each (module, mode) pair runs in its own subprocess: ``dill`` runs it under
``python -m dill.patch`` (or, while that does not exist, a fallback that patches
with the green modules directly), ``gevent`` under ``gevent.monkey.patch_all()``,
``stdlib`` (optional) unpatched.  The child reports one line per test, so a test
that hangs (killed by ``faulthandler`` after ``--test-timeout`` s) is recorded
as a failure and the child is restarted after it.

It prints passes per module, the failures not listed in
``cpython_expected_failures.txt`` (one ``test id  # reason`` per line), expected
failures that now pass, and a markdown table of dill vs gevent.  Not part of the
pytest run (it takes minutes); ``test_cpython_smoke`` in the pytest suite runs
the two quick modules.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
XFAIL_FILE = os.path.join(HERE, "cpython_expected_failures.txt")

RESOURCES = {"test_socketserver": ["network"]}

MODULES = ["test_threading", "test_queue", "test_thread", "test_socket", "test_select",
           "test_selectors", "test_socketserver", "test_subprocess", "test_ssl",
           "test_time"]


# ----------------------------------------------------------------------- child

def _fallback_patch() -> None:
    """Patch socket/select/selectors/ssl/subprocess with dill.green (no dill.patch yet)."""
    import select
    import selectors
    import socket
    import ssl
    import subprocess as sp

    from dill.green import select as gselect
    from dill.green import selectors as gselectors
    from dill.green import socket as gsocket
    from dill.green import ssl as gssl
    from dill.green import subprocess as gsubprocess
    for name in gsocket._GREEN:
        setattr(socket, name, getattr(gsocket, name))
    # select.epoll stays the stdlib's: dill's own hub builds its poller from it.
    select.select = gselect.select
    select.poll = gselect.poll
    for name in ("SelectSelector", "PollSelector", "EpollSelector", "DefaultSelector"):
        if hasattr(gselectors, name):
            setattr(selectors, name, getattr(gselectors, name))
    for name in gssl._GREEN:
        setattr(ssl, name, getattr(gssl, name))
    for name in gsubprocess._GREEN:
        setattr(sp, name, getattr(gsubprocess, name))


def _is_dill_patched() -> bool:
    import socket
    return getattr(socket.socket, "_dill_green", False)


def child(module: str, mode: str, out: str, skip: set, test_timeout: float) -> None:
    if mode == "gevent":
        from gevent import monkey
        monkey.patch_all()
    elif mode == "dill" and not _is_dill_patched():
        try:
            import dill
            patch = dill.patch
        except AttributeError:
            patch = None
        if callable(patch):
            patch()
        else:
            _fallback_patch()
    import faulthandler
    import unittest

    from test import support
    # as regrtest without -u (no internet, no cpu hogs); test_socketserver needs the
    # "network" resource to load at all, and only uses loopback.
    support.use_resources = RESOURCES.get(module, [])
    try:
        support.verbose = False
    except AttributeError:  # pragma: no cover
        pass

    f = open(out, "a", buffering=1)

    def emit(kind: str, test: object, detail: str = "") -> None:
        tid = test.id() if hasattr(test, "id") else str(test)
        f.write(json.dumps([kind, tid, detail[-2000:]]) + "\n")

    class Result(unittest.TestResult):
        def startTest(self, test):
            super().startTest(test)
            f.write(json.dumps(["START", test.id(), ""]) + "\n")
            faulthandler.dump_traceback_later(test_timeout, exit=True)

        def stopTest(self, test):
            faulthandler.cancel_dump_traceback_later()
            super().stopTest(test)
            f.write(json.dumps(["STOP", test.id(), ""]) + "\n")

        def addSuccess(self, test):
            super().addSuccess(test)
            emit("PASS", test)

        def addFailure(self, test, err):
            super().addFailure(test, err)
            emit("FAIL", test, self._exc_info_to_string(err, test))

        def addError(self, test, err):
            super().addError(test, err)
            emit("ERROR", test, self._exc_info_to_string(err, test))

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            emit("SKIP", test, reason)

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            emit("PASS", test, "expected failure")

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            emit("FAIL", test, "unexpected success")

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                kind = "FAIL" if issubclass(err[0], test.failureException) else "ERROR"
                emit(kind, test, "subtest %s: %s" % (subtest._subDescription(),
                                                     self._exc_info_to_string(err, test)))

    mod = importlib.import_module("test." + module)
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)

    def flat(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from flat(t)
            else:
                yield t

    tests = [t for t in flat(suite) if t.id() not in skip]
    f.write(json.dumps(["TOTAL", "", str(len(tests) + len(skip))]) + "\n")
    unittest.TestSuite(tests).run(Result())
    f.write(json.dumps(["END", "", ""]) + "\n")
    f.close()
    sys.stdout.flush()
    os._exit(0)  # don't let leftover threads of a failed test hang the exit


# ---------------------------------------------------------------------- parent

def _dill_patch_main_available() -> bool:
    try:
        return importlib.util.find_spec("dill.patch") is not None
    except (ImportError, ValueError, AttributeError):
        return False


def run_module(module: str, mode: str, module_timeout: float, test_timeout: float) -> dict:
    """Run one module in one mode; restart after a hung test.  Returns the tallies."""
    results: dict[str, tuple] = {}  # test id -> (kind, detail)
    total = None
    hung = []
    t0 = time.monotonic()
    fd, out = tempfile.mkstemp(prefix=f"cpy-{mode}-{module}-", suffix=".jsonl")
    os.close(fd)
    status = "ok"
    while True:
        done = set(results) | set(hung)
        skipfile = out + ".skip"
        with open(skipfile, "w") as sf:
            sf.write("\n".join(sorted(done)))
        args = [__file__, "--child", module, "--mode", mode, "--out", out,
                "--skip-file", skipfile, "--test-timeout", str(test_timeout)]
        if mode == "dill" and _dill_patch_main_available():
            cmd = [sys.executable, "-m", "dill.patch"] + args
        else:
            cmd = [sys.executable] + args
        open(out, "w").close()
        remaining = module_timeout - (time.monotonic() - t0)
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        try:
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=max(remaining, 1), cwd=tempfile.gettempdir(),
                                  env=env)
            stderr = proc.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            status = "module timeout"
            stderr = (e.stderr or b"").decode(errors="replace")
        current = None
        ended = False
        with open(out) as f:
            for line in f:
                try:
                    kind, tid, detail = json.loads(line)
                except ValueError:
                    continue
                if kind == "TOTAL":
                    total = int(detail) if total is None else total
                elif kind == "START":
                    current = tid
                elif kind == "STOP":
                    current = None
                elif kind == "END":
                    ended = True
                else:
                    prev = results.get(tid)
                    if prev is None or prev[0] == "PASS":  # keep the worst outcome
                        results[tid] = (kind, detail)
        if ended or status != "ok":
            if not ended and current is not None and current not in results:
                results[current] = ("ERROR", "module timeout while running")
            break
        if current is None:
            if total is None:  # the module failed to import / load
                results[f"test.{module} (load)"] = ("ERROR", stderr[-3000:])
            status = status if status != "ok" else "child died"
            break
        if current not in results:
            hung.append(current)
            results[current] = ("ERROR", "hung or crashed (killed after %ss):\n%s"
                                % (test_timeout, stderr[-3000:]))
    for p in (out, out + ".skip"):
        try:
            os.unlink(p)
        except OSError:
            pass
    counts = {"PASS": 0, "FAIL": 0, "ERROR": 0, "SKIP": 0}
    for kind, _ in results.values():
        counts[kind] += 1
    return {"module": module, "mode": mode, "status": status, "total": total,
            "counts": counts, "results": results, "seconds": time.monotonic() - t0}


def load_xfails() -> dict:
    xf = {}
    if os.path.exists(XFAIL_FILE):
        with open(XFAIL_FILE) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                tid, _, reason = line.partition("#")
                xf[tid.strip()] = reason.strip()
    return xf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child")
    ap.add_argument("--mode", default="dill")
    ap.add_argument("--out")
    ap.add_argument("--skip-file")
    ap.add_argument("--modules", default=",".join(MODULES))
    ap.add_argument("--modes", default="dill,gevent")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--module-timeout", type=float, default=900)
    ap.add_argument("--test-timeout", type=float, default=120)
    ap.add_argument("--json", help="write all results to this file")
    ap.add_argument("--show-failures", action="store_true",
                    help="print the traceback of each unexpected failure")
    a = ap.parse_args()
    if a.child:
        skip = set()
        if a.skip_file and os.path.exists(a.skip_file):
            with open(a.skip_file) as f:
                skip = {line.strip() for line in f if line.strip()}
        child(a.child, a.mode, a.out, skip, a.test_timeout)
        return 0

    modules = [m for m in a.modules.split(",") if m]
    modes = [m for m in a.modes.split(",") if m]
    jobs = [(m, mode) for m in modules for mode in modes]
    with ThreadPoolExecutor(a.jobs) as ex:
        futs = {ex.submit(run_module, m, mode, a.module_timeout, a.test_timeout): (m, mode)
                for m, mode in jobs}
        out = {}
        for fut in futs:
            r = fut.result()
            out[(r["module"], r["mode"])] = r
            c = r["counts"]
            print(f"{r['mode']:7} {r['module']:18} pass {c['PASS']:4}  fail {c['FAIL']:3}  "
                  f"error {c['ERROR']:3}  skip {c['SKIP']:4}  ({r['seconds']:.0f}s"
                  f"{', ' + r['status'] if r['status'] != 'ok' else ''})", flush=True)

    xfails = load_xfails()
    rc = 0
    if "dill" in modes:
        print("\n## dill: failures not in the expected-failure list")
        for m in modules:
            r = out.get((m, "dill"))
            for tid, (kind, detail) in sorted(r["results"].items()):
                if kind in ("FAIL", "ERROR") and tid not in xfails:
                    rc = 1
                    print(f"  {kind}: {tid}")
                    if a.show_failures:
                        print("    " + detail.replace("\n", "\n    "))
        print("\n## dill: expected failures that passed")
        for m in modules:
            r = out.get((m, "dill"))
            for tid, (kind, _) in sorted(r["results"].items()):
                if kind == "PASS" and tid in xfails:
                    print(f"  {tid}")

    def cell(r):
        if r is None:
            return "-"
        c = r["counts"]
        ran = c["PASS"] + c["FAIL"] + c["ERROR"]
        pct = 100.0 * c["PASS"] / ran if ran else 0.0
        extra = "" if r["status"] == "ok" else f" ({r['status']})"
        return f"{c['PASS']}/{ran} ({pct:.1f}%){extra}"

    print("\n| module | " + " | ".join(modes) + " |")
    print("|---|" + "---|" * len(modes))
    for m in modules:
        print(f"| {m} | " + " | ".join(cell(out.get((m, mode))) for mode in modes) + " |")
    print("\n(passed / run, skipped tests excluded; a test with a failing subtest counts "
          "as failed)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({f"{m}:{mode}": {k: v for k, v in r.items()}
                       for (m, mode), r in out.items()}, f, indent=1, default=list)
    return rc


if __name__ == "__main__":
    sys.exit(main())
