"""The bytestream socket over a non-blocking stdlib socket, shared by TCP and IPC.

Hot path: try the syscall first and wait (fdin/fdout) only on EAGAIN. Received data
is kept as a ``bytes`` object plus an offset: a ``recv(65536)`` returns exactly what
arrived, so a brecv(64) answered by one 64-byte segment returns that object without
any copy, and many small brecv calls are served from one syscall.
"""

from __future__ import annotations

import errno as _errno
import os as _os
import socket as _socket
import struct as _struct
from typing import TYPE_CHECKING

from dill import Done, Handle, TimedOut, fdclean, fdin, fdout, now
# the only core functions dill.net uses that ``dill`` does not export, so this
# module alone imports core modules (tests/net/test_imports.py checks it)
from dill._fd import forget_fd
from dill._hub import check_deadline, get_hub

from ._base import BUSY, CLOSED, DONE, RESET, ByteStream, SocketBase

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._base import BytesLike

_EMPTY = b""
_READAHEAD = 65536
_JOIN_LIMIT = 65536
_IOV_MAX = 1024
_SCRATCH = bytearray(65536)
_LINGER0 = _struct.pack("ii", 1, 0)


def _reset_exc(e):
    if isinstance(e, ConnectionResetError):
        return e
    return ConnectionResetError(_errno.ECONNRESET, "connection reset: %s" % (e,))


def _badsize(n):
    raise ValueError("size must be >= 0, got %r" % (n,))


class OwnsFd:
    """Mixin of the handles that own an OS socket (``self._sock``, its fd in
    ``self._fd``).  One dropped without ``close()`` makes the poller forget its
    fd before the socket object closes it, so a later socket reusing the fd
    number is polled."""

    __slots__ = ()
    _sock: _socket.socket
    _fd: int
    _closed: bool

    if TYPE_CHECKING:
        def _check(self) -> None: ...

    @property
    def socket(self) -> _socket.socket:
        """The underlying stdlib socket (still owned by this handle)."""
        self._check()
        return self._sock

    def fileno(self) -> int:
        """The socket's file descriptor."""
        self._check()
        return self._fd

    def _close_fd(self) -> None:
        """The poller forgets the fd, then the socket closes it (``on_close``)."""
        forget_fd(self._fd)
        self._sock.close()

    def __del__(self):
        if not self._closed:
            fd = getattr(self, "_fd", -1)
            if fd >= 0:
                forget_fd(fd)


class FdSocket(OwnsFd, SocketBase):
    """Base of the dill sockets over an OS socket (the stream socket, UDP):
    the wait for the fd to become readable."""

    __slots__ = ()

    def _wait_in(self, deadline: int | None) -> None:
        """Wait until the fd is readable, with the receive direction marked busy
        meanwhile; a state set during the wait (hclose: CLOSED) is raised.

        ``fdin`` inlined (the deadline check, then the hub's fd wait): a frame
        fewer on each receive that waits, the echo hot path.
        """
        if deadline.__class__ is not int:
            deadline = check_deadline(deadline)
        self._inb = BUSY
        try:
            get_hub().wait_fd(self._fd, 0, deadline)
        finally:
            b = self._inb
            if b is BUSY:
                self._inb = None
        if b is not BUSY:
            b()


class FdStream(FdSocket, ByteStream):
    """A ByteStream over a connected, non-blocking ``socket.socket``."""

    __slots__ = ("_sock", "_fd", "_rdata", "_roff", "_rerr", "_ra",
                 "_recv", "_send", "_graceful", "_hard", "_drained")

    def __init__(self, sock, readahead, hard):
        ByteStream.__init__(self)
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._rdata = _EMPTY
        self._roff = 0
        self._rerr = None  # DONE (peer EOF) / RESET, raised once the buffer is drained
        self._ra = readahead
        self._recv = sock.recv
        self._send = sock.send
        self._graceful = False
        self._hard = hard
        # The last recv returned less than it asked for: the socket is likely
        # empty, so the next receive waits for readiness before the syscall
        # (an EAGAIN attempt costs ~1.2 us, a third of a small echo's budget).
        self._drained = False

    # ------------------------------------------------------------------ misc
    def _recv_chunk(self, req, deadline):
        """One successful ``recv(req)``: waits as needed; end of stream raises
        Done and a reset ConnectionResetError, both sticky."""
        recv = self._recv
        while True:
            if self._drained:
                # The last recv drained the socket: wait for readiness before
                # the syscall, but not with deadline 0 and not in a canceled
                # coroutine, where a receive whose data already arrived must
                # succeed (so the syscall goes first).
                self._drained = False
                if deadline != 0 and not get_hub().current.canceled:
                    self._wait_in(deadline)
            try:
                chunk = recv(req)
            except BlockingIOError:
                self._wait_in(deadline)
                continue
            except OSError as e:
                self._rerr = RESET
                raise _reset_exc(e) from None
            if not chunk:
                self._rerr = DONE
                raise Done()
            if len(chunk) < req:
                self._drained = True
            return chunk

    def _wait_out(self, deadline, partial):
        self._outb = BUSY
        try:
            fdout(self._fd, deadline)
        except BaseException:
            if self._outb is BUSY:
                self._outb = RESET if partial else None
            raise
        b = self._outb
        if b is BUSY:
            self._outb = None
        else:
            b()

    # ------------------------------------------------------------------ receive
    def brecv(self, n: int, deadline: int | None = -1) -> bytes:
        b = self._inb
        if b is not None:
            b()
        if n < 0:
            _badsize(n)
        data = self._rdata
        off = self._roff
        end = off + n
        size = len(data)
        if end < size:
            self._roff = end
            return data[off:end]
        if end == size:
            self._rdata = _EMPTY
            self._roff = 0
            return data[off:] if off else data
        if off >= size and self._rerr is None:
            # Nothing buffered (the echo hot path): one chunk is usually the
            # whole answer, without _brecv_more's bookkeeping of parts.
            ra = self._ra
            chunk = self._recv_chunk(n if n > ra else ra, deadline)
            k = len(chunk)
            if k == n:
                return chunk
            self._rdata = chunk
            self._roff = 0
            if k > n:
                self._roff = n
                return chunk[:n]
        return self._brecv_more(n, deadline)

    def _brecv_more(self, n, deadline):
        data = self._rdata
        off = self._roff
        if off < len(data):
            first = data[off:] if off else data
            parts = [first]
            got = len(first)
        else:
            parts = None
            got = 0
        self._rdata = _EMPTY
        self._roff = 0
        ra = self._ra
        try:
            if self._rerr is not None:
                self._rerr()
            while True:
                need = n - got
                chunk = self._recv_chunk(need if need > ra else ra, deadline)
                k = len(chunk)
                if k >= need:
                    if k > need:
                        self._rdata = chunk
                        self._roff = need
                        chunk = chunk[:need]
                    if parts is None:
                        return chunk
                    parts.append(chunk)
                    return _EMPTY.join(parts)
                if parts is None:
                    parts = [chunk]
                else:
                    parts.append(chunk)
                got += k
        except BaseException:
            if parts:
                rest = self._rdata[self._roff:]
                self._rdata = _EMPTY.join(parts) + rest if rest else _EMPTY.join(parts)
                self._roff = 0
            raise

    def brecv_some(self, n: int, deadline: int | None = -1) -> bytes:
        b = self._inb
        if b is not None:
            b()
        if n <= 0:
            if n == 0:
                return _EMPTY
            _badsize(n)
        data = self._rdata
        off = self._roff
        size = len(data)
        if off < size:
            end = off + n
            if end >= size:
                self._rdata = _EMPTY
                self._roff = 0
                return data[off:] if off else data
            self._roff = end
            return data[off:end]
        if self._rerr is not None:
            self._rerr()
        ra = self._ra
        chunk = self._recv_chunk(n if n > ra else ra, deadline)
        if len(chunk) > n:  # keep the read-ahead
            self._rdata = chunk
            self._roff = n
            return chunk[:n]
        return chunk

    def unrecv(self, data: BytesLike) -> None:
        if not data:
            return
        rest = self._rdata[self._roff:]
        self._rdata = bytes(data) + rest
        self._roff = 0

    # ------------------------------------------------------------------ send
    def bsend(self, data: BytesLike, deadline: int | None = -1) -> None:
        b = self._outb
        if b is not None:
            b()
        try:
            n = self._send(data)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._outb = RESET
            raise _reset_exc(e) from None
        if n != len(data):
            self._bsend_more(data, n, deadline)

    def _bsend_more(self, data, sent, deadline):
        mv = memoryview(data)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        total = len(mv)
        send = self._send
        while sent < total:
            self._wait_out(deadline, sent)
            try:
                sent += send(mv[sent:])
            except BlockingIOError:
                pass
            except OSError as e:
                self._outb = RESET
                raise _reset_exc(e) from None

    def bsendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        b = self._outb
        if b is not None:
            b()
        if isinstance(buffers, (bytes, bytearray, memoryview)):
            raise TypeError("bsendl takes a sequence of buffers, not a single buffer")
        views = []
        total = 0
        for x in buffers:
            mv = memoryview(x)
            if mv.format != "B" or mv.ndim != 1:
                mv = mv.cast("B")
            if len(mv):
                views.append(mv)
                total += len(mv)
        if not views:
            return
        if len(views) == 1:
            return self.bsend(views[0], deadline)
        if total <= _JOIN_LIMIT:
            return self.bsend(_EMPTY.join(views), deadline)
        sendmsg = self._sock.sendmsg
        sent = 0
        first = True
        while views:
            if not first:
                self._wait_out(deadline, sent)
            first = False
            try:
                k = sendmsg(views[:_IOV_MAX])
            except BlockingIOError:
                continue
            except OSError as e:
                self._outb = RESET
                raise _reset_exc(e) from None
            sent += k
            while views and k >= len(views[0]):
                k -= len(views[0])
                del views[0]
            if k:
                views[0] = views[0][k:]

    # ------------------------------------------------------------------ termination
    def done(self, deadline: int | None = -1) -> None:
        b = self._outb
        if b is not None:
            b()
        try:
            self._sock.shutdown(_socket.SHUT_WR)
        except OSError as e:
            self._outb = RESET
            raise _reset_exc(e) from None
        self._outb = DONE

    def close_graceful(self, deadline: int | None = -1) -> None:
        """libdill's tcp_close/ipc_close: done, drain the peer until it is done, close.

        Whatever happens, the socket is closed when this returns or raises; a failure
        closes it hard. The deadline holds even against a peer that never stops
        sending."""
        if self._outb is CLOSED:
            CLOSED()
        ok = False
        try:
            if self._inb is BUSY or self._outb is BUSY:
                BUSY()
            if self._outb is RESET or self._inb is RESET or self._rerr is RESET:
                RESET()
            if self._outb is not DONE:
                self.done(deadline)
            self._rdata = _EMPTY
            self._roff = 0
            if self._rerr is None:
                self._drain(deadline)
            ok = True
        finally:
            self._graceful = ok
            self.close()

    def _drain(self, deadline):
        dl = -1 if deadline is None else deadline
        recv_into = self._sock.recv_into
        scratch = _SCRATCH
        drained = 0
        while True:
            try:
                k = recv_into(scratch)
            except BlockingIOError:
                self._wait_in(deadline)
                continue
            except OSError as e:
                self._rerr = RESET
                raise _reset_exc(e) from None
            if not k:
                self._rerr = DONE
                return
            drained += k
            # a peer that floods never lets recv block, so check the clock here;
            # a little data followed by the end still succeeds with deadline 0.
            if dl >= 0 and drained > _READAHEAD and now() >= dl:
                raise TimedOut()

    def on_close(self) -> None:
        ByteStream.on_close(self)
        if self._hard and not self._graceful:
            try:
                self._sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, _LINGER0)
            except OSError:
                pass
        self._close_fd()
        self._rdata = _EMPTY
        self._roff = 0


class Listener(OwnsFd, Handle):
    """Base of the listening sockets: owns a non-blocking ``socket.socket``."""

    __slots__ = ("_closed", "_sock", "_fd")

    def __init__(self, sock):
        self._closed = False
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()

    def _accept(self, deadline):
        self._check()
        return accept_raw(self._sock, self._fd, deadline)

    def on_close(self) -> None:
        self._close_fd()


def accept_raw(lsock, fd, deadline):
    """Accept one connection on non-blocking listening socket ``lsock``: (sock, addr)."""
    while True:
        try:
            s, addr = lsock.accept()
        except BlockingIOError:
            fdin(fd, deadline)
            continue
        except ConnectionAbortedError:
            continue
        except InterruptedError:
            continue
        s.setblocking(False)
        return s, addr


def connect_raw(sock, sockaddr, deadline):
    """Non-blocking connect of ``sock`` (closed on failure)."""
    try:
        sock.setblocking(False)
        err = sock.connect_ex(sockaddr)
        if err in (_errno.EINPROGRESS, _errno.EAGAIN, _errno.EALREADY, _errno.EINTR):
            fdout(sock.fileno(), deadline)
            err = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err and err != _errno.EISCONN:
            raise OSError(err, _os.strerror(err))
    except BaseException:
        try:
            fdclean(sock.fileno())
        except Exception:  # noqa: BLE001
            pass
        sock.close()
        raise
