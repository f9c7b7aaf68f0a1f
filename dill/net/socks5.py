"""SOCKS5 (RFC 1928, with RFC 1929 username/password) over a bytestream: the client
side (``socks5_client_connect``, after which the socket is the tunnel) and the proxy
side (``socks5_proxy_auth``, ``socks5_proxy_recvcommand``, ``socks5_proxy_sendreply``).

Errors as libdill maps them: a reply code other than success raises the matching
OSError (1 EIO, 2 EACCES, 3 ENETUNREACH, 4 EHOSTUNREACH, 5 ECONNREFUSED, 6 ETIMEDOUT,
7 EOPNOTSUPP, 8 EAFNOSUPPORT, others EPROTO); no acceptable method or refused
credentials raise PermissionError; a malformed message raises OSError EPROTO."""

from __future__ import annotations

import errno as _errno
import ipaddress
import socket
from typing import TYPE_CHECKING

from dill import Handle, NotSupported

from ._base import ByteStream
from ._layer import EPROTO_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from .ipaddr import IPAddr

__all__ = [
    "SOCKS5_CONNECT",
    "SOCKS5_BIND",
    "SOCKS5_UDP_ASSOCIATE",
    "SOCKS5_SUCCESS",
    "SOCKS5_GENERAL_FAILURE",
    "SOCKS5_CONNECTION_NOT_ALLOWED",
    "SOCKS5_NETWORK_UNREACHABLE",
    "SOCKS5_HOST_UNREACHABLE",
    "SOCKS5_CONNECTION_REFUSED",
    "SOCKS5_TTL_EXPIRED",
    "SOCKS5_COMMAND_NOT_SUPPORTED",
    "SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED",
    "socks5_client_connect",
    "socks5_proxy_auth",
    "socks5_proxy_recvcommand",
    "socks5_proxy_sendreply",
]

SOCKS5_CONNECT = 1
SOCKS5_BIND = 2
SOCKS5_UDP_ASSOCIATE = 3

SOCKS5_SUCCESS = 0
SOCKS5_GENERAL_FAILURE = 1
SOCKS5_CONNECTION_NOT_ALLOWED = 2
SOCKS5_NETWORK_UNREACHABLE = 3
SOCKS5_HOST_UNREACHABLE = 4
SOCKS5_CONNECTION_REFUSED = 5
SOCKS5_TTL_EXPIRED = 6
SOCKS5_COMMAND_NOT_SUPPORTED = 7
SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED = 8

_NOAUTH = 0
_USERPASS = 2
_NOMETHOD = 0xFF

_ATYP_V4 = 1
_ATYP_NAME = 3
_ATYP_V6 = 4

_REPLY_ERRORS = {
    SOCKS5_GENERAL_FAILURE: (_errno.EIO, "general SOCKS server failure"),
    SOCKS5_CONNECTION_NOT_ALLOWED: (_errno.EACCES, "connection not allowed by ruleset"),
    SOCKS5_NETWORK_UNREACHABLE: (_errno.ENETUNREACH, "network unreachable"),
    SOCKS5_HOST_UNREACHABLE: (_errno.EHOSTUNREACH, "host unreachable"),
    SOCKS5_CONNECTION_REFUSED: (_errno.ECONNREFUSED, "connection refused"),
    SOCKS5_TTL_EXPIRED: (_errno.ETIMEDOUT, "TTL expired"),
    SOCKS5_COMMAND_NOT_SUPPORTED: (_errno.EOPNOTSUPP, "command not supported"),
    SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED: (_errno.EAFNOSUPPORT, "address type not supported"),
}


def _bytestream(s, who):
    if not isinstance(s, ByteStream):
        if isinstance(s, Handle):
            raise NotSupported(_errno.ENOTSUP, "%s needs a bytestream, got %s" % (who, type(s).__name__))
        raise TypeError("%s expects a dill bytestream, got %s" % (who, type(s).__name__))


def _cred(x, what):
    if isinstance(x, str):
        x = x.encode("utf-8")
    if not isinstance(x, (bytes, bytearray)):
        raise TypeError("socks5: %s must be str or bytes" % what)
    if len(x) > 255:
        raise ValueError("socks5: %s is over 255 bytes" % what)
    return bytes(x)


def _encode_addr(host, port, who):
    """ATYP + address + port for ``host`` (IP literal or name)."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError("%s: port must be in 0..65535, got %r" % (who, port))
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii")
    if not isinstance(host, str):
        raise TypeError("%s: host must be a str, got %s" % (who, type(host).__name__))
    try:
        ip = ipaddress.ip_address(host.strip("[]") if host.startswith("[") else host)
    except ValueError:
        ip = None
    p = port.to_bytes(2, "big")
    if ip is not None:
        if ip.version == 4:
            return bytes((_ATYP_V4,)) + ip.packed + p
        return bytes((_ATYP_V6,)) + ip.packed + p
    try:
        name = host.encode("idna")
    except UnicodeError:
        raise ValueError("%s: invalid host name %r" % (who, host)) from None
    if not name or len(name) > 255:
        raise ValueError("%s: host name must be 1..255 bytes, got %r" % (who, host))
    return bytes((_ATYP_NAME, len(name))) + name + p


def _recv_addr(s, atyp, deadline):
    """Read an address of type ``atyp`` and the port; return ``(host, port)``."""
    if atyp == _ATYP_V4:
        raw = s.brecv(6, deadline)
        return socket.inet_ntop(socket.AF_INET, raw[:4]), int.from_bytes(raw[4:], "big")
    if atyp == _ATYP_V6:
        raw = s.brecv(18, deadline)
        return socket.inet_ntop(socket.AF_INET6, raw[:16]), int.from_bytes(raw[16:], "big")
    if atyp == _ATYP_NAME:
        n = s.brecv(1, deadline)[0]
        if n == 0:
            raise EPROTO_error("socks5: empty host name")
        raw = s.brecv(n + 2, deadline)
        try:
            name = raw[:n].decode("idna") if raw[:n].isascii() else raw[:n].decode("utf-8")
        except UnicodeError:
            raise EPROTO_error("socks5: undecodable host name") from None
        return name, int.from_bytes(raw[n:], "big")
    return None


# ------------------------------------------------------------------ client

def socks5_client_connect(s: ByteStream, host: str | IPAddr, port: int, deadline: int | None = -1,
                          username: str | bytes | None = None,
                          password: str | bytes | None = None) -> None:
    """Ask the SOCKS5 proxy at the other end of bytestream ``s`` to connect to
    ``host``:``port`` (an IP literal is sent as an address, anything else as a name
    the proxy resolves; an IPAddr is accepted too). With ``username`` and ``password``,
    username/password authentication is offered besides none. Returns ``None``: ``s``
    is the tunnel from then on."""
    _bytestream(s, "socks5_client_connect")
    if hasattr(host, "sockaddr") and not isinstance(host, str):
        host = str(host)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("socks5_client_connect: port must be in 1..65535, got %r" % (port,))
    request = b"\x05\x01\x00" + _encode_addr(host, port, "socks5_client_connect")
    auth = username is not None and password is not None
    if auth:
        user = _cred(username, "username")
        pw = _cred(password, "password")
        s.bsend(b"\x05\x02\x00\x02", deadline)
    else:
        s.bsend(b"\x05\x01\x00", deadline)
    ver, method = s.brecv(2, deadline)
    if ver != 5:
        raise EPROTO_error("socks5: the proxy answered with version %d" % ver)
    if method == _NOMETHOD:
        raise PermissionError(_errno.EACCES, "socks5: the proxy accepts none of the offered methods")
    if method == _USERPASS and auth:
        s.bsend(b"\x01" + bytes((len(user),)) + user + bytes((len(pw),)) + pw, deadline)
        aver, status = s.brecv(2, deadline)
        if aver != 1:
            raise EPROTO_error("socks5: bad authentication reply version %d" % aver)
        if status != 0:
            raise PermissionError(_errno.EACCES, "socks5: the proxy refused the credentials")
    elif method != _NOAUTH:
        raise EPROTO_error("socks5: the proxy chose a method that was not offered (%d)" % method)
    s.bsend(request, deadline)
    ver, rep, rsv, atyp = s.brecv(4, deadline)
    if ver != 5:
        raise EPROTO_error("socks5: the proxy replied with version %d" % ver)
    if rep != SOCKS5_SUCCESS:
        err, msg = _REPLY_ERRORS.get(rep, (_errno.EPROTO, "unknown reply code %d" % rep))
        raise OSError(err, "socks5: " + msg)
    if _recv_addr(s, atyp, deadline) is None:
        raise EPROTO_error("socks5: bad address type %d in the reply" % atyp)
    return None


# ------------------------------------------------------------------ proxy side

def socks5_proxy_auth(s: ByteStream, auth: Callable[[str, str], object] | None,
                      deadline: int | None = -1) -> None:
    """Proxy side: negotiate authentication with the client on ``s``. ``auth`` is
    ``None`` (no authentication) or ``auth(username, password) -> bool``. A client that
    cannot or does not authenticate gets the refusal and PermissionError is raised."""
    _bytestream(s, "socks5_proxy_auth")
    if auth is not None and not callable(auth):
        raise TypeError("socks5_proxy_auth: auth must be None or a callable")
    ver, n = s.brecv(2, deadline)
    if ver != 5:
        raise EPROTO_error("socks5: the client speaks version %d" % ver)
    if n == 0:
        raise EPROTO_error("socks5: the client offers no method")
    methods = s.brecv(n, deadline)
    want = _NOAUTH if auth is None else _USERPASS
    if want not in methods:
        s.bsend(b"\x05\xff", deadline)
        raise PermissionError(_errno.EACCES, "socks5: the client offers no acceptable method")
    s.bsend(bytes((5, want)), deadline)
    if auth is None:
        return
    aver, ulen = s.brecv(2, deadline)
    if aver != 1:
        raise EPROTO_error("socks5: bad authentication version %d" % aver)
    user = s.brecv(ulen, deadline) if ulen else b""
    plen = s.brecv(1, deadline)[0]
    pw = s.brecv(plen, deadline) if plen else b""
    ok = auth(user.decode("utf-8", "surrogateescape"), pw.decode("utf-8", "surrogateescape"))
    s.bsend(b"\x01\x00" if ok else b"\x01\x01", deadline)
    if not ok:
        raise PermissionError(_errno.EACCES, "socks5: credentials refused")


def socks5_proxy_recvcommand(s: ByteStream, deadline: int | None = -1) -> tuple[int, str, int]:
    """Proxy side: receive the client's request; return ``(command, host, port)`` with
    ``host`` a str (an IP literal or a name, not resolved)."""
    _bytestream(s, "socks5_proxy_recvcommand")
    ver, cmd, rsv, atyp = s.brecv(4, deadline)
    if ver != 5:
        raise EPROTO_error("socks5: the client speaks version %d" % ver)
    addr = _recv_addr(s, atyp, deadline)
    if addr is None:
        try:
            socks5_proxy_sendreply(s, SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED, None, deadline)
        except OSError:
            pass
        raise EPROTO_error("socks5: bad address type %d" % atyp)
    if cmd not in (SOCKS5_CONNECT, SOCKS5_BIND, SOCKS5_UDP_ASSOCIATE):
        try:
            socks5_proxy_sendreply(s, SOCKS5_COMMAND_NOT_SUPPORTED, None, deadline)
        except OSError:
            pass
        raise EPROTO_error("socks5: unknown command %d" % cmd)
    return cmd, addr[0], addr[1]


def socks5_proxy_sendreply(s: ByteStream, reply: int, addr: IPAddr | tuple[str, int] | None = None,
                           deadline: int | None = -1) -> None:

    """Proxy side: send reply code ``reply`` (``SOCKS5_SUCCESS``...) with the bound
    address ``addr`` (an IPAddr, a ``(host, port)`` tuple, or ``None`` for 0.0.0.0:0)."""
    _bytestream(s, "socks5_proxy_sendreply")
    if not isinstance(reply, int) or not 0 <= reply <= 8:
        raise ValueError("socks5_proxy_sendreply: reply must be in 0..8, got %r" % (reply,))
    if addr is None:
        host, port = "0.0.0.0", 0
    elif isinstance(addr, tuple):
        host, port = addr[0], addr[1]
    elif hasattr(addr, "sockaddr"):
        sa = addr.sockaddr
        host, port = sa[0], sa[1]
    else:
        raise TypeError("socks5_proxy_sendreply: addr must be an IPAddr, (host, port) or None")
    s.bsend(bytes((5, reply, 0)) + _encode_addr(host, port, "socks5_proxy_sendreply"), deadline)
