"""TCP (libdill's tcp_*)."""

from __future__ import annotations

import errno as _errno
import socket as _socket

from dill import Handle, NotSupported

from ._base import CLOSED
from ._fdsock import FdStream, Listener, connect_raw
from .ipaddr import IPAddr

__all__ = [
    "TcpSocket",
    "TcpListener",
    "tcp_listen",
    "tcp_accept",
    "tcp_connect",
    "tcp_done",
    "tcp_close",
    "tcp_fromfd",
    "tcp_listener_fromfd",
]

_TCP_FAMILIES = (_socket.AF_INET, _socket.AF_INET6)


def _addr_arg(addr: IPAddr | tuple[str, int]) -> IPAddr:

    if isinstance(addr, IPAddr):
        return addr
    if isinstance(addr, tuple) and len(addr) >= 2 and isinstance(addr[0], str):
        return IPAddr(addr[0], addr[1])
    raise TypeError("expected an IPAddr, got %s" % type(addr).__name__)


def _nodelay(sock):
    try:
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
    except OSError:
        pass


class TcpSocket(FdStream):
    """A connected TCP socket (a ByteStream). ``hclose`` is a hard close (RST);
    ``tcp_close`` is the graceful one."""

    __slots__ = ()

    def __init__(self, sock: _socket.socket) -> None:
        FdStream.__init__(self, sock, 65536, True)

    @property
    def addr(self) -> IPAddr:
        """The remote address."""
        self._check()
        return IPAddr.from_sockaddr(self._sock.family, self._sock.getpeername())

    @property
    def local_addr(self) -> IPAddr:
        """The local address."""
        self._check()
        return IPAddr.from_sockaddr(self._sock.family, self._sock.getsockname())

    def __repr__(self) -> str:
        if self._outb is CLOSED:
            return "<TcpSocket closed>"
        try:
            return "<TcpSocket fd=%d %r>" % (self._fd, self.addr)
        except OSError:
            return "<TcpSocket fd=%d>" % self._fd


class TcpListener(Listener):
    """A listening TCP socket. ``.addr`` is the bound address (real port)."""

    __slots__ = ("addr",)

    def __init__(self, sock: _socket.socket) -> None:
        Listener.__init__(self, sock)
        self.addr = IPAddr.from_sockaddr(sock.family, sock.getsockname())

    def accept(self, deadline: int | None = -1) -> tuple[TcpSocket, IPAddr]:
        """Accept a connection: ``(TcpSocket, IPAddr)``; see ``tcp_accept``."""
        s, sa = self._accept(deadline)
        _nodelay(s)
        return TcpSocket(s), IPAddr.from_sockaddr(s.family, sa)

    def __repr__(self) -> str:
        return "<TcpListener %r>" % (self.addr,)


def tcp_listen(addr: IPAddr | tuple[str, int], backlog: int = 128) -> TcpListener:
    """Listen on ``addr`` (an IPAddr; port 0 picks one, see ``listener.addr``)."""
    addr = _addr_arg(addr)
    sock = _socket.socket(addr.family, _socket.SOCK_STREAM)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind(addr.sockaddr)
        sock.listen(backlog)
        return TcpListener(sock)
    except BaseException:
        sock.close()
        raise


def _listener(ls):
    if isinstance(ls, TcpListener):
        return ls
    if isinstance(ls, Handle):
        raise NotSupported(_errno.ENOTSUP, "not a TCP listener: %s" % type(ls).__name__)
    raise TypeError("expected a TcpListener, got %s" % type(ls).__name__)


def tcp_accept(ls: TcpListener, deadline: int | None = -1) -> tuple[TcpSocket, IPAddr]:
    """Accept a connection: ``(TcpSocket, IPAddr of the peer)``."""
    return _listener(ls).accept(deadline)


def tcp_connect(addr: IPAddr | tuple[str, int], deadline: int | None = -1) -> TcpSocket:
    """Connect to ``addr``; ConnectionRefusedError if nothing listens there."""
    addr = _addr_arg(addr)
    sock = _socket.socket(addr.family, _socket.SOCK_STREAM)
    connect_raw(sock, addr.sockaddr, deadline)
    _nodelay(sock)
    return TcpSocket(sock)


def _tcpsock(s):
    if isinstance(s, TcpSocket):
        return s
    if isinstance(s, Handle):
        raise NotSupported(_errno.ENOTSUP, "not a TCP socket: %s" % type(s).__name__)
    raise TypeError("expected a TcpSocket, got %s" % type(s).__name__)


def tcp_done(s: TcpSocket, deadline: int | None = -1) -> None:
    """Half-close: the peer's receives raise Done once it has read everything."""
    _tcpsock(s).done(deadline)


def tcp_close(s: TcpSocket | TcpListener, deadline: int | None = -1) -> None:
    """Graceful close (done, drain until the peer is done, close). The socket is
    closed even when this raises. On a listener, same as hclose."""
    if isinstance(s, TcpListener):
        s.close()
        return
    _tcpsock(s).close_graceful(deadline)


def tcp_fromfd(sock: _socket.socket | int) -> TcpSocket:
    """Wrap a connected TCP ``socket.socket`` (owned from then on)."""
    if isinstance(sock, int):
        sock = _socket.socket(fileno=sock)
    if sock.family not in _TCP_FAMILIES or sock.type != _socket.SOCK_STREAM:
        raise ValueError("tcp_fromfd: not a TCP socket")
    if sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
        raise ValueError("tcp_fromfd: socket is listening; use tcp_listener_fromfd")
    try:
        sock.getpeername()
    except OSError:
        raise ValueError("tcp_fromfd: socket is not connected") from None
    return TcpSocket(sock)


def tcp_listener_fromfd(sock: _socket.socket | int) -> TcpListener:

    """Wrap a listening TCP ``socket.socket`` (owned from then on)."""
    if isinstance(sock, int):
        sock = _socket.socket(fileno=sock)
    if sock.family not in _TCP_FAMILIES or sock.type != _socket.SOCK_STREAM:
        raise ValueError("tcp_listener_fromfd: not a TCP socket")
    if not sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
        raise ValueError("tcp_listener_fromfd: socket is not listening")
    return TcpListener(sock)
