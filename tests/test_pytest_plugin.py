"""The pytest plugin (``dill.pytest_plugin``, SPEC-TOOLS section 7), through ``pytester``.

In-process runs share the hub of this test runner, which is what a user's
suite gets; they also see this runner's SIGALRM taken by pytest-timeout, so
the plugin's timeout runs on its watchdog thread there.  Runs that need the
plugin's own SIGALRM (spinning code), ``dill.patch()``, signals, or a hub
that nothing else has touched (deadlock detection, the virtual clock's
autojump: tasks, fds or ``to_thread`` work that earlier tests of this runner
left behind would change them) run in a subprocess.  Every run is bounded: the
suite's own timeout, and ``timeout=`` on subprocess runs.
"""

from __future__ import annotations

import os
import re
import textwrap

import pytest

import dill
from dill import _hub

pytest_plugins = ["pytester"]

SUBPROCESS_S = 60

HEADER = """
import os, signal, time
import pytest
import dill
from dill import bundle, chmake, chrecv, chsend, fdin, go, hclose, msleep, now, yield_
"""


@pytest.fixture
def make_tests(pytester: pytest.Pytester):
    """Write a test module: the common imports, then ``body``."""

    def make(body: str, name: str = "test_inner") -> None:
        pytester.makepyfile(**{name: HEADER + textwrap.dedent(body)})

    return make


# Plugins the inner runs do without (hypothesis' summary alone costs seconds).
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")


def run_inprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess(*QUIET, *args)


def run_subprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*QUIET, *args, timeout=SUBPROCESS_S)


def expect(result: pytest.RunResult, *patterns: str, **outcomes: int) -> None:
    """The run had ``outcomes`` (if given) and printed lines matching ``patterns``
    in order (``fnmatch``, with ``[`` taken literally: trees show ``[running]``)."""
    if outcomes:
        result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines([p.replace("[", "[[]") for p in patterns])


@pytest.fixture
def leftovers():
    """Unfinished tasks of this runner's hub made since the test began (what
    earlier tests left is theirs)."""
    before = set(_hub.get_hub().all_tasks())
    return lambda: [t for t in _hub.get_hub().all_tasks() if not t.finished and t not in before]


def line_of(pytester: pytest.Pytester, text: str) -> int:
    """The line number of ``text`` in the inner test module."""
    lines = (pytester.path / "test_inner.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


# ------------------------------------------------------------ activation


def test_plugin_is_registered_with_its_marker_and_options(pytester):
    result = run_inprocess(pytester, "--markers")
    expect(result, "@pytest.mark.dill(clock=*timeout=*")
    result = run_inprocess(pytester, "--help")
    expect(result, "*--dill-timeout=S*", "*--dill-blocking-ms=N*",
                                 "*--dill-seed=N|random*", "*dill_mode*")


def test_unmarked_tests_are_untouched(make_tests, pytester):
    make_tests("""
        def test_leaks_and_is_not_watched():
            hub = dill._hub.get_hub()
            assert hub.recording == 0
            assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
            go(msleep, now() + 60_000)      # left behind: nobody checks

        @pytest.mark.dill
        def test_marked_is_watched():
            assert dill._hub.get_hub().recording == 1
            assert signal.getsignal(signal.SIGALRM) != signal.SIG_DFL
    """)
    run_subprocess(pytester).assert_outcomes(passed=2)


def test_dill_mode_auto_checks_every_test(make_tests, pytester):
    pytester.makeini("[pytest]\ndill_mode = auto\n")
    make_tests("""
        def test_leaks():
            go(msleep, now() + 60_000)
    """)
    result = run_inprocess(pytester)
    expect(result, "*dill: the test left behind 1 coroutine*", passed=1, errors=1)


def test_a_bad_dill_mode_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\ndill_mode = always\n")
    pytester.makepyfile("def test_x(): pass")
    result = run_inprocess(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*dill_mode must be one of marked, auto, not 'always'*"])


def test_marker_arguments_are_checked(make_tests, pytester):
    make_tests("""
        @pytest.mark.dill(clok="virtual")
        def test_typo():
            pass

        @pytest.mark.dill(clock="fake")
        def test_bad_clock():
            pass

        @pytest.mark.dill(timeout="soon")
        def test_bad_timeout():
            pass
    """)
    result = run_inprocess(pytester)
    expect(
        result,
        "*unknown argument(s) ['clok']; it takes clock, timeout*",
        "*clock=...) must be 'real' or 'virtual', not 'fake'*",
        "*timeout=...) takes seconds, not 'soon'*",
        errors=3,
    )


# ------------------------------------------------------------ leaks


def test_leaked_coroutine_channel_waiter_and_timer_fail_with_the_tree(make_tests, pytester,
                                                                    leftovers):
    make_tests("""
        def waiter(ch):
            chrecv(ch)

        def sleeper():
            msleep(now() + 60_000)

        @pytest.mark.dill
        def test_leaks():
            a, b = chmake()
            go(waiter, a)
            go(sleeper)

        BEFORE = set(dill._hub.get_hub().all_tasks())

        @pytest.mark.dill
        def test_next_test_starts_clean():
            hub = dill._hub.get_hub()
            assert not [t for t in hub.all_tasks() if not t.finished and t not in BEFORE]
    """)
    expect(
        run_inprocess(pytester),
        "*ERROR at teardown of test_leaks*",
        "dill: the test left behind 2 coroutines (1 in a channel wait, 1 on a timer); "
        "the plugin cleaned them up after this report.",
        "Leaked tasks:",
        "root (thread MainThread) [running]",
        "  coroutine waiter [blocked]  chrecv(<dill.ChannelEnd open>) * "
        f"at *test_inner.py:{line_of(pytester, 'chrecv(ch)')} in waiter  "
        f"spawned at *test_inner.py:{line_of(pytester, 'go(waiter, a)')}",
        "  coroutine sleeper [blocked]  msleep for * ms, deadline in * ms  "
        "at *test_inner.py:* in sleeper  "
        f"spawned at *test_inner.py:{line_of(pytester, 'go(sleeper)')}",
        passed=2, errors=1,
    )
    assert not leftovers()


def test_leaked_bundle_shows_under_its_bundle(make_tests, pytester, leftovers):
    make_tests("""
        @pytest.mark.dill
        def test_leaks():
            b = bundle()
            b.go(msleep, now() + 60_000)
            b.go(msleep, now() + 60_000)
    """)
    expect(
        run_inprocess(pytester),
        "dill: the test left behind 2 coroutines (2 on timers)*",
        "root (thread MainThread) [running]",
        "  bundle [running]",
        "    coroutine msleep [blocked]*",
        "    coroutine msleep [blocked]*",
        passed=1, errors=1,
    )
    assert not leftovers()


def test_leaked_fd_registration(make_tests, pytester, leftovers):
    make_tests("""
        @pytest.mark.dill
        def test_forgets_fdclean():
            r, w = os.pipe()
            os.write(w, b"x")
            fdin(r)                        # registers r with the hub's poller
            pytest.leaked_fds = r, w

        @pytest.mark.dill
        def test_cleans_up():
            r, w = os.pipe()
            os.write(w, b"x")
            fdin(r)
            dill.fdclean(r)
            os.close(r)
            os.close(w)
    """)
    result = run_inprocess(pytester)
    r, w = pytest.__dict__.pop("leaked_fds")
    os.close(r)
    os.close(w)
    expect(
        result,
        "dill: the test left behind 1 fd registration; the plugin cleaned them up*",
        f"fd {r}: registered with the hub and never fdclean'ed",
        passed=2, errors=1,
    )
    assert not leftovers()
    assert r not in _hub.get_hub().fdwaits


def test_leaked_green_thread_under_patch(make_tests, pytester):
    pytester.makeconftest("import dill\ndill.patch()\n")
    make_tests("""
        import threading

        @pytest.mark.dill
        def test_leaks_a_thread():
            threading.Thread(target=threading.Event().wait, name="forever").start()

        @pytest.mark.dill
        def test_joins_its_thread():
            t = threading.Thread(target=time.sleep, args=(0.01,))
            t.start()
            t.join()
    """)
    result = run_subprocess(pytester)
    # "green thread" once the green layer labels its tasks (Task.label); until
    # then the same leak shows as a coroutine.
    expect(
        result,
        "dill: the test left behind 1 *; the plugin cleaned them up after this report.",
        "*event(<threading.Event at * unset>)*spawned at *test_inner.py:*",
        passed=2, errors=1,
    )


def test_no_leak_when_closed_in_the_body_or_by_a_fixture(make_tests, pytester, leftovers):
    make_tests("""
        def serve(r):
            with bundle() as work:
                while os.read(r, 1):
                    work.go(msleep, now() + 60_000)   # the server's work: not the test's
                    fdin(r)

        @pytest.fixture(scope="module")
        def server():
            r, w = os.pipe()
            os.write(w, b"x")
            cr = go(serve, r)                 # outlives the test by design; watches r
            yield w
            hclose(cr)
            dill.fdclean(r)
            os.close(r)
            os.close(w)

        @pytest.fixture
        def workers():
            with bundle() as b:
                yield b

        @pytest.mark.dill
        def test_closes_its_own(server):
            cr = go(msleep, now() + 60_000)
            hclose(cr)
            os.write(server, b"x")            # the server starts more work
            msleep(now() + 10)

        @pytest.mark.dill
        def test_fixture_closes(server, workers):
            workers.go(msleep, now() + 60_000)

        @pytest.mark.dill
        def test_finished_handle_kept(server):
            pytest.kept = go(lambda: 42)      # finished: its open handle is no leak
    """)
    run_inprocess(pytester).assert_outcomes(passed=3)
    del pytest.kept
    assert not leftovers()


def test_failed_test_is_not_also_charged_with_its_leaks(make_tests, pytester, leftovers):
    make_tests("""
        @pytest.mark.dill
        def test_fails_midway():
            cr = go(msleep, now() + 60_000)
            assert False, "boom"
            hclose(cr)

        @pytest.fixture
        def broken():
            yield
            raise RuntimeError("teardown broke")

        @pytest.mark.dill
        def test_teardown_fails(broken):
            go(msleep, now() + 60_000)
    """)
    result = run_inprocess(pytester)
    expect(result, "*RuntimeError: teardown broke", failed=1, passed=1, errors=1)
    assert "left behind" not in result.stdout.str()
    assert not leftovers()


# ------------------------------------------------------------ deadlock


def test_deadlock_fails_with_the_report_and_the_tree(make_tests, pytester):
    make_tests("""
        def child(ch):
            chrecv(ch)

        @pytest.mark.dill
        def test_waits_for_a_stuck_child():
            a, b = chmake()
            cr = go(child, b)
            cr.wait()
    """)
    result = run_subprocess(pytester)
    expect(
        result,
        "E * dill: deadlock: every coroutine of this thread is blocked*",
        "E * root (thread MainThread): wait(<dill.Coroutine child running>)",
        "E * coroutine child: chrecv(<dill.ChannelEnd open>)",
        "*- dill: tree at the deadlock -*",
        "root (thread MainThread) [blocked]  wait(*",
        "  coroutine child [blocked]  chrecv(*spawned at *test_inner.py:*",
        failed=1,
    )


# ------------------------------------------------------------ timeout


TIMEOUTS = """
@pytest.mark.dill(timeout=0.3)
def test_root_blocked_in_dill():
    a, b = chmake()
    go(msleep, now() + 60_000)        # a timer: no deadlock, just a hang
    chrecv(a)

@pytest.mark.dill(timeout=0.3)
def test_root_spins():
    while True:
        pass

@pytest.mark.dill(timeout=0.3)
def test_coroutine_spins():
    def spin():
        while True:
            pass
    go(spin)
    msleep(now() + 60_000)

@pytest.mark.dill(timeout=0.3)
def test_coroutine_spins_and_the_root_never_blocks_again():
    def spin():
        while True:
            pass
    go(spin)                          # returns once spin is stopped; the test ends

@pytest.mark.dill(timeout=0.3)
def test_root_sleeps_outside_dill():
    time.sleep(60)

@pytest.mark.dill(timeout=0.3)
def test_swallowing_exception_does_not_help():
    while True:
        try:
            msleep(now() + 60_000)
        except Exception:
            pass

@pytest.mark.dill
def test_later_tests_run_clean():
    msleep(now() + 1)
    assert dill._hub.get_hub().root.pending_exc is None
"""


def test_timeout_fails_hangs_with_the_tree_sigalrm(make_tests, pytester):
    make_tests(TIMEOUTS)
    result = run_subprocess(pytester)
    result.assert_outcomes(failed=6, passed=1)
    out = result.stdout.str()
    # Once per failure report; the short summary's FAILED lines may repeat the
    # message or not, depending on pytest's version and the terminal width.
    body = "\n".join(line for line in out.splitlines() if not line.startswith("FAILED "))
    assert body.count("dill: timeout: the test was still running after 0.3 s") == 6
    expect(
        result,
        "*_ test_root_blocked_in_dill _*",
        "root (thread MainThread) [blocked]  chrecv(*) for * ms  "
        "at *test_inner.py:* in test_root_blocked_in_dill",
        "  coroutine msleep [blocked]*",
        "*_ test_root_spins _*",
        "root (thread MainThread) [running]  at *test_inner.py:* in test_root_spins",
        "*_ test_coroutine_spins _*",
        "*  coroutine test_coroutine_spins.<locals>.spin [running]  at *in spin*",
    )
    assert "1 passed" in out


def test_timeout_on_the_watchdog_thread_when_sigalrm_is_taken(make_tests, pytester):
    pytester.makeconftest("""
        import signal
        signal.signal(signal.SIGALRM, lambda *a: None)   # the program's own handler
    """)
    make_tests("""
        @pytest.mark.dill(timeout=0.3)
        def test_root_blocked_in_dill():
            r, w = os.pipe()
            fdin(r)

        @pytest.mark.dill(timeout=0.3)
        def test_coroutines_cycle():
            def ping():
                while True:
                    yield_()
            go(ping)
            while True:
                yield_()

        @pytest.mark.dill
        def test_handler_left_alone():
            assert signal.getsignal(signal.SIGALRM).__name__ == "<lambda>"
    """)
    result = run_subprocess(pytester)
    expect(
        result,
        "*_ test_root_blocked_in_dill _*",
        "dill: timeout: the test was still running after 0.3 s*",
        "root (thread MainThread) [blocked]  fdin(*) for * ms*",
        "*_ test_coroutines_cycle _*",
        "dill: timeout: the test was still running after 0.3 s*",
        failed=2, passed=1,
    )


def test_dill_timeout_option_and_marker_override(make_tests, pytester):
    make_tests("""
        @pytest.mark.dill
        def test_option_applies():
            msleep(now() + 60_000)

        @pytest.mark.dill(timeout=0)
        def test_marker_turns_it_off():
            msleep(now() + 500)
    """)
    result = run_inprocess(pytester, "--dill-timeout=0.3")
    expect(result, "dill: timeout: the test was still running after 0.3 s*", failed=1, passed=1)


# ------------------------------------------------------------ blocking


BLOCKING = """
def hog():
    time.sleep(0.3)

@pytest.mark.dill
def test_hogs_the_hub():
    sleeper = go(msleep, now() + 10)
    cr = go(hog)
    sleeper.wait()
    hclose(cr)
    hclose(sleeper)
"""


def test_blocking_ms_fails_with_the_stack(make_tests, pytester):
    make_tests(BLOCKING)
    result = run_inprocess(pytester, "--dill-blocking-ms=100")
    expect(
        result,
        "dill: blocking detector: a coroutine in thread 'MainThread' * has held its hub "
        "for * ms without switching (threshold 100 ms):",
        '*File "*test_inner.py", line *, in hog',
        failed=1,
    )
    assert not dill._detector._detector  # turned off again


def test_blocking_is_noted_on_a_test_that_fails_anyway(make_tests, pytester):
    make_tests(BLOCKING + """
    assert False, "fails on its own"
""")
    result = run_inprocess(pytester, "--dill-blocking-ms=100")
    expect(result, "E * AssertionError: fails on its own", "*- dill: blocking -*",
           "dill: blocking detector: a coroutine * held its hub *", failed=1)


def test_blocking_gives_back_a_detector_the_program_had_on(make_tests, pytester):
    make_tests("""
        dill.enable_blocking_detector(500)

        @pytest.mark.dill
        def test_watched():
            assert dill._detector._detector.threshold == 0.1

        def test_after():
            assert dill._detector._detector.threshold == 0.5
    """)
    run_subprocess(pytester, "--dill-blocking-ms=100").assert_outcomes(passed=2)


def test_blocking_is_not_checked_without_the_option(make_tests, pytester):
    make_tests(BLOCKING)
    run_inprocess(pytester).assert_outcomes(passed=1)


# ------------------------------------------------------------ seed


SEEDED = """
ORDER = []

@pytest.mark.dill
def test_order():
    def worker(i):
        yield_()
        ORDER.append(i)
    with bundle() as b:
        for i in range(8):
            b.go(worker, i)
        b.wait()
    print("order:", ORDER)
    assert False
"""


def _order(result: pytest.RunResult) -> str:
    return re.search(r"order: (\[.*\])", result.stdout.str()).group(1)


def test_seed_is_printed_on_failure_and_replays(make_tests, pytester):
    make_tests(SEEDED)
    first = run_inprocess(pytester, "--dill-seed=random")
    first.assert_outcomes(failed=1)
    seed = re.search(r"scheduler seed (\d+): replay with --dill-seed=\1",
                     first.stdout.str()).group(1)
    again = run_inprocess(pytester, f"--dill-seed={seed}")
    expect(again, f"scheduler seed {seed}: replay with --dill-seed={seed}")
    assert _order(again) == _order(first)
    orders = {_order(run_inprocess(pytester, f"--dill-seed={n}")) for n in range(6)}
    assert len(orders) > 1  # the seed does change the interleaving


def test_seed_is_in_the_header_and_checked(make_tests, pytester):
    make_tests("def test_x(): pass")
    expect(run_inprocess(pytester, "--dill-seed=7"),
           "dill: scheduler seed 7 (replay: --dill-seed=7)")
    result = run_inprocess(pytester, "--dill-seed=seven")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_dill_seed_environment_variable_is_the_default(make_tests, pytester, monkeypatch):
    monkeypatch.setenv("DILL_SEED", "11")
    make_tests(SEEDED)
    from_env = run_inprocess(pytester)
    expect(from_env, "scheduler seed 11: replay with --dill-seed=11")
    assert _order(from_env) == _order(run_inprocess(pytester, "--dill-seed=11"))


# ------------------------------------------------------------ virtual clock


def test_dill_clock_fixture_and_clock_marker(make_tests, pytester):
    make_tests("""
        HOUR = 3_600_000

        def test_fixture(dill_clock):
            start = now()
            t0 = time.monotonic()
            msleep(now() + HOUR)
            assert now() - start >= HOUR
            assert dill_clock.now() == now()
            assert time.monotonic() - t0 < 5

        @pytest.fixture
        def started():
            return now()

        @pytest.mark.dill(clock="virtual")
        def test_marker(started):
            msleep(now() + HOUR)
            assert now() - started >= HOUR   # the fixture already ran on virtual time

        @pytest.mark.dill
        def test_real_by_default():
            assert dill._hub.get_hub().vclock is None
    """)
    run_subprocess(pytester).assert_outcomes(passed=3)
