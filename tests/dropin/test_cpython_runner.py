"""run_cpython_tests.py's bookkeeping: resume from saved results, gaps, tables."""

from __future__ import annotations

import argparse

import pytest

import run_cpython_tests as runner


def _result(module, mode, passed, failures=(), total=None, status="ok"):
    fails = {tid: ["FAIL", "boom"] for tid in failures}
    return {"module": module, "mode": mode, "status": status,
            "total": total if total is not None else passed + len(fails),
            "counts": {"PASS": passed, "FAIL": len(fails), "ERROR": 0, "SKIP": 0},
            "seconds": 1.0, "failures": fails}


def test_gaps_are_dill_failures_that_pass_plain():
    results = {
        "test_a:plain": _result("test_a", "plain", 2, ["test.test_a.T.both"]),
        "test_a:dill": _result("test_a", "dill", 1, ["test.test_a.T.both",
                                                     "test.test_a.T.listed",
                                                     "test.test_a.T.new"]),
    }
    xfails = {"test.test_a.T.listed": "why", "test.test_a.T.fixed": "was broken"}
    listed, unlisted, fixed = runner.gaps(results, ["test_a"], xfails)
    assert listed == [("test_a", "FAIL", "test.test_a.T.listed")]
    assert unlisted == [("test_a", "FAIL", "test.test_a.T.new")]
    assert fixed == ["test.test_a.T.fixed"]


def test_table_shows_each_denominator_and_totals():
    results = {"test_a:plain": _result("test_a", "plain", 3, total=5),
               "test_a:dill": _result("test_a", "dill", 2, ["x"], total=5,
                                      status="module timeout")}
    lines = runner.table(results, ["test_a"], ["plain", "gevent", "dill"])
    assert lines[2] == "| test_a | 3/3 of 5 | - | 2/3 of 5 (module timeout) |"
    assert lines[3] == "| **all** | **3/3** | **0/0** | **2/3** |"


def test_summary_names_modules_where_dill_trails_gevent():
    results = {"test_a:gevent": _result("test_a", "gevent", 5),
               "test_a:dill": _result("test_a", "dill", 4),
               "test_b:gevent": _result("test_b", "gevent", 1),
               "test_b:dill": _result("test_b", "dill", 1)}
    s = runner.summary(results, ["test_a", "test_b"], ["gevent", "dill"])
    assert s == {"passes": {"gevent": 6, "dill": 5}, "dill_behind_gevent": ["test_a"]}


def test_a_rerun_resumes_from_the_saved_results(tmp_path, monkeypatch):
    path = str(tmp_path / "r.json")
    runner.save_results(path, {"test_a:plain": _result("test_a", "plain", 1)},
                        runner.environment())
    ran = []

    def fake_run_module(module, mode, module_timeout, test_timeout):
        ran.append((module, mode))
        return _result(module, mode, 1)

    monkeypatch.setattr(runner, "run_module", fake_run_module)
    args = argparse.Namespace(rerun=False, results=path, jobs=2, module_timeout=1,
                              test_timeout=1)
    results = runner.run_all(["test_a"], ["plain", "dill"], args)
    assert ran == [("test_a", "dill")]
    assert set(runner.load_results(path)) == set(results) == {"test_a:plain", "test_a:dill"}


def test_child_refuses_a_mode_whose_patching_is_not_in_effect():
    with pytest.raises(SystemExit, match="not patched"):
        runner._check_patched("dill")
    runner._check_patched("plain")


def test_rerun_replaces_only_the_selected_pairs(tmp_path, monkeypatch):
    path = str(tmp_path / "r.json")
    runner.save_results(path, {"test_a:plain": _result("test_a", "plain", 1),
                               "test_a:dill": _result("test_a", "dill", 1)},
                        runner.environment())
    monkeypatch.setattr(runner, "run_module",
                        lambda module, mode, mt, tt: _result(module, mode, 7))
    args = argparse.Namespace(rerun=True, results=path, jobs=1, module_timeout=1,
                              test_timeout=1)
    runner.run_all(["test_a"], ["dill"], args)
    saved = runner.load_results(path)
    assert saved["test_a:dill"]["counts"]["PASS"] == 7
    assert saved["test_a:plain"]["counts"]["PASS"] == 1
