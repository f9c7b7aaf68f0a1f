"""Signals: an exception raised by a signal handler goes to the root task.

Python runs signal handlers in the main thread, in whichever greenlet happens
to be running: a coroutine (which would die of an interrupt meant for the
program) or the hub itself (whose state would be left half-updated).  dill's
rule, as trio's: such an exception never lands inside a coroutine or the
scheduler.

* When the main thread's root code is running its own code (not inside dill),
  the handler's exception is raised there at once, as in plain Python.
* Otherwise it is queued to the hub (``call_threadsafe``: an atomic append
  and a byte on the wake-up pipe, safe at any point) and delivered to the root
  at its current blocking call, or at its next one (``Hub.interrupt_root``).

dill installs this for SIGINT when the main thread's hub is made, unless the
program installed its own SIGINT handler.  Under ``dill.patch`` every Python
handler the program installs (SIGTERM handlers, pytest-timeout's SIGALRM,
watchdogs) is wrapped the same way; ``signal.getsignal`` still returns the
program's own function.  Without patching, wrap a handler yourself with
``root_signal_handler(fn)``.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

from greenlet import getcurrent

from . import _hub

__all__ = ["root_signal_handler", "install_sigint", "green_signal", "green_getsignal"]

_DILL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_real_signal = signal.signal
_real_getsignal = signal.getsignal
_main_thread = threading.main_thread  # the real one, whatever dill.patch does later


def _in_dill(frame: Any) -> bool:
    """True if ``frame`` runs dill's own code (the scheduler, a wait, the green layer)."""
    return frame is not None and frame.f_code.co_filename.startswith(_DILL_DIR)


def root_signal_handler(handler: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
    """Wrap a Python signal handler so that what it raises reaches the root task."""
    if getattr(handler, "__dill_wrapped__", None) is not None:
        return handler

    def dill_signal_handler(signum: int, frame: Any) -> Any:
        hub = getattr(_hub._local, "hub", None)  # handlers run in the main thread
        if hub is None or (getcurrent() is hub.root.greenlet and not _in_dill(frame)):
            return handler(signum, frame)
        try:
            return handler(signum, frame)
        except BaseException as exc:
            pending = exc  # ``exc`` is unbound when the except block ends
            hub.call_threadsafe(lambda: hub.interrupt_root(pending))
            return None

    dill_signal_handler.__dill_wrapped__ = handler  # type: ignore[attr-defined]
    dill_signal_handler.__wrapped__ = handler  # type: ignore[attr-defined]
    return dill_signal_handler


def install_sigint(hub: Any) -> None:
    """For the main thread's new hub: route SIGINT's KeyboardInterrupt to the root.

    Leaves a handler the program installed alone.  The hub's wake-up pipe is
    set up now, so that a signal can queue its exception at any moment.
    """
    if hub.thread_id != _main_thread().ident:
        return
    try:
        if _real_getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        hub.enable_threadsafe()
        _real_signal(signal.SIGINT, root_signal_handler(signal.default_int_handler))
    except ValueError:  # not the main thread of the main interpreter
        pass


def green_signal(signalnum: int, handler: Any) -> Any:
    """``signal.signal`` for patched programs: Python handlers are wrapped."""
    if callable(handler):
        hub = _hub.get_hub()
        hub.enable_threadsafe()
        handler = root_signal_handler(handler)
    old = _real_signal(signalnum, handler)
    return getattr(old, "__dill_wrapped__", old)


def green_getsignal(signalnum: int) -> Any:
    """``signal.getsignal`` for patched programs: the program's own handler."""
    old = _real_getsignal(signalnum)
    return getattr(old, "__dill_wrapped__", old)
