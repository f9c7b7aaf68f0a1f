"""SUFFIX: messages terminated by a delimiter, over a bytestream (libdill's
``suffix_attach``/``suffix_detach``). Reads in chunks; surplus bytes are pushed back to
the bytestream on detach."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import RESET, ByteStream, MessageSocket
from ._layer import (
    DEFAULT_MAX_SIZE, RECV_CHUNK, EMSGSIZE_error, LayerMixin, BelowStream, check_lower,
    check_max_size,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._base import BytesLike

__all__ = ["SuffixSocket", "suffix_attach", "suffix_detach"]


class SuffixSocket(LayerMixin[BelowStream], MessageSocket):
    """A message socket: each message is followed by ``suffix``."""

    def __init__(self, s: ByteStream, suffix: bytes, max_size: int) -> None:
        MessageSocket.__init__(self)
        self._s = s
        self._suffix = suffix
        self._max = max_size
        self._rx = bytearray()
        self._scanned = 0  # bytes of _rx known not to start the delimiter

    def __repr__(self) -> str:
        return "<SuffixSocket %r %s>" % (self._suffix, "closed" if self._s is None else "open")

    # ---------------------------------------------------------------- send
    def msendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        self._out_acquire()
        try:
            bufs = [b if isinstance(b, bytes) else memoryview(b).cast("B") for b in buffers]
            suffix = self._suffix
            payload = bufs[0] if len(bufs) == 1 else b"".join(bufs)
            if isinstance(payload, memoryview):
                payload = payload.tobytes()
            # the delimiter must first occur right after the payload
            slen = len(suffix)
            tail = bytes(payload[len(payload) - slen + 1:]) if slen > 1 and len(payload) >= slen - 1 \
                else bytes(payload) if slen > 1 else b""
            if suffix in payload or (tail + suffix).find(suffix) != len(tail):
                raise ValueError("suffix: the message contains the delimiter %r" % (suffix,))
            self._send_below(self._s.bsendl, (payload, suffix), deadline)
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
            suffix = self._suffix
            slen = len(suffix)
            limit = self._max + slen  # a message may be max bytes, plus the delimiter
            while True:
                i = rx.find(suffix, self._scanned)
                if i >= 0:
                    msg = bytes(rx[:i])
                    del rx[:i + slen]
                    self._scanned = 0
                    return msg
                self._scanned = max(0, len(rx) - slen + 1)
                if len(rx) >= limit:
                    self._in_fail(RESET)
                    raise EMSGSIZE_error(
                        "no delimiter within max_size (%d) bytes" % (self._max,))
                rx += self._recv_below(self._s.brecv_some, min(RECV_CHUNK, limit - len(rx)),
                                       deadline, midway=bool(rx))
        finally:
            self._in_release()


def suffix_attach(s: BelowStream, suffix: BytesLike | str = b"\r\n",
                  max_size: int | None = DEFAULT_MAX_SIZE) -> SuffixSocket[BelowStream]:
    """Stack SUFFIX on bytestream ``s`` (which it now owns); return the message socket."""
    if isinstance(suffix, str):
        suffix = suffix.encode()
    if not isinstance(suffix, (bytes, bytearray, memoryview)):
        raise TypeError("suffix_attach: suffix must be bytes, got %s" % type(suffix).__name__)
    suffix = bytes(suffix)
    if not suffix:
        raise ValueError("suffix_attach: the suffix must not be empty")
    max_size = check_max_size(max_size)
    check_lower(s, ByteStream, "suffix_attach")
    return SuffixSocket(s, suffix, max_size)


def suffix_detach(s: SuffixSocket[BelowStream], deadline: int | None = -1) -> BelowStream:

    """Remove SUFFIX and return the bytestream beneath; unread bytes stay on it."""
    if not isinstance(s, SuffixSocket):
        raise TypeError("suffix_detach expects a SUFFIX socket, got %s" % type(s).__name__)
    return s._detach_framed("suffix_detach", s._rx)
