#!/usr/bin/env python
"""Run CPython's own test modules, unmodified, plain and under gevent's and dill's patching.

    python tests/dropin/run_cpython_tests.py [--wide] [--modules test_socket,test_ssl]
                                             [--modes plain,gevent,dill] [--jobs 2]
                                             [--module-timeout 900] [--test-timeout 120]
                                             [--results FILE.json] [--rerun]
    python tests/dropin/run_cpython_tests.py --wide --readme   # tables from the results

Each (module, mode) pair runs in its own subprocess, patched the way each library
documents it, before anything else is imported: ``plain`` is the unpatched
interpreter (the real ceiling), ``gevent`` runs under ``python -m gevent.monkey``,
``dill`` under ``python -m dill.patch``.  Every mode runs the same modules with the
same test resources.  The child reports one line per test, so a test that hangs
(killed by ``faulthandler`` after ``--test-timeout`` s) is recorded as an error
and the child is restarted after it.

With ``--results`` (``--wide`` implies ``cpython_wide.json`` here) each finished
pair is saved at once, and a rerun skips the pairs already saved (``--rerun``
runs them again), so an interrupted run resumes.  ``--readme`` writes
``cpython_wide.md`` (the full table, the unlisted gaps) from that file and
refreshes the summary in README.md.

It prints the dill failures that pass plain and are not listed in
``cpython_expected_failures.txt`` (one ``test id  # reason`` per line), listed
tests that now pass, and a markdown table.  Not part of the pytest run (it takes
an hour); ``test_cpython_smoke`` in the pytest suite runs two quick modules.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
XFAIL_FILE = os.path.join(HERE, "cpython_expected_failures.txt")
WIDE_RESULTS = os.path.join(HERE, "cpython_wide.json")
WIDE_TABLE = os.path.join(HERE, "cpython_wide.md")
README = os.path.join(ROOT, "README.md")
README_START = "<!-- cpython-wide:start (run_cpython_tests.py --wide --readme) -->"
README_END = "<!-- cpython-wide:end -->"

# test_socketserver needs the "network" resource to load at all, and only uses
# loopback; everything else runs as regrtest without -u (no internet, no cpu hogs).
RESOURCES = {"test_socketserver": ["network"]}

MODULES = ["test_threading", "test_queue", "test_thread", "test_socket", "test_select",
           "test_selectors", "test_socketserver", "test_subprocess", "test_ssl",
           "test_time"]

# Every module of the interpreter's suite that exercises sockets, TLS,
# select/selectors, threads, queues, subprocesses, signals, fork, asyncore/asynchat,
# socketserver, http, urllib, the mail and file-transfer clients, xmlrpc and logging.
WIDE_MODULES = MODULES + [
    "test_threading_local", "test_threadedtempfile", "test_threadsignals", "test_sched",
    "test_epoll", "test_poll", "test_signal", "test_fork1",
    "test_wait3", "test_wait4", "test_pty", "test_timeout", "test_asyncore",
    "test_asynchat", "test_smtpd", "test_ftplib", "test_poplib", "test_smtplib",
    "test_imaplib", "test_nntplib", "test_telnetlib", "test_httplib", "test_httpservers",
    "test_urllib", "test_urllib2", "test_urllib2_localnet", "test_robotparser",
    "test_wsgiref", "test_xmlrpc", "test_docxmlrpc", "test_logging",
]

MODES = ("plain", "gevent", "dill")
# --no-inspect: the inspection listener is one more (dill-owned) OS thread, which
# CPython's thread-counting tests would see; the suites test patching, not it.
PATCH_ARGS = {"plain": [], "gevent": ["-m", "gevent.monkey"],
              "dill": ["-m", "dill.patch", "--no-inspect"]}


# ----------------------------------------------------------------------- child

def _check_patched(mode: str) -> None:
    """Refuse to report results for a mode whose patching is not in effect."""
    import socket
    import threading as th
    if mode == "dill":
        ok = getattr(socket.socket, "_dill_green", False)
    elif mode == "gevent":
        ok = socket.socket.__module__.startswith("gevent")
    else:
        ok = th.Lock.__module__ in ("_thread", "threading") and socket.socket.__module__ == "socket"
    if not ok:
        raise SystemExit(f"mode {mode}: the process is not patched as it should be")


def child(module: str, mode: str, out: str, skip: set, test_timeout: float) -> None:
    """Run one test module in this (already patched) process, one JSON line per event."""
    _check_patched(mode)
    import faulthandler
    import importlib
    import unittest

    from test import support
    support.use_resources = RESOURCES.get(module, [])
    support.verbose = False

    f = open(out, "a", buffering=1)

    def emit(kind: str, test: object, detail: str = "") -> None:
        tid = test.id() if hasattr(test, "id") else str(test)
        f.write(json.dumps([kind, tid, detail[-2000:]]) + "\n")

    def finish() -> None:
        f.write(json.dumps(["END", "", ""]) + "\n")
        f.close()
        sys.stdout.flush()
        os._exit(0)  # don't let leftover threads of a failed test hang the exit

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

    try:
        mod = importlib.import_module("test." + module)
    except unittest.SkipTest as e:  # as regrtest: the whole module is skipped
        f.write(json.dumps(["TOTAL", "", "1"]) + "\n")
        emit("SKIP", f"test.{module} (load)", str(e))
        finish()
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
    finish()


# ---------------------------------------------------------------------- parent

def _read_events(out: str, results: dict) -> tuple:
    """Fold one child's event file into ``results``; (total, test running at the end, ended)."""
    total = current = None
    ended = False
    with open(out) as f:
        for line in f:
            try:
                kind, tid, detail = json.loads(line)
            except ValueError:
                continue
            if kind == "TOTAL":
                total = int(detail)
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
    return total, current, ended


def run_module(module: str, mode: str, module_timeout: float, test_timeout: float) -> dict:
    """Run one module in one mode; restart after a hung test.  Returns the tallies."""
    results: dict[str, tuple] = {}  # test id -> (kind, detail)
    total = None
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix=f"cpy-{mode}-{module}-")  # the child's cwd, its own
    out = os.path.join(work, "events.jsonl")
    skipfile = os.path.join(work, "skip.txt")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    status = "ok"
    while True:
        with open(skipfile, "w") as sf:
            sf.write("\n".join(sorted(results)))
        cmd = ([sys.executable] + PATCH_ARGS[mode]
               + [os.path.abspath(__file__), "--child", module, "--mode", mode, "--out", out,
                  "--skip-file", skipfile, "--test-timeout", str(test_timeout)])
        open(out, "w").close()
        remaining = module_timeout - (time.monotonic() - t0)
        try:
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=max(remaining, 1), cwd=work, env=env)
            stderr = proc.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            status = "module timeout"
            stderr = (e.stderr or b"").decode(errors="replace")
        n, current, ended = _read_events(out, results)
        total = n if total is None else total
        if ended or status != "ok":
            if not ended and current is not None and current not in results:
                results[current] = ("ERROR", "module timeout while running")
            break
        if current is None:
            if total is None:  # the module failed to import / load
                results[f"test.{module} (load)"] = ("ERROR", stderr[-3000:])
            status = "child died"
            break
        if current not in results:
            results[current] = ("ERROR", "hung or crashed (killed after %ss):\n%s"
                                % (test_timeout, stderr[-3000:]))
    shutil.rmtree(work, ignore_errors=True)
    counts = {"PASS": 0, "FAIL": 0, "ERROR": 0, "SKIP": 0}
    for kind, _ in results.values():
        counts[kind] += 1
    return {"module": module, "mode": mode, "status": status, "total": total,
            "counts": counts, "seconds": round(time.monotonic() - t0, 1),
            "failures": {tid: [kind, detail[-600:]] for tid, (kind, detail)
                         in sorted(results.items()) if kind in ("FAIL", "ERROR")}}


def load_xfails() -> dict:
    """``{test id: reason}`` from cpython_expected_failures.txt."""
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


def load_results(path: str | None) -> dict:
    """``{"module:mode": result}`` saved by an earlier run (empty without a file)."""
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)["results"]
    return {}


def environment() -> dict:
    """Where and with what the results were measured."""
    versions = {"python": platform.python_version()}
    for name in ("gevent", "greendill"):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - not installed
            versions[name] = "-"
    commit = os.environ.get("RUN_CPYTHON_COMMIT", "")  # a run of an exported copy
    if not commit:
        try:
            commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
                       f"{platform.release()}",
            "versions": versions, "dill_commit": commit or "-"}


def save_results(path: str, results: dict, env: dict) -> None:
    """Write the results atomically (a crash mid-write keeps the previous file)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"environment": env, "results": results}, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def run_all(modules: list, modes: list, args: argparse.Namespace) -> dict:
    """Run the pairs not saved yet (all of them with ``--rerun``), two (``--jobs``) at a
    time; return every result, the other saved pairs included."""
    results = load_results(args.results)
    todo = [(m, mode) for m in modules for mode in modes
            if args.rerun or f"{m}:{mode}" not in results]
    env = environment()
    lock = threading.Lock()

    def one(pair):
        r = run_module(pair[0], pair[1], args.module_timeout, args.test_timeout)
        c = r["counts"]
        with lock:
            results[f"{pair[0]}:{pair[1]}"] = r
            if args.results:
                save_results(args.results, results, env)
            print(f"{r['mode']:7} {r['module']:24} pass {c['PASS']:4}  fail {c['FAIL']:3}  "
                  f"error {c['ERROR']:3}  skip {c['SKIP']:4}  ({r['seconds']:.0f}s"
                  f"{', ' + r['status'] if r['status'] != 'ok' else ''})", flush=True)

    with ThreadPoolExecutor(args.jobs) as ex:
        for fut in [ex.submit(one, pair) for pair in todo]:
            fut.result()
    return results


# -------------------------------------------------------------------- reports

def cell(r: dict | None) -> str:
    """``passed/ran of total`` for one module and mode."""
    if r is None:
        return "-"
    c = r["counts"]
    ran = c["PASS"] + c["FAIL"] + c["ERROR"]
    extra = "" if r["status"] == "ok" else f" ({r['status']})"
    return f"{c['PASS']}/{ran} of {r['total'] if r['total'] is not None else '?'}{extra}"


def gaps(results: dict, modules: list, xfails: dict) -> tuple:
    """dill's failures that pass plain: (listed, unlisted), and listed ones that pass."""
    listed, unlisted, fixed = [], [], []
    for m in modules:
        d, p = results.get(f"{m}:dill"), results.get(f"{m}:plain")
        if d is None:
            continue
        plain_bad = set(p["failures"]) if p else set()
        for tid, (kind, _) in sorted(d["failures"].items()):
            if tid in plain_bad:
                continue
            (listed if tid in xfails else unlisted).append((m, kind, tid))
        for tid in xfails:
            if tid.startswith(f"test.{m}.") and tid not in d["failures"]:
                fixed.append(tid)
    return listed, unlisted, fixed


def table(results: dict, modules: list, modes: list) -> list:
    """The markdown table (one row per module, a totals row), as lines."""
    lines = ["| module | " + " | ".join(modes) + " |", "|---|" + "--:|" * len(modes)]
    sums = {mode: [0, 0] for mode in modes}
    for m in modules:
        row = []
        for mode in modes:
            r = results.get(f"{m}:{mode}")
            row.append(cell(r))
            if r is not None:
                c = r["counts"]
                sums[mode][0] += c["PASS"]
                sums[mode][1] += c["PASS"] + c["FAIL"] + c["ERROR"]
        lines.append(f"| {m} | " + " | ".join(row) + " |")
    lines.append("| **all** | " + " | ".join(f"**{p}/{n}**" for p, n in sums.values()) + " |")
    return lines


def summary(results: dict, modules: list, modes: list) -> dict:
    """Passes per mode, and the modules where dill passes fewer than gevent."""
    passes = {mode: sum(results[f"{m}:{mode}"]["counts"]["PASS"] for m in modules
                        if f"{m}:{mode}" in results) for mode in modes}
    behind = [m for m in modules if f"{m}:dill" in results and f"{m}:gevent" in results
              and results[f"{m}:dill"]["counts"]["PASS"]
              < results[f"{m}:gevent"]["counts"]["PASS"]]
    return {"passes": passes, "dill_behind_gevent": behind}


def write_reports(path: str, modules: list, modes: list) -> None:
    """cpython_wide.md from the results file, and the summary block in README.md."""
    with open(path) as f:
        saved = json.load(f)
    results, env = saved["results"], saved["environment"]
    listed, unlisted, _ = gaps(results, modules, load_xfails())
    s = summary(results, modules, modes)
    v = env["versions"]
    where = (f"{env['date']}; {env['machine']}; CPython {v['python']}, gevent {v['gevent']}, "
             f"greendill {v['greendill']} (commit {env['dill_commit']})")
    head = ("CPython's own test modules, unmodified, each run in its own subprocess "
            "plain, under `python -m gevent.monkey` and under `python -m dill.patch`, "
            "with the same selection and resources in every mode. A cell is "
            "passed / run of the tests the module has (skipped tests are the difference); "
            "a test with a failing subtest, or that hangs, counts as failed.")
    md = ["# CPython's suite, wide: plain, gevent, dill", "", head, "", f"Measured {where}.",
          "Regenerate: `python tests/dropin/run_cpython_tests.py --wide` (resumes), then "
          "`--wide --readme`.", ""]
    md += table(results, modules, modes)
    md += ["", f"dill passes fewer tests than gevent on: "
           f"{', '.join(s['dill_behind_gevent']) or 'no module'}.", "",
           "## dill's gaps to plain", "",
           f"{len(listed)} tests pass plain and fail under dill; each is listed with its "
           "reason in `cpython_expected_failures.txt`."]
    if unlisted:
        md += ["", f"Not listed yet ({len(unlisted)}):", ""]
        md += [f"- {kind}: `{tid}`" for _, kind, tid in unlisted]
    with open(WIDE_TABLE, "w") as f:
        f.write("\n".join(md) + "\n")
    p = s["passes"]
    ten = [m for m in MODULES if m in modules]
    block = [README_START, f"The ten modules of the drop-in work ({where}):", ""]
    block += table(results, ten, modes)
    block += ["", f"Wide run, {len(modules)} modules, the ten included: passed tests plain "
             f"**{p.get('plain', 0):,}**, gevent **{p.get('gevent', 0):,}**, dill "
             f"**{p.get('dill', 0):,}**; dill passes fewer than gevent on "
             f"{', '.join(s['dill_behind_gevent']) or 'no module'}. "
             + (f"{len(unlisted)} tests that pass plain and fail under dill are not listed "
                "yet; the others are" if unlisted else
                "Every test that passes plain and fails under dill is")
             + " listed with its reason in `tests/dropin/cpython_expected_failures.txt`. "
             "Per module, with each denominator: "
             "[tests/dropin/cpython_wide.md](tests/dropin/cpython_wide.md).",
             README_END]
    with open(README) as f:
        text = f.read()
    if README_START in text:
        before, rest = text.split(README_START, 1)
        text = before + "\n".join(block) + rest.split(README_END, 1)[1]
        with open(README, "w") as f:
            f.write(text)
    print("\n".join(block))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child")
    ap.add_argument("--mode", default="dill", choices=MODES)
    ap.add_argument("--out")
    ap.add_argument("--skip-file")
    ap.add_argument("--wide", action="store_true", help="the wide module list")
    ap.add_argument("--modules")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--module-timeout", type=float, default=900)
    ap.add_argument("--test-timeout", type=float, default=120)
    ap.add_argument("--results", help="results file: saved as it goes, resumed from")
    ap.add_argument("--rerun", action="store_true",
                    help="run the selected pairs again even if saved (others are kept)")
    ap.add_argument("--readme", action="store_true",
                    help="write cpython_wide.md and the README summary from the results")
    ap.add_argument("--show-failures", action="store_true",
                    help="print the traceback of each unlisted failure")
    a = ap.parse_args()
    if a.child:
        skip = set()
        if a.skip_file and os.path.exists(a.skip_file):
            with open(a.skip_file) as f:
                skip = {line.strip() for line in f if line.strip()}
        child(a.child, a.mode, a.out, skip, a.test_timeout)
        return 0

    if a.wide and not a.results:
        a.results = WIDE_RESULTS
    modules = [m for m in a.modules.split(",") if m] if a.modules else (
        WIDE_MODULES if a.wide else MODULES)
    modes = [m for m in a.modes.split(",") if m]
    if a.readme:
        write_reports(a.results, modules, modes)
        return 0
    results = run_all(modules, modes, a)

    rc = 0
    if "dill" in modes:
        listed, unlisted, fixed = gaps(results, modules, load_xfails())
        print("\n## dill: failures not in the expected-failure list"
              + ("" if "plain" in modes else " (no plain run: all failures)"))
        for m, kind, tid in unlisted:
            rc = 1
            print(f"  {kind}: {tid}")
            if a.show_failures:
                detail = results[f"{m}:dill"]["failures"][tid][1]
                print("    " + detail.replace("\n", "\n    "))
        print("\n## dill: expected failures that passed")
        for tid in fixed:
            print(f"  {tid}")
    print()
    print("\n".join(table(results, modules, modes)))
    print("\n(passed / run of total; skipped tests are the difference)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
