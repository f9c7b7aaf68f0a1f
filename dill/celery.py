"""A Celery execution pool on dill.

    CELERY_CUSTOM_WORKER_POOL=dill.celery:TaskPool celery -A app worker -P custom -c 1000

Each task runs as a coroutine of the worker's hub, watched by a supervisor
coroutine of its own; the supervisors live in one bundle:

* ``-c N`` bounds the tasks running at once: the consumer waits for a free
  slot before it starts another (as with ``-P gevent``);
* ``revoke(task_id, terminate=True)`` cancels the task's coroutine (sticky:
  every blocking call in it then raises ``dill.Canceled``; its ``finally``
  blocks run) and the supervisor waits for it to exit;
* a hard time limit cancels it the same way and records ``TimeLimitExceeded``;
  a soft time limit cancels it too (dill has no way yet to raise an exception
  once into a coroutine) and records ``SoftTimeLimitExceeded`` as the failure;
* warm shutdown waits for every running task (``bundle_wait`` without a
  deadline); cold shutdown (a second signal) cancels them (``hclose``).

**Importing this module patches the stdlib** (``dill.patch()``): with ``-P
custom`` Celery imports the pool class first thing, before the app and
before most of itself, which is as early as gevent's patch happens with ``-P
gevent``.  The worker then runs Celery's own event loop (kombu's hub, polling
through the green ``select.epoll``) in the root of the hub, and the tasks run
whenever it waits; with a transport that has no event-loop support Celery runs
its blocking consumer loop instead, and the pool's ``Timer`` is used.
"""

from __future__ import annotations

import dill

dill.patch()  # before Celery and the app bind anything from the stdlib

import itertools  # noqa: E402
import logging  # noqa: E402
from time import monotonic  # noqa: E402
from typing import Any, Callable  # noqa: E402

from billiard.einfo import ExceptionInfo  # noqa: E402
from celery.concurrency import base  # noqa: E402
from celery.exceptions import SoftTimeLimitExceeded  # noqa: E402
from kombu.asynchronous import timer as kombu_timer  # noqa: E402

from dill import Canceled, TimedOut, chrecv, chsend, hclose, msleep, now  # noqa: E402
from dill.green import threading as green_threading  # noqa: E402

__all__ = ["TaskPool", "Timer"]

logger = logging.getLogger("dill.celery")

# What a task's supervisor hears on the task's event channel, or decides.
_FINISHED = "finished"
_TERMINATE = "terminate"
_SOFT_LIMIT = "soft time limit"
_HARD_LIMIT = "hard time limit"


class Timer(kombu_timer.Timer):
    """kombu's timer, each entry a coroutine sleeping until its time (the gevent
    pool does the same with greenlets).  Canceling an entry makes it a no-op."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleepers = dill.bundle()

    def _enter(self, eta: float, priority: int, entry: Any, push: Any = None) -> Any:
        self._sleepers.go(self._fire, eta, entry)
        return entry

    def _fire(self, eta: float, entry: Any) -> None:
        msleep(now() + max(0, int((eta - monotonic()) * 1000)))
        if not entry.canceled:
            self.apply_entry(entry)

    def clear(self) -> None:
        """Drop every pending entry."""
        hclose(self._sleepers)
        self._sleepers = dill.bundle()

    stop = clear

    @property
    def queue(self) -> list:
        """Pending entries are coroutines, not a heap: nothing to list."""
        return []


class _Job:
    """One task handed to the pool: what to run and whom to tell."""

    def __init__(self, pid: int, target: Callable, args: Any, kwargs: Any,
                 options: dict) -> None:
        self.pid = pid
        self.target = target
        self.args = args
        self.kwargs = kwargs or {}
        self.options = options
        self.events: Any = None  # the sending end of the supervisor's channel
        self.terminated = False

    def run(self) -> None:
        """The task's coroutine: Celery's trace, then tell the supervisor."""
        o = self.options
        try:
            base.apply_target(self.target, self.args, self.kwargs, o.get("callback"),
                              o.get("accept_callback"), pid=self.pid, propagate=(Canceled,))
        except Canceled:
            return  # the supervisor canceled it and reports why
        finally:
            self._tell(_FINISHED)

    def terminate(self, signal: Any = None) -> None:
        """Cancel the task (``revoke(terminate=True)``); Celery reports the revoke."""
        if not self.terminated:
            self.terminated = True
            self._tell(_TERMINATE)

    def _tell(self, event: str) -> None:
        try:
            chsend(self.events, event, 0)  # room for both events: never waits
        except (Canceled, TimedOut, dill.Done, dill.BadHandle):
            pass  # the supervisor is gone or is canceling the task already


def _limits_ms(options: dict) -> tuple[int, int]:
    """(soft, hard) time limits in ms, 0 for none; a soft limit past the hard one is moot."""
    soft = int((options.get("soft_timeout") or 0) * 1000)
    hard = int((options.get("timeout") or 0) * 1000)
    if hard and soft >= hard:
        soft = 0
    return soft, hard


class TaskPool(base.BasePool):
    """Celery pool: each task a dill coroutine of the worker's hub."""

    Timer = Timer
    signal_safe = False
    is_green = True
    task_join_will_block = False

    def on_start(self) -> None:
        """Make the bundles and the slots (``-c``)."""
        self._jobs = dill.bundle()      # one supervisor per running task
        self._service = dill.bundle()   # spawn_n: Celery's own green loops (pidbox)
        self._slots = green_threading.Semaphore(self.limit)
        self._running: dict[int, _Job] = {}
        self._ids = itertools.count(1)

    def on_apply(self, target: Callable, args: Any = None, kwargs: Any = None,
                 **options: Any) -> _Job:
        """Start a task once a slot is free; return its job (``.terminate()``)."""
        job = _Job(next(self._ids), target, args or (), kwargs, options)
        self._slots.acquire()
        self._running[job.pid] = job
        self._jobs.go(self._supervise, job)
        return job

    def _supervise(self, job: _Job) -> None:
        events, job.events = dill.chmake(2)
        task = dill.go(job.run)
        try:
            outcome = self._await(job, events)
        finally:
            try:
                hclose(task)  # cancels it unless it finished; waits for its finally
            except Exception:  # pragma: no cover - Celery's trace catches task errors
                logger.exception("task coroutine failed")
            job.events.close()
            events.close()
            del self._running[job.pid]
            self._slots.release()
        self._report(job, outcome)

    @staticmethod
    def _await(job: _Job, events: Any) -> str:
        """Wait for the task's end, a terminate, or a time limit: whichever comes first."""
        start = now()
        soft, hard = _limits_ms(job.options)
        for limit, outcome in ((soft, _SOFT_LIMIT), (hard, _HARD_LIMIT)):
            if limit:
                try:
                    return chrecv(events, start + limit)
                except TimedOut:
                    return outcome
        return chrecv(events, -1)

    @staticmethod
    def _report(job: _Job, outcome: str) -> None:
        """Tell Celery about a time limit, once the task has exited."""
        o = job.options
        on_timeout = o.get("timeout_callback")
        if outcome == _SOFT_LIMIT:
            soft = o["soft_timeout"]
            if on_timeout:
                on_timeout(True, soft)  # Celery's "soft time limit exceeded" warning
            on_error = o.get("error_callback")
            if on_error:
                try:
                    raise SoftTimeLimitExceeded(soft)
                except SoftTimeLimitExceeded:
                    on_error(ExceptionInfo())  # recorded as the task's failure
        elif outcome == _HARD_LIMIT and on_timeout:
            on_timeout(False, o["timeout"])  # recorded as TimeLimitExceeded

    def terminate_job(self, pid: int, signal: Any = None) -> None:
        """``revoke(terminate=True)``: cancel the task's coroutine (``pid`` is the job's id)."""
        job = self._running.get(pid)
        if job is not None:
            job.terminate(signal)

    def spawn_n(self, fn: Callable, *args: Any, **kwargs: Any) -> None:
        """Run ``fn`` in a coroutine for the worker's life (Celery's green pidbox loop)."""
        self._service.go(fn, *args, **kwargs)

    def on_stop(self) -> None:
        """Warm shutdown: wait for every running task, then stop the service loops."""
        dill.bundle_wait(self._jobs, -1)
        self._close_all()

    def on_terminate(self) -> None:
        """Cold shutdown: cancel the running tasks."""
        self._close_all()

    def _close_all(self) -> None:
        hclose(self._jobs)
        hclose(self._service)

    def _get_info(self) -> dict:
        info = super()._get_info()
        info["running"] = len(self._running)
        return info

    @property
    def num_processes(self) -> int:
        """The concurrency (``-c``)."""
        return self.limit
