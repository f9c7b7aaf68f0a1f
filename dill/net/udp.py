"""UDP (libdill's udp_*): a message socket."""

from __future__ import annotations

import errno as _errno
import socket as _socket
from typing import TYPE_CHECKING

from dill import Handle, NotSupported

from ._base import CLOSED, MessageSocket
from ._fdsock import FdSocket
from .ipaddr import IPAddr

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._base import BytesLike

__all__ = ["UdpSocket", "udp_open", "udp_send", "udp_sendl", "udp_recv", "udp_recvl"]

_MAXDGRAM = 65535


class UdpSocket(FdSocket, MessageSocket):
    """A UDP socket. With a ``remote``, msend/mrecv talk to it and datagrams from
    any other source are dropped. Errors are not sticky; sends never block (a
    datagram the kernel cannot queue is dropped, as in libdill)."""

    __slots__ = ("_sock", "_fd", "addr", "remote", "_rsa")

    def __init__(self, sock: _socket.socket, remote: IPAddr | None) -> None:
        MessageSocket.__init__(self)
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self.addr = IPAddr.from_sockaddr(sock.family, sock.getsockname())
        self.remote = remote
        self._rsa = remote.sockaddr if remote is not None else None

    def send(self, addr: IPAddr | None, buffers: Sequence[BytesLike]) -> None:
        """Send one datagram; see ``udp_send``."""
        b = self._outb
        if b is not None:
            b()
        if addr is None:
            sa = self._rsa
            if sa is None:
                raise ValueError("udp_send: no address given and the socket has no remote")
        else:
            if not isinstance(addr, IPAddr):
                raise TypeError("udp_send: addr must be an IPAddr or None")
            if addr.family != self._sock.family:
                raise ValueError("udp_send: address family does not match the socket")
            sa = addr.sockaddr
        try:
            if len(buffers) == 1:
                self._sock.sendto(buffers[0], sa)
            else:
                self._sock.sendmsg(buffers, (), 0, sa)
        except BlockingIOError:
            pass  # dropped, as libdill does

    def recv(self, deadline: int | None = -1) -> tuple[IPAddr, bytes]:
        """Receive one datagram: ``(IPAddr, bytes)``; see ``udp_recv``."""
        b = self._inb
        if b is not None:
            b()
        recvfrom = self._sock.recvfrom
        rsa = self.remote
        while True:
            try:
                data, sa = recvfrom(_MAXDGRAM)
            except BlockingIOError:
                self._wait_in(deadline)
                continue
            except ConnectionRefusedError:
                # ICMP port unreachable from an earlier send: not this datagram's business
                continue
            src = IPAddr.from_sockaddr(self._sock.family, sa)
            if rsa is not None and not rsa.equal(src):
                continue
            return src, data

    # MessageSocket interface
    def msendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        if self._rsa is None:
            self._check()
            raise ValueError("msend on a UDP socket needs a remote (udp_open(local, remote))")
        self.send(None, list(buffers))

    def msend(self, data: BytesLike, deadline: int | None = -1) -> None:
        if self._rsa is None:
            self._check()
            raise ValueError("msend on a UDP socket needs a remote (udp_open(local, remote))")
        self.send(None, (data,))

    def mrecv(self, deadline: int | None = -1) -> bytes:
        return self.recv(deadline)[1]

    def on_close(self) -> None:
        MessageSocket.on_close(self)
        self._close_fd()

    def __repr__(self) -> str:
        if self._outb is CLOSED:
            return "<UdpSocket closed>"
        return "<UdpSocket %r -> %r>" % (self.addr, self.remote)


def udp_open(local: IPAddr | None = None, remote: IPAddr | None = None) -> UdpSocket:
    """Open a UDP socket bound to ``local`` (None: any address, ephemeral port),
    with optional default destination ``remote``. ``s.addr`` is the bound address."""
    if local is not None and not isinstance(local, IPAddr):
        raise TypeError("udp_open: local must be an IPAddr or None")
    if remote is not None and not isinstance(remote, IPAddr):
        raise TypeError("udp_open: remote must be an IPAddr or None")
    if local is not None and remote is not None and local.family != remote.family:
        raise ValueError("udp_open: local and remote address families differ")
    if local is None:
        fam = remote.family if remote is not None else _socket.AF_INET
        local = IPAddr("0.0.0.0" if fam == _socket.AF_INET else "::", 0, fam)
    sock = _socket.socket(local.family, _socket.SOCK_DGRAM)
    try:
        sock.bind(local.sockaddr)
        return UdpSocket(sock, remote)
    except BaseException:
        sock.close()
        raise


def _udp(s, what):
    if isinstance(s, UdpSocket):
        return s
    if isinstance(s, Handle):
        raise NotSupported(_errno.ENOTSUP, "%s: not a UDP socket" % what)
    raise TypeError("%s: expected a UdpSocket, got %s" % (what, type(s).__name__))


def udp_send(s: UdpSocket, addr: IPAddr | None, data: BytesLike) -> None:
    """Send one datagram to ``addr`` (None: the socket's remote). Never blocks."""
    _udp(s, "udp_send").send(addr, (data,))


def udp_sendl(s: UdpSocket, addr: IPAddr | None, buffers: Sequence[BytesLike]) -> None:
    """Send the concatenation of ``buffers`` as one datagram."""
    _udp(s, "udp_sendl").send(addr, list(buffers))


def udp_recv(s: UdpSocket, deadline: int | None = -1) -> tuple[IPAddr, bytes]:
    """Receive one datagram: ``(IPAddr of the sender, bytes)``."""
    return _udp(s, "udp_recv").recv(deadline)


def udp_recvl(s: UdpSocket, buffers: Sequence[bytearray | memoryview],
              deadline: int | None = -1) -> tuple[IPAddr, int]:

    """Receive one datagram into ``buffers``: ``(IPAddr, size)``."""
    s = _udp(s, "udp_recvl")
    addr, data = s.recv(deadline)
    pos = 0
    for b in buffers:
        mv = memoryview(b).cast("B")
        k = min(len(mv), len(data) - pos)
        mv[:k] = data[pos:pos + k]
        pos += k
    if pos < len(data):
        raise OSError(_errno.EMSGSIZE, "datagram of %d bytes does not fit" % len(data))
    return addr, len(data)
