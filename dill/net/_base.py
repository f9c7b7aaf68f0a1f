"""Socket base classes shared by every transport and protocol in dill.net.

Two interfaces, as in libdill:

* ``ByteStream`` -- a bytestream socket (tcp, ipc, tls, ...). Subclasses implement
  ``bsendl``, ``brecv_some``, ``unrecv`` and ``done``; the generic ``bsend``,
  ``brecv`` and ``brecvl`` methods are built on those and may be overridden by a
  transport for speed.
* ``MessageSocket`` -- a message socket (udp, prefix, suffix, ws, ...). Subclasses
  implement ``msendl``, ``mrecv`` and ``done``.

Per-direction state (the shared bookkeeping protocols should reuse)
------------------------------------------------------------------
Each socket has two slots, ``_inb`` (receive) and ``_outb`` (send). ``None`` means the
direction is usable; anything else is a zero-argument callable that raises the error
a call in that direction must raise right now:

* ``BUSY``   -- another coroutine is in the middle of an operation (OSError EBUSY);
* ``RESET``  -- sticky failure (ConnectionResetError);
* ``DONE``   -- the direction is finished (Done);
* ``CLOSED`` -- the handle is closed (BadHandle).

The usual pattern in a protocol method::

    def msendl(self, buffers, deadline=-1):
        self._out_acquire()            # raises BadHandle/EBUSY/sticky error, marks busy
        try:
            ...                        # may wait; on a partial failure: self._out_fail()
        finally:
            self._out_release()        # clears BUSY unless a sticky state was set

``_out_fail(kind=RESET)`` / ``_in_fail(kind=RESET)`` make a state sticky (``DONE`` for
a finished direction). ``on_close`` marks both directions ``CLOSED``; a subclass that
overrides ``on_close`` must call ``super().on_close()``.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, TypeAlias

from dill import BadHandle, Done, Handle, NotSupported

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    # a per-direction state (see the module docstring): raises when called
    _State: TypeAlias = Callable[[], NoReturn]

__all__ = [
    "ByteStream",
    "MessageSocket",
    "bsend",
    "brecv",
    "bsendl",
    "brecvl",
    "msend",
    "mrecv",
    "msendl",
    "mrecvl",
]

#: The bytes-like objects the socket layer accepts as data to send.
BytesLike: TypeAlias = bytes | bytearray | memoryview


# --------------------------------------------------------------------------- states


def BUSY() -> NoReturn:
    raise OSError(_errno.EBUSY, "another coroutine is already using this direction of the socket")


def RESET() -> NoReturn:
    raise ConnectionResetError(_errno.ECONNRESET, "connection broken (an earlier error in this direction is sticky)")


def DONE() -> NoReturn:
    raise Done()


def CLOSED() -> NoReturn:
    raise BadHandle()


class SocketBase(Handle):
    """Common base of ByteStream and MessageSocket: per-direction state helpers."""

    # "_closed" is Handle's flag; declared here so slotted subclasses can set it
    __slots__ = ("_closed", "_inb", "_outb")

    _inb: _State | None
    _outb: _State | None

    def __init__(self) -> None:
        Handle.__init__(self)
        self._closed = False
        self._inb = None
        self._outb = None

    # -- receive direction
    def _in_check(self):
        b = self._inb
        if b is not None:
            b()

    def _in_acquire(self):
        b = self._inb
        if b is not None:
            b()
        self._inb = BUSY

    def _in_release(self):
        if self._inb is BUSY:
            self._inb = None

    def _in_fail(self, kind=RESET):
        if self._inb is not CLOSED:
            self._inb = kind

    # -- send direction
    def _out_check(self):
        b = self._outb
        if b is not None:
            b()

    def _out_acquire(self):
        b = self._outb
        if b is not None:
            b()
        self._outb = BUSY

    def _out_release(self):
        if self._outb is BUSY:
            self._outb = None

    def _out_fail(self, kind=RESET):
        if self._outb is not CLOSED:
            self._outb = kind

    def on_close(self) -> None:
        self._inb = CLOSED
        self._outb = CLOSED


# --------------------------------------------------------------------------- bytestream


class ByteStream(SocketBase):
    """A bytestream socket. See the module docstring."""

    __slots__ = ()

    # --- the interface subclasses implement
    def bsendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        """Send every byte of every buffer, or raise."""
        raise NotSupported()

    def brecv_some(self, n: int, deadline: int | None = -1) -> bytes:
        """Return 1..n bytes, waiting only if none is available.

        Raises Done at the peer's end of stream, TimedOut/Canceled only if it had to
        wait and nothing arrived."""
        raise NotSupported()

    def unrecv(self, data: BytesLike) -> None:
        """Push ``data`` back to the front of the receive buffer."""
        raise NotSupported()

    def done(self, deadline: int | None = -1) -> None:
        """Half-close the outbound direction."""
        raise NotSupported()

    # --- generic helpers built on the interface (transports may override)
    def bsend(self, data: BytesLike, deadline: int | None = -1) -> None:
        """Send all of ``data`` (bytes-like); see ``bsend``."""
        self.bsendl((data,), deadline)

    def brecv(self, n: int, deadline: int | None = -1) -> bytes:
        """Receive exactly ``n`` bytes; see ``brecv``."""
        if n < 0:
            raise ValueError("brecv: n must be >= 0, got %r" % (n,))
        if n == 0:
            self._in_check()
            return b""
        first = self.brecv_some(n, deadline)
        got = len(first)
        if got == n:
            return first
        parts = [first]
        try:
            while got < n:
                d = self.brecv_some(n - got, deadline)
                parts.append(d)
                got += len(d)
        except BaseException:
            self.unrecv(b"".join(parts))
            raise
        return b"".join(parts)

    def brecvl(self, buffers: Sequence[bytearray | memoryview | int],
               deadline: int | None = -1) -> None:
        """Fill each writable buffer in place (an int entry skips that many bytes).

        On an error part-way, every byte received by this call is pushed back."""
        views: list[memoryview | int] = []
        for b in buffers:
            if isinstance(b, int):

                if b < 0:
                    raise ValueError("brecvl: a skip length must be >= 0")
                views.append(b)
            else:
                mv = memoryview(b)
                if mv.readonly:
                    raise TypeError("brecvl: buffers must be writable")
                views.append(mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv)
        if not views:
            self._in_check()
            return
        got_parts = []
        try:
            for v in views:
                if isinstance(v, int):
                    need = v
                    while need:
                        d = self.brecv_some(need, deadline)
                        got_parts.append(d)
                        need -= len(d)
                else:
                    pos = 0
                    end = len(v)
                    while pos < end:
                        d = self.brecv_some(end - pos, deadline)
                        got_parts.append(d)
                        v[pos:pos + len(d)] = d
                        pos += len(d)
        except BaseException:
            if got_parts:
                self.unrecv(b"".join(got_parts))
            raise


# --------------------------------------------------------------------------- message


class MessageSocket(SocketBase):
    """A message socket. See the module docstring."""

    __slots__ = ()

    def msendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        """Send the concatenation of ``buffers`` as one message."""
        raise NotSupported()

    def mrecv(self, deadline: int | None = -1) -> bytes:
        """Receive one whole message (bytes)."""
        raise NotSupported()

    def done(self, deadline: int | None = -1) -> None:
        """Tell the peer that no more messages follow."""
        raise NotSupported()

    def msend(self, data: BytesLike, deadline: int | None = -1) -> None:
        """Send ``data`` as one message; see ``msend``."""
        self.msendl((data,), deadline)

    def mrecvl(self, buffers: Sequence[bytearray | memoryview] | None,
               deadline: int | None = -1) -> int:
        """Receive one message, scattered into ``buffers``; returns its size.

        ``buffers=None`` receives and drops the message. A message larger than the
        buffers raises EMSGSIZE (and is dropped)."""
        msg = self.mrecv(deadline)
        size = len(msg)
        if buffers is None:
            return size
        views = []
        total = 0
        for b in buffers:
            mv = memoryview(b)
            if mv.readonly:
                raise TypeError("mrecvl: buffers must be writable")
            if mv.format != "B" or mv.ndim != 1:
                mv = mv.cast("B")
            views.append(mv)
            total += len(mv)
        if size > total:
            raise OSError(_errno.EMSGSIZE, "message of %d bytes does not fit in %d bytes of buffers" % (size, total))
        pos = 0
        for v in views:
            if pos >= size:
                break
            k = min(len(v), size - pos)
            v[:k] = msg[pos:pos + k]
            pos += k
        return size


# --------------------------------------------------------------------------- functions


def _notsup(s: object, what: str) -> NoReturn:
    if isinstance(s, Handle):
        raise NotSupported(_errno.ENOTSUP, "%s is not supported on %s" % (what, type(s).__name__))
    raise TypeError("%s expects a dill socket handle, got %s" % (what, type(s).__name__))


def bsend(s: ByteStream, data: BytesLike, deadline: int | None = -1) -> None:
    """Send all of ``data`` (bytes-like) on bytestream ``s``."""
    if isinstance(s, ByteStream):
        return s.bsend(data, deadline)
    _notsup(s, "bsend")


def brecv(s: ByteStream, n: int, deadline: int | None = -1) -> bytes:
    """Receive exactly ``n`` bytes from bytestream ``s``."""
    if isinstance(s, ByteStream):
        return s.brecv(n, deadline)
    _notsup(s, "brecv")


def bsendl(s: ByteStream, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
    """Send every buffer of ``buffers`` (gather) on bytestream ``s``."""
    if isinstance(s, ByteStream):
        return s.bsendl(buffers, deadline)
    _notsup(s, "bsendl")


def brecvl(s: ByteStream, buffers: Sequence[bytearray | memoryview | int],
           deadline: int | None = -1) -> None:
    """Fill the writable ``buffers`` in place (scatter) from bytestream ``s``."""
    if isinstance(s, ByteStream):
        return s.brecvl(buffers, deadline)
    _notsup(s, "brecvl")


def msend(s: MessageSocket, data: BytesLike, deadline: int | None = -1) -> None:
    """Send one message on message socket ``s``."""
    if isinstance(s, MessageSocket):
        return s.msend(data, deadline)
    _notsup(s, "msend")


def mrecv(s: MessageSocket, deadline: int | None = -1) -> bytes:
    """Receive one message from message socket ``s``."""
    if isinstance(s, MessageSocket):
        return s.mrecv(deadline)
    _notsup(s, "mrecv")


def msendl(s: MessageSocket, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
    """Send the concatenation of ``buffers`` as one message."""
    if isinstance(s, MessageSocket):
        return s.msendl(buffers, deadline)
    _notsup(s, "msendl")


def mrecvl(s: MessageSocket, buffers: Sequence[bytearray | memoryview] | None,
           deadline: int | None = -1) -> int:

    """Receive one message into ``buffers``; return its size."""
    if isinstance(s, MessageSocket):
        return s.mrecvl(buffers, deadline)
    _notsup(s, "mrecvl")
