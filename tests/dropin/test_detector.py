"""The blocking detector: off by default, reports coroutines that hold the hub."""

import io
import os
import subprocess
import sys
import threading
import time

import greenlet
import pytest

import dill
from dill import fdclean, fdin, go, hclose, msleep, now, yield_
from dill import _hub
from dill._detector import disable_blocking_detector, enable_blocking_detector

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def report():
    out = io.StringIO()
    enable_blocking_detector(threshold_ms=40, file=out)
    try:
        yield out
    finally:
        disable_blocking_detector()


def wait_for(pred, timeout=1.0):
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        time.sleep(0.005)
    return pred()


def test_off_by_default_and_after_disable():
    if os.environ.get("DILL_BLOCKING_DETECTOR"):
        pytest.skip("enabled by the environment")
    from dill._detector import _on_new_hub  # the detector's hook (others may have theirs)

    assert greenlet.gettrace() is None
    assert _on_new_hub not in _hub.hub_created
    enable_blocking_detector(50, file=io.StringIO())
    assert greenlet.gettrace() is not None
    assert _on_new_hub in _hub.hub_created
    disable_blocking_detector()
    assert greenlet.gettrace() is None
    assert _on_new_hub not in _hub.hub_created
    disable_blocking_detector()  # twice: a no-op


def test_watchdog_is_one_of_dills_own_threads(report):
    from dill import _detector
    from dill._threads import own_thread_idents

    ident = _detector._detector.ident
    assert ident in own_thread_idents()
    dill.disable_blocking_detector()
    assert wait_for(lambda: ident not in own_thread_idents())  # forgotten once gone


def test_reports_a_coroutine_that_blocks(report):
    def hog():
        msleep(now() + 1)
        time.sleep(0.15)  # not a dill call: the hub is held

    cr = go(hog)
    cr.wait()
    text = report.getvalue()
    assert "a coroutine" in text and "held its hub" in text
    assert "in hog" in text and "time.sleep(0.15)" in text
    assert text.count("blocking detector") == 1  # reported once per hold


def test_switching_coroutines_are_not_reported(report):
    def busy_but_polite():
        end = time.monotonic() + 0.15
        while time.monotonic() < end:
            yield_()

    with dill.bundle() as b:
        b.go(busy_but_polite)
        b.go(busy_but_polite)
        b.wait()
    assert report.getvalue() == ""


def test_an_idle_hub_is_not_reported(report):
    cr = go(msleep, now() + 150)
    msleep(now() + 150)  # the hub sleeps in its poller
    hclose(cr)
    assert report.getvalue() == ""


def test_root_code_without_coroutines_is_not_reported(report):
    time.sleep(0.15)  # a plain program computing: nothing waits for the hub
    assert report.getvalue() == ""


def test_leftovers_of_ended_waits_do_not_count_as_waiters(report):
    """A dead timer entry and an fd still registered with nobody waiting on it
    (both kept after their waits ended, by design) are not coroutines waiting
    for the hub: the root computing is still not reported."""
    r, w = os.pipe()
    try:
        hclose(go(msleep, now() + 3_600_000))      # its timer entry stays, dead
        os.write(w, b"x")
        fdin(r, now() + 1000)                      # the fd stays registered
        assert _hub.get_hub().timers and _hub.get_hub().nregistered
        time.sleep(0.15)
        assert report.getvalue() == ""
    finally:
        fdclean(r)
        os.close(r)
        os.close(w)


def test_root_code_starving_coroutines_is_reported(report):
    cr = go(msleep, now() + 10)  # a timer is due while the root blocks
    time.sleep(0.15)
    assert wait_for(lambda: "root code" in report.getvalue())
    hclose(cr)


def test_hubs_made_later_in_other_threads_are_covered(report):
    idents = []

    def thread_main():
        idents.append(threading.get_ident())
        cr = go(time.sleep, 0.15)
        cr.wait()

    t = threading.Thread(target=thread_main)
    t.start()
    t.join(5)
    assert f"(thread_main)' {idents[0]} has held" in report.getvalue()


def test_other_threads_unhook_themselves_after_disable():
    traces = []
    go_on = threading.Event()
    enabled = threading.Event()

    def thread_main():
        dill.yield_()  # make the hub (and install the hook)
        traces.append(greenlet.gettrace() is not None)
        enabled.set()
        go_on.wait(5)
        dill.yield_()  # one switch: the hook removes itself
        cr = go(lambda: None)
        hclose(cr)
        traces.append(greenlet.gettrace() is None)

    enable_blocking_detector(40, file=io.StringIO())
    t = threading.Thread(target=thread_main)
    t.start()
    enabled.wait(5)
    disable_blocking_detector()
    go_on.set()
    t.join(5)
    assert traces == [True, True]


def test_enable_again_replaces_settings(report):
    other = io.StringIO()
    enable_blocking_detector(threshold_ms=30, file=other)
    cr = go(time.sleep, 0.12)
    cr.wait()
    assert "threshold 30 ms" in other.getvalue()
    assert report.getvalue() == ""


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-5, ValueError),
                                      ("100", TypeError), (True, TypeError)])
def test_bad_threshold(bad, exc):
    with pytest.raises(exc):
        enable_blocking_detector(bad)


def test_environment_variable_enables_it():
    script = (
        "import time, dill, dill._detector\n"
        "cr = dill.go(time.sleep, 0.15)\n"
        "cr.wait()\n"
    )
    env = dict(os.environ, DILL_BLOCKING_DETECTOR="40")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "blocking detector" in r.stderr and "threshold 40 ms" in r.stderr
