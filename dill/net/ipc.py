"""IPC: UNIX-domain stream sockets (libdill's ipc_*), with fd passing."""

from __future__ import annotations

import array as _array
import errno as _errno
import os as _os
import socket as _socket
from typing import TYPE_CHECKING

from dill import Done, Handle, NotSupported

from ._base import CLOSED, DONE, RESET
from ._fdsock import FdStream, Listener, _reset_exc, connect_raw

if TYPE_CHECKING:
    from _typeshed import HasFileno, StrOrBytesPath

__all__ = [
    "IpcSocket",
    "IpcListener",
    "ipc_listen",
    "ipc_accept",
    "ipc_connect",
    "ipc_done",
    "ipc_close",
    "ipc_pair",
    "ipc_sendfd",
    "ipc_recvfd",
    "ipc_fromfd",
    "ipc_listener_fromfd",
]

_FD_MARK = b"\xcc"
_ANCSIZE = _socket.CMSG_SPACE(_array.array("i", [0]).itemsize * 4)


def _path_arg(path: StrOrBytesPath) -> str | bytes:
    if isinstance(path, (str, bytes)):
        return path
    if isinstance(path, _os.PathLike):
        return _os.fspath(path)
    raise TypeError("expected a filesystem path, got %s" % type(path).__name__)


class IpcSocket(FdStream):
    """A connected UNIX-domain stream socket (a ByteStream).

    No read-ahead (like libdill): reading past a passed fd's marker byte would make
    the kernel drop the fd."""

    __slots__ = ()

    def __init__(self, sock: _socket.socket) -> None:
        FdStream.__init__(self, sock, 0, False)

    def sendfd(self, fd: int | HasFileno, deadline: int | None = -1) -> None:
        """Send an open file descriptor to the peer; see ``ipc_sendfd``."""
        if hasattr(fd, "fileno"):
            fd = fd.fileno()
        if not isinstance(fd, int) or fd < 0:
            raise ValueError("ipc_sendfd: bad file descriptor %r" % (fd,))
        b = self._outb
        if b is not None:
            b()
        anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _array.array("i", [fd]))]
        sendmsg = self._sock.sendmsg
        while True:
            try:
                k = sendmsg([_FD_MARK], anc)
            except BlockingIOError:
                self._wait_out(deadline, False)
                continue
            except OSError as e:
                if e.errno in (_errno.EBADF, _errno.EINVAL) and not isinstance(e, ConnectionError):
                    raise
                self._outb = RESET
                raise _reset_exc(e) from None
            if k == 1:
                return

    def recvfd(self, deadline: int | None = -1) -> int:
        """Receive a file descriptor the peer sent; see ``ipc_recvfd``."""
        b = self._inb
        if b is not None:
            b()
        if self._roff < len(self._rdata):
            raise OSError(_errno.EPROTO, "ipc_recvfd: the next byte carries no file descriptor")
        if self._rerr is not None:
            self._rerr()
        recvmsg = self._sock.recvmsg
        while True:
            try:
                data, anc, flags, _addr = recvmsg(1, _ANCSIZE)
            except BlockingIOError:
                self._wait_in(deadline)
                continue
            except OSError as e:
                self._rerr = RESET
                raise _reset_exc(e) from None
            break
        if not data:
            self._rerr = DONE
            raise Done()
        fds: list[int] = []

        for level, typ, payload in anc:
            if level == _socket.SOL_SOCKET and typ == _socket.SCM_RIGHTS:
                a = _array.array("i")
                a.frombytes(payload[: len(payload) - (len(payload) % a.itemsize)])
                fds.extend(a)
        if not fds:
            # keep the byte: it is ordinary data
            self.unrecv(data)
            raise OSError(_errno.EPROTO, "ipc_recvfd: no file descriptor was attached")
        for extra in fds[1:]:
            _os.close(extra)
        return fds[0]

    def __repr__(self) -> str:
        if self._outb is CLOSED:
            return "<IpcSocket closed>"
        return "<IpcSocket fd=%d>" % self._fd


class IpcListener(Listener):
    """A listening UNIX-domain socket; ``.path`` is its path."""

    __slots__ = ("path",)

    def __init__(self, sock: _socket.socket, path: str | bytes | None = None) -> None:
        Listener.__init__(self, sock)
        self.path = path if path is not None else sock.getsockname()

    def accept(self, deadline: int | None = -1) -> IpcSocket:
        """Accept a connection: the ``IpcSocket``; see ``ipc_accept``."""
        s, _ = self._accept(deadline)
        return IpcSocket(s)

    def __repr__(self) -> str:
        return "<IpcListener %r>" % (self.path,)


def ipc_listen(path: StrOrBytesPath, backlog: int = 128) -> IpcListener:
    """Listen on UNIX socket ``path`` (not unlinked first, as in libdill)."""
    path = _path_arg(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
        return IpcListener(sock, path)
    except BaseException:
        sock.close()
        raise


def _check_type(s, cls, what):
    if isinstance(s, cls):
        return s
    if isinstance(s, Handle):
        raise NotSupported(_errno.ENOTSUP, "%s: not supported on %s" % (what, type(s).__name__))
    raise TypeError("%s: expected a dill handle, got %s" % (what, type(s).__name__))


def ipc_accept(ls: IpcListener, deadline: int | None = -1) -> IpcSocket:
    """Accept a connection on an IPC listener: the IpcSocket."""
    return _check_type(ls, IpcListener, "ipc_accept").accept(deadline)


def ipc_connect(path: StrOrBytesPath, deadline: int | None = -1) -> IpcSocket:
    """Connect to the UNIX socket at ``path``."""
    path = _path_arg(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    connect_raw(sock, path, deadline)
    return IpcSocket(sock)


def ipc_pair() -> tuple[IpcSocket, IpcSocket]:
    """A connected pair of IPC sockets."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    return IpcSocket(a), IpcSocket(b)


def ipc_done(s: IpcSocket, deadline: int | None = -1) -> None:
    """Half-close: the peer's receives raise ``Done`` once it has read everything."""
    _check_type(s, IpcSocket, "ipc_done").done(deadline)


def ipc_close(s: IpcSocket | IpcListener, deadline: int | None = -1) -> None:
    """Graceful close (see tcp_close); on a listener, same as hclose."""
    if isinstance(s, IpcListener):
        s.close()
        return
    _check_type(s, IpcSocket, "ipc_close").close_graceful(deadline)


def ipc_sendfd(s: IpcSocket, fd: int | HasFileno, deadline: int | None = -1) -> None:
    """Send file descriptor ``fd`` (the caller keeps its own copy)."""
    _check_type(s, IpcSocket, "ipc_sendfd").sendfd(fd, deadline)


def ipc_recvfd(s: IpcSocket, deadline: int | None = -1) -> int:
    """Receive a file descriptor sent by ipc_sendfd; the caller owns it.
    EPROTO if the next byte carries none."""
    return _check_type(s, IpcSocket, "ipc_recvfd").recvfd(deadline)


def ipc_fromfd(sock: _socket.socket | int) -> IpcSocket:
    """Wrap a connected AF_UNIX stream ``socket.socket`` (owned from then on)."""
    if isinstance(sock, int):
        sock = _socket.socket(fileno=sock)
    if sock.family != _socket.AF_UNIX or sock.type != _socket.SOCK_STREAM:
        raise ValueError("ipc_fromfd: not a UNIX stream socket")
    if sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
        raise ValueError("ipc_fromfd: socket is listening; use ipc_listener_fromfd")
    return IpcSocket(sock)


def ipc_listener_fromfd(sock: _socket.socket | int) -> IpcListener:

    """Wrap a listening AF_UNIX stream ``socket.socket`` (owned from then on)."""
    if isinstance(sock, int):
        sock = _socket.socket(fileno=sock)
    if sock.family != _socket.AF_UNIX or sock.type != _socket.SOCK_STREAM:
        raise ValueError("ipc_listener_fromfd: not a UNIX stream socket")
    if not sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
        raise ValueError("ipc_listener_fromfd: socket is not listening")
    return IpcListener(sock)
