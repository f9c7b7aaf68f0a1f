"""Waiting for file descriptors: the hook the socket layer is built on."""

from __future__ import annotations

from typing import Any

from ._hub import _local, check_deadline, get_hub

__all__ = ["fdin", "fdout", "fdclean", "forget_fd"]


def fdin(fd: Any, deadline: int | None = -1) -> None:
    """Wait until ``fd`` (an int or an object with ``fileno()``) is readable.

    Also returns when the fd is in an error or hang-up state.  Raises
    ``TimedOut`` at the deadline (with deadline 0, unless ready at once),
    ``Canceled``, ``BadHandle`` for an invalid fd, ``NotSupported`` for an fd the
    poller refuses (a regular file), and ``OSError(EBUSY)`` when another
    coroutine already waits for the same fd to become readable.
    """
    if deadline.__class__ is not int:
        deadline = check_deadline(deadline)
    get_hub().wait_fd(fd, 0, deadline)


def fdout(fd: Any, deadline: int | None = -1) -> None:
    """Wait until ``fd`` is writable; see ``fdin``."""
    if deadline.__class__ is not int:
        deadline = check_deadline(deadline)
    get_hub().wait_fd(fd, 1, deadline)


def fdclean(fd: Any) -> None:
    """Forget the runtime's state for ``fd``; call it before closing the fd.

    Raises ``OSError(EBUSY)`` while a coroutine waits on the fd.
    """
    get_hub().fdclean(fd)


def forget_fd(fd: int) -> None:
    """``fd`` is about to be closed by its owner (a socket's ``on_close``).

    Unlike ``fdclean`` it never raises: coroutines still waiting on the fd are
    woken with ``BadHandle``, and the poller forgets it.  Called from another
    thread (a garbage collection there) it does nothing.
    """
    if fd < 0:
        return
    hub = getattr(_local, "hub", None)  # a thread without a hub watches no fd
    if hub is not None:
        hub.fd_closing(fd)
