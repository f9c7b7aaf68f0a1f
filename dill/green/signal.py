"""A green ``signal``: what a Python signal handler raises goes to the root task.

``dill.patch()`` copies ``signal`` and ``getsignal`` onto the real module, so
every handler a patched program installs (a SIGTERM handler, pytest-timeout's
SIGALRM, a watchdog) follows dill's rule (``dill._signals``): its exception is
raised in the main thread's root code, never inside a coroutine, a green
thread or the scheduler.  ``getsignal`` returns the program's own function.
"""

from __future__ import annotations

from .._signals import green_getsignal as getsignal, green_signal as signal

__all__ = ["signal", "getsignal"]

__implements__ = ["signal", "getsignal"]
