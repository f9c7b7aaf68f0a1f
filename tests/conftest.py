"""Shared fixtures and helpers for dill's core tests.

Every test runs on the main thread's hub.  ``clean_hub`` (autouse) checks that a
test leaves the scheduler idle: nothing in the ready queue and the root task
running, so one test's leftovers cannot make another pass or fail.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import settings

import dill
from dill import _hub

# Property tests draw the same examples in every run: a failure found in CI can
# be replayed, and a run passes or fails for the code, not for the draw.
settings.register_profile("dill", derandomize=True)
settings.load_profile("dill")

_OTHER_SUITES = ("net", "dropin")  # owned elsewhere: the core check stays out of them


@pytest.fixture(autouse=True)
def clean_hub(request):
    parts = request.node.path.parts
    if any(p in parts for p in _OTHER_SUITES):
        yield None
        return
    hub = _hub.get_hub()
    assert hub.current is hub.root, "a previous test left the root task switched out"
    yield hub
    assert hub.current is hub.root
    leftovers = [t for t in hub.ready if t is not hub.root]
    assert not leftovers, f"test left {len(leftovers)} ready coroutine(s) behind"
    assert hub.root.pending_exc is None, f"undelivered interrupt: {hub.root.pending_exc!r}"
    assert not hub.root.canceled


class Unraisables(list):
    """Collected ``sys.unraisablehook`` calls (exc_value, err_msg, object)."""

    def excs(self):
        return [u[0] for u in self]


@pytest.fixture
def unraisable(monkeypatch):
    got = Unraisables()

    def hook(u):
        got.append((u.exc_value, u.err_msg, u.object))

    monkeypatch.setattr(sys, "unraisablehook", hook)
    yield got


@pytest.fixture
def ch():
    """A rendezvous channel whose ends are closed after the test."""
    a, b = dill.chmake()
    yield a, b
    a.close()
    b.close()
