"""PREFIX: messages framed by a fixed-size length field, over a bytestream (libdill's
``prefix_attach``/``prefix_detach``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import RESET, ByteStream, MessageSocket
from ._layer import (
    DEFAULT_MAX_SIZE, RECV_CHUNK, EMSGSIZE_error, LayerMixin, BelowStream, check_lower,
    check_max_size,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Literal

    from ._base import BytesLike

__all__ = [
    "PREFIX_BIG_ENDIAN",
    "PREFIX_LITTLE_ENDIAN",
    "PrefixSocket",
    "prefix_attach",
    "prefix_detach",
]

PREFIX_BIG_ENDIAN = 0
PREFIX_LITTLE_ENDIAN = 1


class PrefixSocket(LayerMixin[BelowStream], MessageSocket):
    """A message socket: each message is a ``hdrlen``-byte length, then the payload."""

    _order: Literal["little", "big"]

    def __init__(self, s: ByteStream, hdrlen: int, flags: int, max_size: int) -> None:
        MessageSocket.__init__(self)
        self._s = s
        self._hdrlen = hdrlen
        self._order = "little" if flags & PREFIX_LITTLE_ENDIAN else "big"
        self._limit = (1 << (8 * hdrlen)) - 1
        self._max = max_size
        self._rx = bytearray()

    def __repr__(self) -> str:
        return "<PrefixSocket hdrlen=%d %s>" % (self._hdrlen, "closed" if self._s is None else "open")

    # ---------------------------------------------------------------- send
    def msendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        self._out_acquire()
        try:
            bufs = [b if isinstance(b, bytes) else memoryview(b).cast("B") for b in buffers]
            size = 0
            for b in bufs:
                size += len(b)
            if size > self._limit:
                raise EMSGSIZE_error(
                    "message of %d bytes does not fit a %d-byte length field" % (size, self._hdrlen))
            bufs.insert(0, size.to_bytes(self._hdrlen, self._order))
            self._send_below(self._s.bsendl, bufs, deadline)
        finally:
            self._out_release()

    def done(self, deadline: int | None = -1) -> None:
        """Half-close: finish the bytestream beneath (the peer's receives raise Done)."""
        self._done_below(deadline)

    # ---------------------------------------------------------------- receive
    def mrecv(self, deadline: int | None = -1) -> bytes:
        self._in_acquire()
        try:
            rx = self._rx
            h = self._hdrlen
            while len(rx) < h:
                self._fill(h, deadline)
            size = int.from_bytes(rx[:h], self._order)
            if size > self._max:
                self._in_fail(RESET)
                raise EMSGSIZE_error(
                    "announced message of %d bytes is over max_size (%d)" % (size, self._max))
            end = h + size
            while len(rx) < end:
                self._fill(end, deadline)
            if len(rx) == end:
                msg = bytes(rx[h:])
                rx.clear()
            else:
                msg = bytes(rx[h:end])
                del rx[:end]
            return msg
        finally:
            self._in_release()

    def _fill(self, want, deadline):
        rx = self._rx
        rx += self._recv_below(self._s.brecv_some, max(RECV_CHUNK, want - len(rx)), deadline,
                               midway=bool(rx))


def prefix_attach(s: BelowStream, hdrlen: int = 8, flags: int = 0,
                  max_size: int | None = DEFAULT_MAX_SIZE) -> PrefixSocket[BelowStream]:
    """Stack PREFIX on bytestream ``s`` (which it now owns) and return the message socket."""
    if not isinstance(hdrlen, int) or hdrlen < 1:
        raise ValueError("prefix_attach: hdrlen must be a positive int, got %r" % (hdrlen,))
    if flags not in (0, PREFIX_LITTLE_ENDIAN):
        raise ValueError("prefix_attach: unknown flags %r" % (flags,))
    max_size = check_max_size(max_size)
    check_lower(s, ByteStream, "prefix_attach")
    return PrefixSocket(s, hdrlen, flags, max_size)


def prefix_detach(s: PrefixSocket[BelowStream], deadline: int | None = -1) -> BelowStream:

    """Remove PREFIX and return the bytestream beneath; unread bytes stay on it."""
    if not isinstance(s, PrefixSocket):
        raise TypeError("prefix_detach expects a PREFIX socket, got %s" % type(s).__name__)
    return s._detach_framed("prefix_detach", s._rx)
