"""TERM: a terminal message on top of a message socket, so that both sides can agree
that the message stream is over (libdill's ``term_attach``/``term_done``/``term_detach``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dill import Done
from ._base import MessageSocket, DONE, RESET
from ._layer import (
    DEFAULT_MAX_SIZE, EMSGSIZE_error, LayerMixin, BelowMessages, check_lower, check_max_size,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._base import BytesLike

__all__ = ["TermSocket", "term_attach", "term_done", "term_detach"]


class TermSocket(LayerMixin[BelowMessages], MessageSocket):
    """A message socket whose stream ends with the terminal message."""

    def __init__(self, s: MessageSocket, terminal: bytes, max_size: int) -> None:
        MessageSocket.__init__(self)
        self._s = s
        self._terminal = terminal
        self._max = max_size

    def __repr__(self) -> str:
        return "<TermSocket %r %s>" % (self._terminal, "closed" if self._s is None else "open")

    def msendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        self._out_acquire()
        try:
            bufs = [b if isinstance(b, bytes) else memoryview(b).cast("B") for b in buffers]
            size = sum(len(b) for b in bufs)
            if size == len(self._terminal) and b"".join(bufs) == self._terminal:
                raise ValueError("term: the message equals the terminal message %r" % (self._terminal,))
            self._send_below(self._s.msendl, bufs, deadline)
        finally:
            self._out_release()

    def mrecv(self, deadline: int | None = -1) -> bytes:
        self._in_acquire()
        try:
            return self._recv(deadline)
        finally:
            self._in_release()

    def _recv(self, deadline):
        msg = self._recv_below(self._s.mrecv, deadline)
        if msg == self._terminal:
            self._in_fail(DONE)
            raise Done()
        if len(msg) > self._max:
            self._in_fail(RESET)
            raise EMSGSIZE_error("message of %d bytes is over max_size (%d)" % (len(msg), self._max))
        return msg

    def _drop_one(self, deadline):
        """Receive and drop one message from beneath (for ``term_detach``); the
        terminal message raises Done."""
        if self._s.mrecv(deadline) == self._terminal:
            raise Done()

    def done(self, deadline: int | None = -1) -> None:
        """Send the terminal message; later sends raise Done."""
        self._out_acquire()
        try:
            try:
                self._s.msend(self._terminal, deadline)
            except ConnectionResetError:
                self._out_fail(RESET)
                raise
            self._out_fail(DONE)
        finally:
            self._out_release()


def term_attach(s: BelowMessages, terminal: BytesLike | str = b"",
                max_size: int | None = DEFAULT_MAX_SIZE) -> TermSocket[BelowMessages]:
    """Stack TERM on message socket ``s`` (which it now owns); return the new socket."""
    if isinstance(terminal, str):
        terminal = terminal.encode()
    if not isinstance(terminal, (bytes, bytearray, memoryview)):
        raise TypeError("term_attach: terminal must be bytes, got %s" % type(terminal).__name__)
    max_size = check_max_size(max_size)
    check_lower(s, MessageSocket, "term_attach")
    return TermSocket(s, bytes(terminal), max_size)


def _check(s, who):
    if not isinstance(s, TermSocket):
        raise TypeError("%s expects a TERM socket, got %s" % (who, type(s).__name__))


def term_done(s: TermSocket, deadline: int | None = -1) -> None:
    """Send the terminal message. A second call raises Done."""
    _check(s, "term_done")
    s.done(deadline)


def term_detach(s: TermSocket[BelowMessages], deadline: int | None = -1) -> BelowMessages:

    """Send the terminal message (if not yet sent), drop incoming messages until the
    peer's terminal message, and return the message socket beneath. On failure the
    whole stack is closed."""
    _check(s, "term_detach")
    s._detach_closing(lambda: s.done(deadline), lambda: s._drop_one(deadline))
    return s._release_lower()
