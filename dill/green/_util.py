"""Helpers shared by the green I/O modules (socket, select, ssl, subprocess)."""

from __future__ import annotations

import types as _types
from typing import Any

from .._fd import forget_fd
from .._hub import get_hub

__all__ = ["wait_fd", "would_block", "forget_fd", "rebind", "to_thread"]


def wait_fd(fd: int, out: int, deadline: int, op: str = "socket") -> None:
    """fdin/fdout by direction (0: readable, 1: writable); ``deadline`` is an int.

    ``op`` names the wait for the tools: ``socket`` (sockets, TLS), ``select``
    (select, poll, epoll, selectors), ``subprocess``.
    """
    get_hub().wait_fd(fd, out, deadline, op)


def would_block() -> None:
    """The failure path of a non-blocking green operation: let the other ready
    coroutines run once before the caller gets its ``BlockingIOError``
    (``SSLWantReadError``, an empty ``select``).

    A green thread is never preempted, so a loop that polls a non-blocking socket
    would otherwise starve the very thread that is to send it the data.  Free on
    success: only the call that cannot complete pays for the yield.  This is a
    blocking point in spirit: a canceled coroutine gets ``dill.Canceled`` here.
    """
    get_hub().yield_()


def rebind(fn: Any, namespace: dict, name: str | None = None) -> Any:
    """A copy of the pure-Python function ``fn`` whose globals are ``namespace``.

    This is how the green modules reuse the stdlib's code (``create_connection``,
    ``Popen._communicate``, ...) with names such as ``socket`` or ``selectors``
    resolving to the green versions.
    """
    new = _types.FunctionType(fn.__code__, namespace, name or fn.__name__,
                              fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__doc__ = fn.__doc__
    new.__dict__.update(fn.__dict__)
    new.__module__ = namespace.get("__name__", fn.__module__)
    return new


def to_thread(fn: Any, *args: Any) -> Any:
    """Run a blocking call (name resolution) in the worker pool, if there is one."""
    try:
        from .._threads import to_thread as _to_thread
    except ImportError:  # pragma: no cover - the thread pool is not there yet
        return fn(*args)
    return _to_thread(fn, *args)


_MISSING = object()


class LiveNamespace(dict):
    """Globals for stdlib functions re-run by a green module.

    A name resolves to the stdlib module's current value, except that a name the
    green module overrides resolves to the green version as long as the stdlib
    module still holds its original value.  So ``mock.patch("subprocess._fork_exec")``
    or ``socket.socket = Mock`` in a test are honoured, as is ``dill.patch()``.
    """

    def __init__(self, module: Any, overrides: dict) -> None:
        super().__init__()
        mdict = vars(module)
        self["__builtins__"] = mdict.get("__builtins__", __builtins__)
        self._mdict = mdict
        self._over = overrides
        self._orig = dict(mdict)  # the stdlib's original values

    def __missing__(self, key: str) -> Any:
        o = self._over.get(key, _MISSING)
        if o is not _MISSING:
            v = self._mdict.get(key, _MISSING)
            if v is self._orig.get(key, _MISSING):
                return o
            return v
        return self._mdict[key]  # KeyError: the interpreter then tries builtins
