"""Fork safety: after ``os.fork()`` the child starts with fresh dill state.

What the child has, right after ``fork()`` returns 0 in it:

* **The code that called fork() goes on**, and it is the root of a fresh hub
  (made by its next dill call): a coroutine that forks continues in the child
  as that hub's root task, with no parent, no bundle and no siblings.
* **Nothing else of the parent's runs again**: its other coroutines, the root
  code they were launched from, and the hubs of its other threads are gone,
  exactly as other OS threads are gone after ``fork()``.  They are never
  resumed, so their ``finally`` blocks do not run in the child either (the
  parent still runs them in the parent).
* **Handles made before the fork belong to the parent**: using a coroutine,
  bundle, channel or portal of the parent's hub in the child raises
  ``RuntimeError`` (it belongs to another thread's hub).  Sockets and other fds
  are inherited as ``fork()`` always does.
* **A forking coroutine ends the child when it ends**, as a forked thread
  does: when it returns the child exits with status 0, when it raises
  ``SystemExit`` with that status, on any other exception with status 1 after
  printing the traceback.  The exit is ``os._exit`` after flushing stdout and
  stderr, as ``multiprocessing``'s forked children do (no atexit handlers).
  The root code, when it forks, simply goes on and exits as usual.
* The ``to_thread`` pool starts empty (``dill._threads`` resets it with its
  own at-fork hook) and portals of the parent's hubs refuse calls
  (``BadHandle``) instead of waiting for a thread that is not there.

The parent is untouched: in the child, each inherited hub's poller and
wake-up pipe are only closed (never unregistered: an ``epoll_ctl`` on the
inherited epoll instance would change the parent's interest list).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from ._hub import _local, all_hubs

__all__: list[str] = []


# The parent's hubs and thread-local state, kept alive in the child: if they
# were collected, their suspended greenlets would be killed and the parent's
# ``finally`` blocks would run here.
_orphans: list = []


class _EndChild:
    """Stands in for the waiters of the coroutine that forked: when it exits in
    the child, the hub wakes them and the child process exits (its parent's
    bundle, or whoever waits for it, is not there to tell)."""

    __slots__ = ("root", "task")

    def __init__(self, root: Any, task: Any) -> None:
        self.root = root
        self.task = task

    def wake_all(self) -> None:
        """Called by the parent's hub machinery when the forking coroutine ends."""
        # An Exception stays in the task; a BaseException was sent to the root.
        exc = getattr(self.task, "exc", None) or getattr(self.root, "pending_exc", None)
        os._exit(_exit_status(exc))


def _exit_status(exc: BaseException | None) -> int:
    """The status a process ending with ``exc`` exits with (printing what Python would)."""
    if exc is None:
        status = 0
    elif isinstance(exc, SystemExit):
        code = exc.code
        if code is None or isinstance(code, int):
            status = code or 0
        else:
            print(code, file=sys.stderr)
            status = 1
    else:
        traceback.print_exception(exc)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return status


def _after_fork_in_child() -> None:
    state = dict(vars(_local))
    old = state.get("hub")
    if old is not None:
        _orphans.append(state)
        forker = old.current
        if forker is not old.root:
            forker.group = None  # a lone task now: its exit wakes its waiters
            forker.waiters = _EndChild(old.root, forker)
    vars(_local).clear()  # the next dill call makes a fresh hub for this thread
    inherited = list(all_hubs.values())
    all_hubs.clear()  # dill.trees() in the child shows the child's hubs only
    for hub in inherited:
        hub.abandon_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
