#!/usr/bin/env python
"""Run urllib3's own ``test/with_dummyserver`` plain, under gevent and under dill.

    python tests/dropin/run_urllib3_tests.py URLLIB3_SDIST_DIR [--python PY]
                                             [--modes plain,gevent,dill] [--out DIR]

``URLLIB3_SDIST_DIR`` is an unpacked sdist (``pip download --no-binary :all:
--no-deps urllib3==2.8.0``: it ships ``test/`` and ``dummyserver/``); ``PY`` an
interpreter with urllib3, its test requirements, gevent and greenlet installed
(dill comes from this checkout).  Each mode is one pytest run, patched first thing
(``python -m gevent.monkey --module pytest``, ``python -m dill.patch -m pytest``),
with this file loaded as a pytest plugin that records each test's outcome and
whether it uses a server that runs trio in a thread (hypercorn): trio refuses
patched locks, so those tests fail under any patching and are counted apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODES = ("plain", "gevent", "dill")
PATCH_ARGS = {"plain": ["-m", "pytest"], "gevent": ["-m", "gevent.monkey", "--module", "pytest"],
              "dill": ["-m", "dill.patch", "-m", "pytest"]}
OUTCOMES = ("passed", "failed", "skipped", "xfailed")
_REPORT_ENV = "URLLIB3_OUTCOMES_FILE"

# ------------------------------------------------------------ the pytest plugin

_outcomes: dict = {}
_trio: set = set()


_TRIO_STARTERS = {"run_server_in_thread", "run_server_and_proxy_in_thread",
                  "run_hypercorn_in_thread"}


def _is_hypercorn_class(obj) -> bool:
    return isinstance(obj, type) and any("Hypercorn" in b.__name__ for b in obj.__mro__)


def _uses_trio_server(item) -> bool:
    """The test runs against hypercorn (trio in a thread): by its class, or a fixture
    that starts one (directly or through a Hypercorn test-case class)."""
    if _is_hypercorn_class(getattr(item, "cls", None)):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        for d in defs:
            code = getattr(d.func, "__code__", None)
            if code is None:
                continue
            names = set(code.co_names)
            if _TRIO_STARTERS & names or any(
                    _is_hypercorn_class(d.func.__globals__.get(n)) for n in names):
                return True
    return False


def pytest_collection_modifyitems(session, config, items):
    """Note which tests use a trio server."""
    _trio.update(item.nodeid for item in items if _uses_trio_server(item))


def pytest_runtest_logreport(report):
    """Fold each phase into the test's outcome (the worst one wins)."""
    prev = _outcomes.get(report.nodeid)
    if hasattr(report, "wasxfail"):
        now = "xfailed" if report.skipped else "passed"
    elif report.failed:
        now = "failed"
    elif report.skipped:
        now = "skipped"
    elif report.when == "call":
        now = "passed"
    else:
        return
    if prev is None or (prev != "failed" and now == "failed"):
        _outcomes[report.nodeid] = now


def pytest_sessionfinish(session, exitstatus):
    """Write ``{nodeid: [outcome, uses trio]}`` where the runner asked."""
    path = os.environ.get(_REPORT_ENV)
    if path:
        with open(path, "w") as f:
            json.dump({k: [v, k in _trio] for k, v in sorted(_outcomes.items())}, f, indent=0)


# ------------------------------------------------------------------- the runner

def tally(outcomes: dict) -> dict:
    """Counts per outcome, for the tests without and with a trio server."""
    out = {"other": dict.fromkeys(OUTCOMES, 0), "trio": dict.fromkeys(OUTCOMES, 0)}
    for outcome, trio in outcomes.values():
        out["trio" if trio else "other"][outcome] += 1
    return out


def run_mode(mode: str, sdist: str, python: str, out_dir: str, timeout: float) -> dict:
    """One pytest run of test/with_dummyserver in ``mode``; returns the outcomes."""
    path = os.path.join(out_dir, f"urllib3-{mode}.json")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, ROOT, os.environ.get("PYTHONPATH", "")]),
               **{_REPORT_ENV: path})
    cmd = [python] + PATCH_ARGS[mode] + ["-p", "run_urllib3_tests", "-p", "no:cacheprovider",
                                         "-q", "--timeout", "30", "test/with_dummyserver"]
    with open(os.path.join(out_dir, f"urllib3-{mode}.log"), "w") as log:
        subprocess.run(cmd, cwd=sdist, env=env, stdout=log, stderr=subprocess.STDOUT,
                       timeout=timeout)
    with open(path) as f:
        return json.load(f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sdist")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", default=".")
    ap.add_argument("--timeout", type=float, default=3600)
    a = ap.parse_args()
    rows = []
    for mode in a.modes.split(","):
        t = tally(run_mode(mode, os.path.abspath(a.sdist), a.python, a.out, a.timeout))
        o, tr = t["other"], t["trio"]
        rows.append(f"| {mode} | {o['passed']} | {o['failed']} | {o['skipped']} | "
                    f"{tr['passed']} | {tr['failed']} | {tr['skipped']} |")
        print(rows[-1], flush=True)
    print("\n| mode | passed | failed | skipped | trio-server passed | trio-server failed "
          "| trio-server skipped |\n|---|--:|--:|--:|--:|--:|--:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
