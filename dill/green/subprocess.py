"""Green ``subprocess``: ``Popen.wait``/``communicate`` block only the calling coroutine.

``Popen`` subclasses the stdlib class.  ``wait()`` waits on a pidfd where the
kernel has them (else it polls ``waitpid(WNOHANG)`` with a short ``msleep``
backoff); ``communicate()`` always runs the stdlib's selector loop, over the
green selectors; the exec-status pipe read at spawn time is green too.  ``run``,
``call``, ``check_call``, ``check_output``, ``getoutput`` and
``getstatusoutput`` are the stdlib's code using the green ``Popen``.  A canceled
coroutine gets ``dill.Canceled`` where it would wait (the child keeps running:
kill it in a ``finally`` if it must not outlive the coroutine).  Everything
else is the stdlib module's.
"""

from __future__ import annotations

import os as _os
import subprocess as __subprocess__
import time as _time_mod

from .._coroutine import msleep as _msleep
from .._errors import TimedOut
from .._hub import now as _now
from . import select as _gselect
from . import selectors as _gselectors
from ._sync import deadline_in
from ._util import LiveNamespace, forget_fd, rebind, wait_fd

for _name, _value in list(vars(__subprocess__).items()):
    if _name not in ("__name__", "__doc__", "__file__", "__spec__", "__loader__",
                     "__package__", "__builtins__", "__cached__"):
        globals()[_name] = _value
del _name, _value

__all__ = list(__subprocess__.__all__)

_StdPopen = __subprocess__.Popen
while getattr(_StdPopen, "_dill_green", False):  # the stdlib module was patched already
    _StdPopen = _StdPopen.__bases__[0]

_monotonic = _time_mod.monotonic
_HAVE_PIDFD = hasattr(_os, "pidfd_open")

if hasattr(_gselectors, "PollSelector"):
    _PopenSelector = _gselectors.PollSelector
else:  # pragma: no cover
    _PopenSelector = _gselectors.SelectSelector


class _GreenOS:
    """``os`` as seen by the stdlib's Popen code: ``read`` waits green first."""

    def __getattr__(self, name):
        return getattr(_os, name)

    @staticmethod
    def read(fd, n):
        _gselect.select([fd], [], [])
        return _os.read(fd, n)


class Popen(_StdPopen):
    """``subprocess.Popen`` whose waits block only the calling coroutine."""

    _dill_green = True

    def _wait(self, timeout):
        """Wait for the child without blocking the hub."""
        if self.returncode is not None:
            return self.returncode
        endtime = None if timeout is None else _monotonic() + timeout
        pidfd = None
        delay = 0.0005
        try:
            while True:
                locked = self._waitpid_lock.acquire(False)
                if locked:
                    try:
                        if self.returncode is not None:
                            break  # another thread waited
                        pid, sts = self._try_wait(_os.WNOHANG)
                        if pid == self.pid:
                            self._handle_exitstatus(sts)
                            break
                    finally:
                        self._waitpid_lock.release()
                remaining = None
                if endtime is not None:
                    remaining = endtime - _monotonic()
                    if remaining <= 0:
                        raise TimeoutExpired(self.args, timeout)
                if locked and pidfd is None and _HAVE_PIDFD:
                    try:
                        pidfd = _os.pidfd_open(self.pid)
                    except OSError:
                        pidfd = -1
                if locked and pidfd is not None and pidfd >= 0:
                    try:
                        wait_fd(pidfd, 0, deadline_in(remaining), "subprocess")
                    except TimedOut:
                        pass
                else:
                    delay = min(delay * 2, .05 if remaining is None else remaining, .05)
                    _msleep(_now() + max(1, int(delay * 1000)))
        finally:
            if pidfd is not None and pidfd >= 0:
                forget_fd(pidfd)
                _os.close(pidfd)
        return self.returncode

    def communicate(self, input=None, timeout=None):
        """As the stdlib's, always through the (green) selector loop."""
        if self._communication_started and input:
            raise ValueError("Cannot send input after starting communication")
        endtime = None if timeout is None else _monotonic() + timeout
        try:
            stdout, stderr = self._communicate(input, endtime, timeout)
        except KeyboardInterrupt:
            if timeout is not None:
                sigint_timeout = min(self._sigint_wait_secs,
                                     self._remaining_time(endtime))
            else:
                sigint_timeout = self._sigint_wait_secs
            self._sigint_wait_secs = 0
            try:
                self._wait(timeout=sigint_timeout)
            except TimeoutExpired:
                pass
            raise
        finally:
            self._communication_started = True
        self.wait(timeout=self._remaining_time(endtime))
        return (stdout, stderr)

    communicate.__doc__ = _StdPopen.communicate.__doc__


_REBOUND = [n for n in ("run", "call", "check_call", "check_output", "getoutput",
                        "getstatusoutput") if hasattr(__subprocess__, n)]
_overrides = {}
_ns = LiveNamespace(__subprocess__, _overrides)
for _name in ("_execute_child", "_communicate"):
    setattr(Popen, _name, rebind(getattr(_StdPopen, _name), _ns))
for _name in _REBOUND:
    globals()[_name] = rebind(getattr(__subprocess__, _name), _ns)
del _name
_GREEN = ["Popen", "_PopenSelector", "selectors"] + _REBOUND
selectors = _gselectors
_overrides.update({_n: globals()[_n] for _n in _GREEN})
_overrides["os"] = _GreenOS()

# What dill.patch() copies onto the stdlib module.
__implements__ = [n for n in _GREEN if n != "selectors"]
