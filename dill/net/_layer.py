"""Private helpers shared by the protocols stacked on a socket (prefix, suffix, term,
tls, http, ws).

A layer owns the socket beneath it (``self._s``). ``hclose`` on the layer closes the
whole stack; ``_release_lower`` hands the socket beneath back (for ``*_detach``)
without closing it, and closes the layer itself.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

from dill import Done

from ._base import BUSY, CLOSED, DONE, RESET, ByteStream

__all__ = []

DEFAULT_MAX_SIZE = 16 * 1024 * 1024
RECV_CHUNK = 65536


def EMSGSIZE_error(what):
    return OSError(_errno.EMSGSIZE, what)


def EPROTO_error(what):
    return OSError(_errno.EPROTO, what)


def check_lower(s, kind, who):
    """Validate the socket an ``*_attach`` is given: a live socket of ``kind``."""
    if not isinstance(s, kind):
        from dill import Handle, NotSupported
        if isinstance(s, Handle):
            raise NotSupported(
                _errno.ENOTSUP,
                "%s needs a %s, got %s" % (
                    who, "bytestream" if kind is ByteStream else "message socket",
                    type(s).__name__))
        raise TypeError("%s expects a dill socket handle, got %s" % (who, type(s).__name__))
    if s._inb is CLOSED or s._outb is CLOSED:
        from dill import BadHandle
        raise BadHandle()


def check_max_size(max_size):
    if max_size is None:
        return DEFAULT_MAX_SIZE
    if not isinstance(max_size, int) or max_size < 0:
        raise ValueError("max_size must be a non-negative int, got %r" % (max_size,))
    return max_size


def join_buffers(buffers):
    """One bytes-like object with the content of ``buffers`` (no copy for one)."""
    if isinstance(buffers, (bytes, bytearray, memoryview)):
        raise TypeError("expected a sequence of buffers, got a single %s" % type(buffers).__name__)
    bufs = list(buffers)
    if len(bufs) == 1:
        b = bufs[0]
        if isinstance(b, bytes):
            return b
        return bytes(memoryview(b).cast("B") if isinstance(b, memoryview) else b)
    return b"".join(bufs)


def close_quietly(h):
    if h is None:
        return
    try:
        h.close()
    except Exception:  # pragma: no cover - closing never fails for dill handles
        pass


class LayerMixin:
    """Ownership of the socket beneath. Put before the socket base class in the MRO."""

    _s: Any = None  # the socket beneath: a ByteStream or a MessageSocket


    def on_close(self):
        super().on_close()
        s = self._s
        self._s = None
        close_quietly(s)

    def _release_lower(self):
        """Close this layer, but not the socket beneath, which is returned."""
        s = self._s
        self._s = None
        self.close()
        return s

    def _detach_prologue(self):
        """Common checks of a ``*_detach``: not closed, not in use."""
        for b in (self._inb, self._outb):
            if b is CLOSED:
                b()
            if b is BUSY:
                b()

    def _fail_detach(self):
        """A detach that failed closes the whole stack."""
        self.close()

    def _send_below(self, send, data, deadline):
        """``send(data, deadline)`` on the socket beneath; its end (Done) or
        reset becomes this layer's sticky send state.  Call with the send
        direction acquired."""
        try:
            send(data, deadline)
        except Done:
            self._out_fail(DONE)
            raise
        except ConnectionResetError:
            self._out_fail(RESET)
            raise

    def _done_below(self, deadline):
        """``done()`` of a layer framed on a bytestream: finish the stream
        beneath, so the peer's receives raise Done."""
        self._out_acquire()
        try:
            self._s.done(deadline)
            self._out_fail(DONE)
        finally:
            self._out_release()


def is_sticky_error(state):
    return state is RESET
