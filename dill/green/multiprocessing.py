"""Green ``multiprocessing``: its blocking IPC blocks only the calling coroutine.

Under ``dill.patch()`` multiprocessing's helper threads (``Pool``'s task and
result handlers, ``Queue``'s feeder) are coroutines of the main thread's hub,
so a blocking ``os.read`` on a pipe would stop all of them (``Pool.map`` hung).
This module holds the replacements ``dill.patch()`` puts on the stdlib's
classes, in place (``PATCHES``); nothing else of ``multiprocessing`` changes:

* ``Connection._recv`` / ``_send`` (every ``recv``/``send`` of a ``Pipe``,
  ``Queue``, ``SimpleQueue``, ``Pool``, ``Listener``/``Client``, managers) only
  read or write what can be done at once, and wait for the fd through the hub
  in between (``_io_some``); ``Connection._close`` tells the hub first.
* ``connection._WaitSelector`` is the green ``PollSelector``: ``connection.wait``,
  ``Connection.poll``, ``Queue.get(timeout=...)``, ``Process.join(timeout)``.
* ``SemLock.acquire`` (and ``with``) of ``Lock``, ``RLock``, ``Semaphore``,
  ``Condition``, ``Event``, ``Barrier`` and the queues' internal locks polls
  the semaphore without blocking, sleeping green in between (a failed
  non-blocking acquire returns ``False`` at once, as the stdlib's).
* ``popen_fork.Popen.wait`` (``Process.join()`` without a timeout, also for
  spawn) waits for the child's sentinel green before ``waitpid``.

The fds stay as they are: the pipes are shared with the child processes
(inherited file descriptions), and ``O_NONBLOCK`` set on one would change the
children's reads and writes too.  A canceled coroutine gets ``dill.Canceled``
where it would wait; canceled in the middle of a message, it leaves the
connection mid-message (as ``KeyboardInterrupt`` does in the stdlib): close it.
Timeouts are the stdlib's (seconds).
"""

from __future__ import annotations

import errno as _errno
import io as _io
import os as _os
import select as _select
from typing import Any

from .._coroutine import msleep as _msleep
from .._hub import now as _now
from ._sync import deadline_in
from ._util import forget_fd, wait_fd
from .select import _std_poll  # the stdlib's, even if select is patched
from .selectors import PollSelector

__all__: list[str] = []

_POLLIN = _select.POLLIN
_POLLOUT = _select.POLLOUT
# Writes of at most PIPE_BUF bytes to a pipe that polls writable never block.
_PIPE_BUF = getattr(_select, "PIPE_BUF", 512)
# Per-call non-blocking I/O (Linux preadv2/pwritev2); 0 where there is none.
_RWF_NOWAIT = getattr(_os, "RWF_NOWAIT", 0) if hasattr(_os, "preadv") else 0
# The longest sleep between two tries of a contended semaphore (ms).
_SEM_MAX_NAP = 20


def _wait_ready(fd: int, out: int) -> None:
    """Return once ``fd`` is readable (``out`` 0) or writable (1); only the caller waits."""
    p = _std_poll()
    p.register(fd, _POLLOUT if out else _POLLIN)
    if not p.poll(0):  # ready at once is the common case: no hub round trip
        wait_fd(fd, out, -1, "multiprocessing")


def _io_some(conn: Any, view: memoryview, out: int) -> int:
    """Read into (``out`` 0) or write from (1) ``view`` what can be done at once,
    waiting green until something can; returns the count (0 at end of file).

    Where the kernel has it (Linux: sockets; pipes too on recent kernels),
    ``RWF_NOWAIT`` makes this one call non-blocking and leaves the fd's shared
    flags alone: a write does what fits, a read what is there, and a reader or
    writer of another process that got there first only means waiting again.
    Elsewhere (``EOPNOTSUPP``, remembered per connection) each read or write
    follows readiness: a read then returns at once with what is there, and a
    write of at most ``PIPE_BUF`` bytes fits in a pipe (or a socket pair) that
    polls writable.  That relies on one reader and one writer per connection
    end at a time, which the stdlib requires anyway (two corrupt the
    messages; the queues read and write under their locks, and ``Pool``'s
    parent is the only reader of its results and writer of its tasks).
    """
    fd = conn._handle
    while True:
        if _RWF_NOWAIT and getattr(conn, "_dill_nowait", True):
            try:
                if out:
                    return _os.pwritev(fd, [view], -1, _RWF_NOWAIT)
                return _os.preadv(fd, [view], -1, _RWF_NOWAIT)
            except BlockingIOError:
                wait_fd(fd, out, -1, "multiprocessing")
                continue
            except OSError as e:
                if e.errno not in (_errno.EOPNOTSUPP, _errno.EINVAL, _errno.ENOSYS):
                    raise
                conn._dill_nowait = False
        _wait_ready(fd, out)
        try:
            if out:
                return _os.write(fd, view[:_PIPE_BUF])
            return _os.readv(fd, [view])
        except BlockingIOError:  # a non-blocking fd (a green socket's, detached)
            continue


def _recv(self: Any, size: int) -> _io.BytesIO:
    """Read exactly ``size`` bytes of a message (``EOFError`` at a clean end).

    No read blocks the hub, nor does it change the fd's flags (``_io_some``).
    """
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = _io_some(self, view[got:], 0)
        if n == 0:
            if got == 0:
                raise EOFError
            raise OSError("got end of file during message")
        got += n
    bio = _io.BytesIO(buf)
    bio.seek(0, _io.SEEK_END)  # where the stdlib's is: recv_bytes_into reads tell()
    return bio


def _send(self: Any, buf: Any) -> None:
    """Write all of ``buf``; only the caller waits while the pipe is full.

    No write blocks the hub (``_io_some``): a large message to a child that is
    itself waiting for the parent to read its results cannot deadlock the
    parent.  A message of at most ``PIPE_BUF`` bytes (header included) is
    still one atomic write.
    """
    view = memoryview(buf).cast("B")
    while view:
        view = view[_io_some(self, view, 1):]


def _close(self: Any, _close: Any = _os.close) -> None:
    """Close the fd, telling the hub first (its waiters get ``BadHandle``)."""
    forget_fd(self._handle)
    _close(self._handle)


def _sem_acquire(sem: Any, block: bool = True, timeout: float | None = None) -> bool:
    """``SemLock.acquire`` that sleeps green while the semaphore is taken.

    A POSIX semaphore has no fd to wait on, so this tries it without blocking
    and naps in between, 1 ms doubling to 20 ms: a hand-over within the nap,
    and about 50 wake-ups a second during a long wait.  Returns ``False`` when
    ``block`` is false or the timeout passes (as the stdlib's), without
    waiting for a timeout of 0 or less.
    """
    if sem.acquire(False):
        return True
    if not block:
        return False
    deadline = deadline_in(None if timeout is None else float(timeout))
    if deadline == 0:
        return False
    nap = 1
    while True:
        t = _now() + nap
        _msleep(t if deadline < 0 else min(t, deadline))
        if sem.acquire(False):
            return True
        if 0 <= deadline <= _now():
            return False
        nap = min(nap * 2, _SEM_MAX_NAP)


def _make_methods(self: Any) -> None:
    """Bind ``acquire`` (green) and ``release`` to the instance, as the stdlib does."""
    sem = self._semlock

    def acquire(block: bool = True, timeout: float | None = None) -> bool:
        return _sem_acquire(sem, block, timeout)

    acquire.__doc__ = sem.acquire.__doc__
    self.acquire = acquire
    self.release = sem.release


def _sem_enter(self: Any) -> bool:
    """``with lock:`` acquires green."""
    return self.acquire()


def _popen_wait(self: Any, timeout: float | None = None) -> int | None:
    """``Popen.wait`` that waits for the child's sentinel green, timeout or not.

    The stdlib's own code for a timeout, used for ``None`` too (its
    ``waitpid(pid, 0)`` would block the hub until the child exits).
    """
    if self.returncode is None:
        from multiprocessing.connection import wait
        if not wait([self.sentinel], timeout):
            return None
        # This does not block: the sentinel is ready once the child has exited.
        return self.poll(_os.WNOHANG if timeout == 0.0 else 0)
    return self.returncode


# What dill.patch() sets, per stdlib module: dotted attribute -> green value.
PATCHES = {
    "multiprocessing.connection": {
        "Connection._recv": _recv,
        "Connection._send": _send,
        "Connection._close": _close,
        "_WaitSelector": PollSelector,
    },
    "multiprocessing.synchronize": {
        "SemLock._make_methods": _make_methods,
        "SemLock.__enter__": _sem_enter,
    },
    "multiprocessing.popen_fork": {
        "Popen.wait": _popen_wait,
    },
}
