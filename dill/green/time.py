"""A green ``time``: ``sleep`` blocks only the calling coroutine.

Everything else is the stdlib ``time`` module's.  ``dill.patch()`` replaces
``time.sleep`` on the real module.  ``sleep(secs)`` waits at least ``secs``
seconds on a dill deadline rounded up to the next millisecond; ``sleep(0)``
lets every other ready coroutine run once (``dill.yield_``).  In a canceled
coroutine it raises ``dill.Canceled``.
"""

from __future__ import annotations

import time as _std
from typing import Any

from .._errors import Canceled as _Canceled
from .._hub import TIMEOUT as _TIMEOUT
from .._hub import get_hub as _get_hub
from .._hub import reason_error as _reason_error
from ._sync import deadline_in, seconds

for _k, _v in vars(_std).items():
    if not _k.startswith("__"):
        globals()[_k] = _v
del _k, _v

# What dill.patch() copies onto the real ``time`` module.
__implements__ = ["sleep"]

_MAX_SECONDS = 2**63 // 10**9


def sleep(secs: Any) -> None:
    """Suspend the calling coroutine for ``secs`` seconds (int or float)."""
    secs = seconds(secs)
    if secs != secs:
        raise ValueError("Invalid value NaN (not a number)")
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    if secs > _MAX_SECONDS:
        raise OverflowError("timestamp too large to convert to C _PyTime_t")
    hub = _get_hub()
    if secs == 0:
        hub.yield_()
        return
    task = hub.current
    if task.canceled:
        raise _Canceled()
    v = hub.block(task, "sleep", None, deadline_in(secs))
    if v is not _TIMEOUT:
        raise _reason_error(task, v)
