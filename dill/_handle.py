"""Handles: everything the runtime hands out can be closed, once."""

from __future__ import annotations

from typing import Any

from ._errors import BadHandle, NotAHandle

__all__ = ["Handle", "hclose"]


class Handle:
    """Base class of every dill object that owns something: close it when done.

    ``h.close()`` (or ``hclose(h)``, or leaving ``with h:``) releases it; closing
    twice is a no-op and any other use of a closed handle raises ``BadHandle``.
    Subclass it to build asynchronous objects that own coroutines (the guide's
    ``tcp_connection``): override ``on_close()``, which runs exactly once.  A
    subclass that declares ``__slots__`` must include ``"_closed"`` in them.
    A close that must be refused is refused by ``check_close()``, before the
    handle counts as closed.
    """

    __slots__ = ()
    _closed = False

    def close(self) -> None:
        """Close the handle (a no-op if it is already closed)."""
        if self._closed:
            return
        self.check_close()
        self._closed = True  # type: ignore[misc]  # subclasses declare the slot
        self.on_close()

    def check_close(self) -> None:
        """Raise if this handle cannot be closed here and now (the wrong
        thread, a coroutine closing itself); it stays open.  Override it."""

    def on_close(self) -> None:
        """Release what the handle owns; called once by ``close()``.  Override it."""

    @property
    def closed(self) -> bool:
        """True once the handle was closed."""
        return self._closed

    def _check(self) -> None:
        """Raise ``BadHandle`` if the handle is closed."""
        if self._closed:
            raise BadHandle(f"{type(self).__name__} is closed")

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hclose(h: Handle) -> None:
    """Close a handle: cancel a coroutine or bundle and wait for it, close a channel end..."""
    if not isinstance(h, Handle):
        raise NotAHandle(f"not a dill handle: {h!r}")
    h.close()


def not_a(h: Any, kind: type) -> BaseException:
    """The error for passing ``h`` where a ``kind`` handle was expected."""
    from ._errors import NotSupported

    if isinstance(h, Handle):
        if h._closed:
            return BadHandle(f"{type(h).__name__} is closed")
        return NotSupported(f"{type(h).__name__} is not a {kind.__name__}")
    return NotAHandle(f"expected a {kind.__name__}, got {type(h).__name__}")
