"""dill's exceptions: each carries ``.errno`` like libdill's errno."""

from __future__ import annotations

import errno as _errno
import os as _os

__all__ = ["Canceled", "TimedOut", "Done", "BadHandle", "NotSupported"]


class Canceled(BaseException):
    """The calling coroutine was canceled (``hclose`` on it or its bundle).

    Cancellation is sticky: once a coroutine is canceled, every blocking call it
    makes raises ``Canceled``.  It derives from ``BaseException`` so that a plain
    ``except Exception`` in user code does not swallow it.
    """

    errno = _errno.ECANCELED

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("the coroutine was canceled",)))


class _DillOSError(OSError):
    """OSError with a default errno and message (set per subclass)."""

    _errno = 0

    def __init__(self, *args: object) -> None:
        if len(args) < 2:
            msg = args[0] if args else _os.strerror(self._errno)
            args = (self._errno, msg)
        super().__init__(*args)


class TimedOut(_DillOSError, TimeoutError):
    """The deadline passed before the operation could complete."""

    _errno = _errno.ETIMEDOUT


class Done(_DillOSError, BrokenPipeError):
    """The other side is done (``chdone``, a closed peer, a protocol's ``*_done``).

    ``index`` is the clause index when raised by ``choose``, else ``None``.
    """

    _errno = _errno.EPIPE
    index: int | None = None


class BadHandle(_DillOSError):
    """The handle is closed or was never a valid handle."""

    _errno = _errno.EBADF


class NotAHandle(BadHandle, TypeError):
    """The argument is not a dill handle at all (also a ``TypeError``)."""


class NotSupported(_DillOSError):
    """The handle does not support the operation."""

    _errno = _errno.ENOTSUP
