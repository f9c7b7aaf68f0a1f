"""Private helpers shared by the protocols stacked on a socket (prefix, suffix, term,
tls, http, ws).

A layer owns the socket beneath it (``self._s``). ``hclose`` on the layer closes the
whole stack; ``_release_lower`` hands the socket beneath back (for ``*_detach``)
without closing it, and closes the layer itself.

The one place for what every layer does alike: ``_send_below``/``_recv_below`` turn
the end or reset of the socket beneath into the layer's sticky state, and
``_detach_framed`` (no closing handshake: prefix, suffix) or ``_detach_closing``
(term, tls, ws) is the body of a ``*_detach``.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dill import BadHandle, Done, Handle, NotSupported

from ._base import BUSY, CLOSED, DONE, RESET, ByteStream, MessageSocket, SocketBase

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._base import BytesLike

__all__: list[str] = []

DEFAULT_MAX_SIZE = 16 * 1024 * 1024
RECV_CHUNK = 65536

_T = TypeVar("_T")

# The socket beneath a layer, for type checkers: what its ``*_detach`` gives back
# (a layer class is generic in it; nothing at run time reads it).
Below = TypeVar("Below", bound=SocketBase)
BelowStream = TypeVar("BelowStream", bound=ByteStream)
BelowMessages = TypeVar("BelowMessages", bound=MessageSocket)


def EMSGSIZE_error(what):
    return OSError(_errno.EMSGSIZE, what)


def EPROTO_error(what):
    return OSError(_errno.EPROTO, what)


def check_lower(s, kind, who):
    """Validate the socket an ``*_attach`` is given: a live socket of ``kind``."""
    if not isinstance(s, kind):
        if isinstance(s, Handle):
            raise NotSupported(
                _errno.ENOTSUP,
                "%s needs a %s, got %s" % (
                    who, "bytestream" if kind is ByteStream else "message socket",
                    type(s).__name__))
        raise TypeError("%s expects a dill socket handle, got %s" % (who, type(s).__name__))
    if s._inb is CLOSED or s._outb is CLOSED:
        raise BadHandle()


def check_max_size(max_size):
    if max_size is None:
        return DEFAULT_MAX_SIZE
    if not isinstance(max_size, int) or max_size < 0:
        raise ValueError("max_size must be a non-negative int, got %r" % (max_size,))
    return max_size


def close_quietly(h):
    if h is None:
        return
    try:
        h.close()
    except Exception:  # pragma: no cover - closing never fails for dill handles
        pass


class LayerMixin(SocketBase, Generic[Below]):
    """Ownership of the socket beneath. Put before the socket base class
    (ByteStream or MessageSocket) in the MRO."""

    _s: Any = None  # the socket beneath: a ByteStream or a MessageSocket
    #: what a receive raises when the stream beneath ends part-way through a message
    _MIDWAY = "stream ended in the middle of a message"

    def on_close(self):
        super().on_close()
        s = self._s
        self._s = None
        close_quietly(s)

    def _release_lower(self, unread: BytesLike = b""):
        """Close this layer, but not the socket beneath, which is returned with
        ``unread`` (bytes this layer took from it but did not use) pushed back."""
        s = self._s
        self._s = None
        self.close()
        if unread:
            s.unrecv(bytes(unread))
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

    def _detach_framed(self, who: str, unread: BytesLike):
        """The whole ``*_detach`` of a layer without a closing handshake (prefix,
        suffix): once either direction failed the stack is closed
        (ConnectionResetError); otherwise the socket beneath is returned with
        ``unread`` pushed back."""
        self._detach_prologue()
        if self._inb is RESET or self._outb is RESET:
            self.close()
            raise ConnectionResetError(_errno.ECONNRESET, "%s: the socket had failed; closed" % who)
        return self._release_lower(unread)

    def _detach_closing(self, send_end: Callable[[], object],
                        drop_one: Callable[[], object]) -> None:
        """The closing handshake of a ``*_detach`` (term, tls, ws): send this layer's
        end unless it went out (``send_end``), then drop what arrives until the
        peer's end, unless it came (``drop_one`` raises Done there).  A sticky
        error or any failure closes the whole stack."""
        self._detach_prologue()
        try:
            if self._outb is None:
                send_end()
            elif self._outb is not DONE:
                self._outb()  # sticky error
            if self._inb is None:
                self._in_acquire()
                try:
                    while True:
                        drop_one()
                except Done:
                    pass
                finally:
                    self._in_release()
            elif self._inb is not DONE:
                self._inb()
        except BaseException:
            self._fail_detach()
            raise

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

    def _recv_below(self, recv: Callable[..., _T], *args: Any, midway: bool = False) -> _T:
        """``recv(*args)`` on the socket beneath; its end (Done) or reset becomes
        this layer's sticky receive state.  With ``midway`` (part of a message
        already taken) the end is a protocol error (EPROTO, ``_MIDWAY``) that
        breaks the receive direction.  Call with the receive direction acquired."""
        try:
            return recv(*args)
        except Done:
            if midway:
                self._in_fail(RESET)
                raise EPROTO_error(self._MIDWAY) from None
            self._in_fail(DONE)
            raise
        except ConnectionResetError:
            self._in_fail(RESET)
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
