"""The pytest plugin of dill (SPEC-TOOLS section 7), registered as ``dill``.

A test is *active* when it is marked ``@pytest.mark.dill`` or when the ini
option ``dill_mode = auto`` is set; every other test is left alone (no hook
of this module does anything for it).  For an active test, on the main
thread's hub:

* **Leaks.**  Coroutines, green threads, timers, channel waiters and fd
  registrations that the test (its body and its function-scoped fixtures)
  left behind fail it, with the tree of what leaked.  The check runs after
  the fixtures are torn down (a fixture may own what the test started), so
  a leak is reported as an error in the test's teardown.  The plugin then
  closes what leaked (cancels the tasks, ``fdclean``s the fds) so that later
  tests start clean.  Not counted: what existed before the test, what
  wider-scoped fixtures started (and what their tasks start), finished
  coroutines whose handles are still referenced, other OS threads' hubs.  A
  test that already failed is not also charged with what its failure left
  behind; it is still cleaned up.
* **Deadlock** (``dill.Deadlock``) fails the test with its report, and the
  report gets a section with the whole tree.
* **Timeout.**  ``--dill-timeout=S`` (default 60; ``0`` turns it off) or
  ``@pytest.mark.dill(timeout=S)`` bounds setup, call and teardown together;
  at the deadline the test fails with the tree.  See ``_Deadline`` for how
  and for the limits.
* ``--dill-blocking-ms=N`` fails a test in which a coroutine (or the root
  code, while coroutines wait for the hub) held the hub longer than N ms
  without switching, with its stack (``dill.enable_blocking_detector``).
* ``--dill-seed=N|random`` (or ``DILL_SEED=N``) seeds the scheduler afresh
  for every active test, so a failing test replays alone with the same seed;
  the seed is printed on every failure of an active test.
* The fixture ``dill_clock`` yields an autojumping ``VirtualClock``
  (``dill.testing.virtual_clock()``); ``@pytest.mark.dill(clock="virtual")``
  gives the test one without naming the fixture.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import time
import weakref
from contextlib import ExitStack
from typing import Any, Generator, Iterator

import pytest
from greenlet import getcurrent

from . import _detector
from ._deadlock import Deadlock
from ._hub import Hub, Task, get_hub
from ._tree import TaskInfo, snapshot, task_kind_and_name
from ._threads import start_own_thread
from .patch import get_original
from .testing import VirtualClock, seed_scheduler, virtual_clock

__all__ = ["dill_clock"]

# The real ones even when the program runs under dill.patch (green versions
# would make the watchdog a coroutine of the hub it watches).
_allocate_lock = get_original("_thread", "allocate_lock")
_signal = get_original("signal", "signal")
_getsignal = get_original("signal", "getsignal")

_DILL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MARKER_ARGS = ("clock", "timeout")
_CLOCKS = ("real", "virtual")
_MODES = ("marked", "auto")
_CHANNEL_OPS = ("chrecv", "chsend", "choose")
# After the timeout was handed to the root, how long a spinning coroutine may
# keep the hub before the exception is raised inside it instead.
ESCALATE_S = 1.0
# How long the plugin lets canceled leftovers run their cleanup.
CLOSE_S = 1.0

_RUN = pytest.StashKey["_TestRun"]()
_SEED = pytest.StashKey["int | None"]()


# ------------------------------------------------------------ options


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--dill-timeout``, ``--dill-blocking-ms``, ``--dill-seed`` and ``dill_mode``."""
    group = parser.getgroup("dill", "dill: structured concurrency checks")
    group.addoption("--dill-timeout", type=float, default=60.0, metavar="S",
                    help="fail an active dill test still running after S seconds, "
                         "showing its tree (0: no timeout; default 60)")
    group.addoption("--dill-blocking-ms", type=float, default=None, metavar="N",
                    help="fail an active dill test in which a coroutine held the hub "
                         "longer than N ms without switching, with its stack")
    group.addoption("--dill-seed", default=None, metavar="N|random",
                    help="seed dill's scheduler for every active test (random: pick "
                         "one; it is printed on failure)")
    parser.addini("dill_mode", default="marked",
                  help="'marked' (default): dill checks only tests marked "
                       "@pytest.mark.dill; 'auto': every test")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; check the mode; choose the session's seed."""
    config.addinivalue_line(
        "markers",
        "dill(clock='real'|'virtual', timeout=S): check the test for leaked coroutines, "
        "deadlocks, hangs and blocking (dill's pytest plugin)")
    mode = config.getini("dill_mode")
    if mode not in _MODES:
        raise pytest.UsageError(f"dill_mode must be one of {', '.join(_MODES)}, not {mode!r}")
    config.stash[_SEED] = _session_seed(config.getoption("dill_seed"))


def _session_seed(option: str | None) -> int | None:
    """The seed of ``--dill-seed`` (``random``: a fresh one), else ``DILL_SEED``."""
    raw = option if option is not None else os.environ.get("DILL_SEED", "").strip() or None
    if raw is None:
        return None
    if raw == "random":
        return random.SystemRandom().randrange(2**32)
    try:
        return int(raw)
    except ValueError:
        raise pytest.UsageError(f"--dill-seed takes an integer or 'random', not {raw!r}") from None


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which seed the run uses, so it can be replayed."""
    seed = config.stash[_SEED]
    return None if seed is None else f"dill: scheduler seed {seed} (replay: --dill-seed={seed})"


def _is_active(item: pytest.Item) -> bool:
    return (item.get_closest_marker("dill") is not None
            or item.config.getini("dill_mode") == "auto")


# ------------------------------------------------------------ clock


@pytest.fixture
def dill_clock() -> Iterator[VirtualClock]:
    """An autojumping virtual clock on the test's hub (``dill.testing.virtual_clock()``)."""
    with virtual_clock() as clock:
        yield clock


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``@pytest.mark.dill(clock="virtual")``: the test gets ``dill_clock`` first,
    so its other fixtures run on virtual time too."""
    for item in items:
        marker = item.get_closest_marker("dill")
        if marker is None or marker.kwargs.get("clock") != "virtual":
            continue
        names = getattr(item, "fixturenames", None)
        if names is not None and "dill_clock" not in names:
            names.insert(0, "dill_clock")


# ------------------------------------------------------------ per test


class _TestRun:
    """What the plugin keeps about one active test, from setup to teardown."""

    def __init__(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker("dill")
        kwargs = _marker_kwargs(marker)
        self.hub = get_hub()
        self.hub.enable_threadsafe()  # before the baseline: its pipe is not the test's
        self.seed: int | None = item.config.stash[_SEED]
        timeout = kwargs.get("timeout", item.config.getoption("dill_timeout"))
        # 0 (or inf) turns it off: the test chose to have no deadline
        self.deadline = _Deadline(self.hub, timeout) if 0 < timeout < float("inf") else None
        self.blocking_ms: float | None = item.config.getoption("dill_blocking_ms")
        self.baseline = _Baseline(self.hub)
        self.failed = False
        self.notes: list[tuple[str, str]] = []  # report sections, shown on failure
        self.stack = ExitStack()

    def start(self) -> None:
        self.hub.recording += 1  # spawn sites for the trees
        self.stack.callback(self._stop_recording)
        if self.seed is not None:
            self.stack.enter_context(seed_scheduler(self.seed))

    def _stop_recording(self) -> None:
        self.hub.recording -= 1

    def phase(self) -> Generator[None, Any, Any]:
        """The body of a phase's hook wrapper (``yield from``): under the timeout."""
        deadline = self.deadline
        if deadline is None:
            return (yield)
        deadline.arm()
        try:
            result = yield
        finally:
            late = deadline.disarm()
        if late is not None:
            raise late
        return result


def _marker_kwargs(marker: pytest.Mark | None) -> dict:
    """The marker's arguments, checked (a typo must not silently do nothing):
    a wrong one is an error in the test's setup."""
    if marker is None:
        return {}
    if marker.args:
        pytest.fail("@pytest.mark.dill takes keyword arguments only "
                    f"({', '.join(_MARKER_ARGS)})", pytrace=False)
    unknown = set(marker.kwargs) - set(_MARKER_ARGS)
    if unknown:
        pytest.fail(f"@pytest.mark.dill: unknown argument(s) {sorted(unknown)}; "
                    f"it takes {', '.join(_MARKER_ARGS)}", pytrace=False)
    clock = marker.kwargs.get("clock", "real")
    if clock not in _CLOCKS:
        pytest.fail(f"@pytest.mark.dill(clock=...) must be 'real' or 'virtual', "
                    f"not {clock!r}", pytrace=False)
    timeout = marker.kwargs.get("timeout")
    if timeout is not None and (isinstance(timeout, bool)
                                or not isinstance(timeout, (int, float))):
        pytest.fail(f"@pytest.mark.dill(timeout=...) takes seconds, not {timeout!r}",
                    pytrace=False)
    return {k: v for k, v in marker.kwargs.items() if v is not None}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    """Start an active test: baseline of the hub, seed, timeout."""
    if not _is_active(item):
        return (yield)
    run = _TestRun(item)
    item.stash[_RUN] = run
    run.start()
    _Shared.current = run
    return (yield from run.phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Run an active test's body under the timeout and the blocking detector."""
    run = item.stash.get(_RUN, None)
    if run is None:
        return (yield)
    if not run.blocking_ms:
        return (yield from run.phase())
    watch = _BlockingWatch(run.blocking_ms)
    try:
        result = yield from run.phase()
    except BaseException:
        if watch.stop():
            run.notes.append(("dill: blocking", watch.text()))
        raise
    if watch.stop():
        pytest.fail(watch.text(), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    """Tear an active test down, then check (and clean up) what it left behind."""
    run = item.stash.get(_RUN, None)
    if run is None:
        return (yield)
    with run.stack:
        _Shared.current = None
        try:
            result = yield from run.phase()
        finally:  # a failed teardown's leftovers must not disturb later tests either
            leaks = _Leaks(run.hub, run.baseline)
            report = leaks.report() if leaks and not run.failed else None
            leaks.close()
        if report is not None:
            pytest.fail(report, pytrace=False)
        return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo) -> Generator[None, Any, Any]:
    """On an active test's failure: the seed, the deadlock tree, the plugin's notes."""
    rep = yield
    run = item.stash.get(_RUN, None)
    if run is None or not rep.failed:
        return rep
    run.failed = True
    exc = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exc, Deadlock) and exc.tree is not None:
        rep.sections.append(("dill: tree at the deadlock", exc.tree.format()))
    rep.sections.extend(run.notes)
    run.notes.clear()
    if run.seed is not None:
        rep.sections.append(("dill: seed", f"scheduler seed {run.seed}: replay with "
                                            f"--dill-seed={run.seed}"))
    return rep


# ------------------------------------------------------------ leaks


class _Shared:
    """Tasks and fds that wider-scoped fixtures started during an active test's
    setup: they outlive the test by design, so they are no leak of it."""

    current: _TestRun | None = None
    tasks: weakref.WeakSet[Task] = weakref.WeakSet()
    # fd -> its hub record: a number closed and reused is a new registration
    fds: dict[int, Any] = {}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef) -> Generator[None, Any, Any]:
    """Note what a module/class/session fixture starts in an active test's setup."""
    run = _Shared.current
    if run is None or fixturedef.scope == "function":
        return (yield)
    hub = run.hub
    tasks, fds = set(hub.all_tasks()), dict(hub.fdwaits)
    try:
        return (yield)
    finally:
        _Shared.tasks.update(t for t in hub.all_tasks() if t not in tasks)
        _Shared.fds.update((fd, rec) for fd, rec in hub.fdwaits.items() if fds.get(fd) is not rec)


class _Baseline:
    """What the hub had before the test: none of it can be the test's leak."""

    def __init__(self, hub: Hub) -> None:
        self.tasks = set(hub.all_tasks())
        self.fds = dict(hub.fdwaits)

    def owns(self, task: Task, root: Task) -> bool:
        """True if ``task``, or a task that started it, predates the test or
        belongs to a wider-scoped fixture."""
        t: Task | None = task
        while t is not None and t is not root:
            if t in self.tasks or t in _Shared.tasks:
                return True
            t = t.parent
        return False

    def owns_fd(self, fd: int, rec: Any, root: Task) -> bool:
        """True if the registration of ``fd`` predates the test, belongs to a
        wider-scoped fixture, or a task that ``owns`` waits on it (a server
        fixture's coroutine may register its fd only once the test runs)."""
        if self.fds.get(fd) is rec or _Shared.fds.get(fd) is rec:
            return True
        return any(t is not None and self.owns(t, root) for t in (rec.reader, rec.writer))


class _Leaks:
    """What an active test left on the hub: unfinished tasks and fd registrations."""

    def __init__(self, hub: Hub, baseline: _Baseline) -> None:
        self.hub = hub
        self.tasks = [t for t in hub.all_tasks()
                      if not t.finished and not baseline.owns(t, hub.root)]
        self.fds = sorted(fd for fd, rec in hub.fdwaits.items()
                          if fd != hub._wake_r and not baseline.owns_fd(fd, rec, hub.root))

    def __bool__(self) -> bool:
        return bool(self.tasks or self.fds)

    def report(self) -> str:
        """The failure message: counts, the pruned tree, the fds."""
        hub = self.hub
        kinds = [task_kind_and_name(t)[0] for t in self.tasks]
        channel = sum(1 for t in self.tasks if t.waiting and t.op in _CHANNEL_OPS)
        mine = set(self.tasks)
        timers = sum(1 for _, t, epoch in hub.armed_timers()
                     if t in mine and t.waiting and t.epoch == epoch)
        held = ", ".join(c for c in (_count(channel, "in a channel wait", "in channel waits"),
                                     _count(timers, "on a timer", "on timers")) if c)
        counts = [_count(kinds.count("coroutine"), "coroutine", "coroutines"),
                  _count(kinds.count("thread"), "green thread", "green threads"),
                  _count(len(self.fds), "fd registration", "fd registrations")]
        lines = ["dill: the test left behind " + ", ".join(c for c in counts if c)
                 + (f" ({held})" if held else "")
                 + "; the plugin cleaned them up after this report."]
        if self.tasks:
            tree = _prune(snapshot(hub), {id(t) for t in self.tasks})
            if tree is not None:  # the root runs pytest's code: its line says nothing
                lines += ["Leaked tasks:", dataclasses.replace(tree, where=None).format()]
        for fd in self.fds:
            lines.append(f"fd {fd}: registered with the hub and never fdclean'ed")
        return "\n".join(lines)

    def close(self) -> None:
        """Cancel the leaked tasks, let them unwind (bounded), forget the fds."""
        hub = self.hub
        for t in self.tasks:
            hub.cancel(t)
        end = time.monotonic() + CLOSE_S
        while any(not t.finished for t in self.tasks) and time.monotonic() < end:
            hub.yield_()
        for fd in self.fds:
            try:
                hub.fdclean(fd)
            except OSError:  # a task that would not exit still waits on it
                pass


def _count(n: int, one: str, many: str) -> str:
    """``"1 coroutine"``, ``"2 coroutines"``; ``""`` for none."""
    return "" if not n else f"{n} {one if n == 1 else many}"


def _prune(info: TaskInfo, keep: set[int]) -> TaskInfo | None:
    """The tree cut down to the nodes in ``keep`` and the paths to them."""
    kids = [k for k in (_prune(c, keep) for c in info.children) if k is not None]
    if info.id in keep or kids:
        return dataclasses.replace(info, children=kids)
    return None


# ------------------------------------------------------------ blocking


class _BlockingWatch:
    """The blocking detector for one test's body, its reports kept here.

    A detector the program had turned on (``DILL_BLOCKING_DETECTOR``) gets its
    settings back afterwards.
    """

    def __init__(self, threshold_ms: float) -> None:
        prev = _detector._detector  # noqa: SLF001 (read to restore it; no public getter)
        self.prev = None if prev is None else (prev.threshold * 1000, prev.file)
        self.reports: list[str] = []
        self.stopped = False
        _detector.enable_blocking_detector(threshold_ms, file=self)

    def write(self, text: str) -> None:
        """The detector writes each report in one call."""
        self.reports.append(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def stop(self) -> bool:
        """Turn the detector off (once); True if something blocked."""
        if not self.stopped:
            self.stopped = True
            _detector.disable_blocking_detector()
            if self.prev is not None:
                _detector.enable_blocking_detector(*self.prev)
        return bool(self.reports)

    def text(self) -> str:
        return "".join(self.reports)


# ------------------------------------------------------------ timeout


def _in_dill(frame: Any) -> bool:
    return frame is not None and frame.f_code.co_filename.startswith(_DILL_DIR)


class _Deadline:
    """The plugin's timeout for one test: setup, call and teardown together.

    At the deadline the test fails with ``pytest.fail``'s exception (a
    ``BaseException``: an ``except Exception`` in the test does not swallow
    it), carrying the tree.  How it gets there:

    * SIGALRM is used when its handler is the default one (the program or
      another plugin, e.g. pytest-timeout's signal method, did not install
      its own).  In the root's own code (a pure-Python loop, an unpatched
      ``time.sleep``) the handler raises at once.  Inside dill (the root
      blocked in a dill call, the hub polling) or in a coroutine, the
      exception goes to the root at the hub's next safe point (dill's signal
      rule).  If after ``ESCALATE_S`` the test still runs, a coroutine is
      spinning without ever switching: the exception is raised inside it,
      and the hub hands it to the root.
    * Otherwise a watchdog thread queues the exception to the root
      (``Hub.call_threadsafe``): it reaches a root blocked in dill or code
      that passes through the hub, not a loop that never does.  The thread
      counts as a foreign thread for ``dill.patch()`` called inside the test.

    Limits: a test that installs its own SIGALRM handler, or calls
    ``signal.alarm``/``setitimer``, while the plugin's alarm is set replaces
    it; in watchdog mode a loop that never enters dill is not stopped (the
    owner of SIGALRM, e.g. pytest-timeout, is then the one to stop it).
    """

    def __init__(self, hub: Hub, seconds: float) -> None:
        self.hub = hub
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.error: BaseException | None = None
        self.armed = False
        self.escalate = False
        self.stop_watch: Any = None

    def arm(self) -> None:
        """Start watching for the rest of the time (one phase of the test)."""
        self.armed = True
        self.escalate = False
        remaining = self.end - time.monotonic()
        if remaining <= 0:  # a phase after the deadline (teardown) gets a short grace
            remaining = ESCALATE_S
        if self._take_alarm():
            signal.setitimer(signal.ITIMER_REAL, remaining)
        else:
            stop = self.stop_watch = _allocate_lock()
            stop.acquire()
            start_own_thread(self._watch, (stop, remaining))  # dill.patch() ignores it

    def disarm(self) -> BaseException | None:
        """Stop watching; a delivery still queued on the hub does nothing.

        Returns the timeout if it was handed to the root but never raised
        there (the root was ready, not blocked, when it came, and the phase
        ended first): the caller fails the phase with it, and no later
        blocking call of the root sees it.
        """
        self.armed = False
        if self.stop_watch is not None:
            self.stop_watch.release()
            self.stop_watch = None
        elif _getsignal(signal.SIGALRM) == self._on_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            _signal(signal.SIGALRM, signal.SIG_DFL)
        root = self.hub.root
        if self.error is None or root.pending_exc is not self.error:
            return None
        root.pending_exc = None
        return self.error

    def _take_alarm(self) -> bool:
        try:
            if _getsignal(signal.SIGALRM) != signal.SIG_DFL:
                return False
            _signal(signal.SIGALRM, self._on_alarm)
        except (ValueError, AttributeError):  # not the main thread; no SIGALRM
            return False
        return True

    def _watch(self, stop: Any, remaining: float) -> None:
        if not stop.acquire(True, remaining):
            self.hub.call_threadsafe(self._deliver)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if not self.armed:
            return
        hub = self.hub
        in_root = getcurrent() is hub.root.greenlet
        if not _in_dill(frame) and (in_root or self.escalate):
            if in_root and hub.root.pending_exc is self.error:
                hub.root.pending_exc = None  # raised here instead of at its next wait
            raise self._error()
        hub.call_threadsafe(self._deliver)
        self.escalate = True
        signal.setitimer(signal.ITIMER_REAL, ESCALATE_S)

    def _deliver(self) -> None:
        """In the scheduler: hand the timeout to the root (idempotent)."""
        if self.armed:
            self.hub.interrupt_root(self._error())

    def _error(self) -> BaseException:
        if self.error is None:
            self.error = pytest.fail.Exception(
                f"dill: timeout: the test was still running after {self.seconds:g} s "
                f"(--dill-timeout or @pytest.mark.dill(timeout=...)); its tree:\n"
                + snapshot(self.hub).format(), pytrace=False)
        return self.error
