"""run_urllib3_tests.py's plugin: one outcome per test from its phases, trio tests apart."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import run_urllib3_tests as plugin


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(plugin, "_outcomes", {})


def _report(nodeid, when, outcome, **extra):
    return SimpleNamespace(nodeid=nodeid, when=when, failed=outcome == "failed",
                           skipped=outcome == "skipped", **extra)


def test_the_worst_phase_wins():
    for when, outcome in (("setup", "passed"), ("call", "passed"), ("teardown", "failed")):
        plugin.pytest_runtest_logreport(_report("t::a", when, outcome))
    plugin.pytest_runtest_logreport(_report("t::b", "setup", "skipped"))
    plugin.pytest_runtest_logreport(_report("t::c", "setup", "passed"))
    plugin.pytest_runtest_logreport(_report("t::c", "call", "skipped", wasxfail=""))
    assert plugin._outcomes == {"t::a": "failed", "t::b": "skipped", "t::c": "xfailed"}


def test_tally_counts_trio_server_tests_apart():
    t = plugin.tally({"a": ["passed", False], "b": ["failed", True], "c": ["failed", True]})
    assert t["other"] == {"passed": 1, "failed": 0, "skipped": 0, "xfailed": 0}
    assert t["trio"] == {"passed": 0, "failed": 2, "skipped": 0, "xfailed": 0}


class HypercornDummyServerTestCase:
    pass


class ServerSuite(HypercornDummyServerTestCase):
    pass


def _fixture_starting_a_server():
    HypercornDummyServerTestCase()


def test_trio_servers_are_found_by_class_or_fixture():
    by_class = SimpleNamespace(cls=ServerSuite, _fixtureinfo=None)
    fixture = SimpleNamespace(func=_fixture_starting_a_server)
    by_fixture = SimpleNamespace(cls=None, _fixtureinfo=SimpleNamespace(
        name2fixturedefs={"pool": [fixture]}))
    plain = SimpleNamespace(cls=None, _fixtureinfo=SimpleNamespace(
        name2fixturedefs={"tmp": [SimpleNamespace(func=test_tally_counts_trio_server_tests_apart)]}))
    assert plugin._uses_trio_server(by_class)
    assert plugin._uses_trio_server(by_fixture)
    assert not plugin._uses_trio_server(plain)
