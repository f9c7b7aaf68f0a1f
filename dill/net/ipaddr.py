"""IP addresses (libdill's ipaddr_*), with DNS in a worker thread."""

from __future__ import annotations

import errno as _errno
import socket as _socket
from typing import TYPE_CHECKING, Any

import dill as _dill

if TYPE_CHECKING:
    from typing import TypeAlias

    #: ``IPAddr.sockaddr``: (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6
    _SockAddr: TypeAlias = tuple[str, int] | tuple[str, int, int, int]

__all__ = [
    "IPAddr",
    "IPADDR_IPV4",
    "IPADDR_IPV6",
    "IPADDR_PREF_IPV4",
    "IPADDR_PREF_IPV6",
    "IPADDR_MAXSTRLEN",
    "ipaddr_local",
    "ipaddr_remote",
    "ipaddr_remotes",
    "ipaddr_equal",
    "ipaddr_str",
    "ipaddr_port",
    "ipaddr_family",
    "ipaddr_sockaddr",
]

IPADDR_IPV4 = 1
IPADDR_IPV6 = 2
IPADDR_PREF_IPV4 = 3
IPADDR_PREF_IPV6 = 4
IPADDR_MAXSTRLEN = 46

_AF_INET = _socket.AF_INET
_AF_INET6 = _socket.AF_INET6


class IPAddr:
    """An IPv4 or IPv6 address with a port. Immutable and hashable.

    ``str()`` is the address alone; ``repr()`` shows the port too; ``sockaddr`` is the
    tuple the ``socket`` module takes for the family."""

    __slots__ = ("_family", "_host", "_port", "_flowinfo", "_scope_id", "_packed")

    def __init__(self, host: str, port: int = 0, family: int | None = None, *,
                 flowinfo: int = 0, scope_id: int = 0) -> None:
        if isinstance(host, IPAddr):
            raise TypeError("use IPAddr.with_port() to copy an address")
        if not isinstance(host, str):
            raise TypeError("IPAddr: host must be a str literal, got %s" % type(host).__name__)
        port = _check_port(port)
        if family is None:
            family = _AF_INET6 if ":" in host else _AF_INET
        if family not in (_AF_INET, _AF_INET6):
            raise ValueError("IPAddr: family must be AF_INET or AF_INET6")
        h = host
        if family == _AF_INET6 and "%" in h:
            h, _, scope = h.partition("%")
            if not scope_id:
                try:
                    scope_id = int(scope)
                except ValueError:
                    try:
                        scope_id = _socket.if_nametoindex(scope)
                    except OSError:
                        raise ValueError("IPAddr: unknown interface %r" % scope) from None
        try:
            packed = _socket.inet_pton(family, h)
        except OSError:
            raise ValueError("IPAddr: %r is not a valid %s literal"
                             % (host, "IPv6" if family == _AF_INET6 else "IPv4")) from None
        self._family = family
        self._packed = packed
        self._host = _socket.inet_ntop(family, packed)
        self._port = port
        self._flowinfo = flowinfo
        self._scope_id = scope_id

    @classmethod
    def from_sockaddr(cls, family: int, sockaddr: tuple[Any, ...]) -> IPAddr:
        """The address of a ``socket`` module address tuple of ``family``
        (``getpeername()``, ``getsockname()``, ``recvfrom()``)."""
        if family == _AF_INET6:
            host, port, flowinfo, scope_id = sockaddr[:4]
            host = host.partition("%")[0]
            return cls(host, port, _AF_INET6, flowinfo=flowinfo, scope_id=scope_id)
        return cls(sockaddr[0], sockaddr[1], _AF_INET)

    @property
    def family(self) -> int:
        """The address family: ``socket.AF_INET`` or ``socket.AF_INET6``."""
        return self._family

    @property
    def port(self) -> int:
        """The port number."""
        return self._port

    @property
    def host(self) -> str:
        """The host address as text (``'127.0.0.1'``, ``'::1'``)."""
        return self._host

    @property
    def packed(self) -> bytes:
        """The host address in network byte order (4 or 16 bytes)."""
        return self._packed

    @property
    def sockaddr(self) -> _SockAddr:
        """The address as the ``socket`` module takes it: ``(host, port)``, or
        ``(host, port, flowinfo, scope_id)`` for IPv6."""
        if self._family == _AF_INET6:
            return (self._host, self._port, self._flowinfo, self._scope_id)
        return (self._host, self._port)

    def with_port(self, port: int) -> IPAddr:
        """A copy of this address with another port."""
        a = IPAddr.__new__(IPAddr)
        a._family = self._family
        a._packed = self._packed
        a._host = self._host
        a._port = _check_port(port)
        a._flowinfo = self._flowinfo
        a._scope_id = self._scope_id
        return a

    def equal(self, other: object, ignore_port: bool = False) -> bool:
        """Same family and address (and port, unless ``ignore_port``)."""
        return (isinstance(other, IPAddr) and self._family == other._family
                and self._packed == other._packed
                and self._scope_id == other._scope_id
                and (ignore_port or self._port == other._port))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IPAddr):
            return NotImplemented
        return self.equal(other)

    def __hash__(self) -> int:
        return hash((self._family, self._packed, self._port, self._scope_id))

    def __str__(self) -> str:
        return self._host

    def __repr__(self) -> str:
        return "IPAddr(%r, %d)" % (self._host, self._port)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._host, self._port, self._family, self._flowinfo, self._scope_id))


def _rebuild(host, port, family, flowinfo, scope_id):
    return IPAddr(host, port, family, flowinfo=flowinfo, scope_id=scope_id)


def _check_port(port):
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError("port must be an int, got %s" % type(port).__name__)
    if not 0 <= port <= 65535:
        raise ValueError("port must be in 0..65535, got %d" % port)
    return port


def _check_mode(mode):
    if mode in (None, 0):
        return IPADDR_PREF_IPV4
    if mode not in (IPADDR_IPV4, IPADDR_IPV6, IPADDR_PREF_IPV4, IPADDR_PREF_IPV6):
        raise ValueError("mode must be one of IPADDR_IPV4, IPADDR_IPV6, IPADDR_PREF_IPV4, "
                         "IPADDR_PREF_IPV6, got %r" % (mode,))
    return mode


def _literal(name, mode):
    """Parse an IP literal allowed by ``mode`` -> IPAddr without port, or None.

    Like libdill, under a strict mode a literal of the other family is not a literal."""
    host, pct, scope = name.partition("%")
    if mode != IPADDR_IPV6:
        try:
            _socket.inet_pton(_AF_INET, name)
            return IPAddr(name, 0, _AF_INET)
        except OSError:
            pass
    if mode != IPADDR_IPV4:
        try:
            _socket.inet_pton(_AF_INET6, host)
        except OSError:
            return None
        try:
            return IPAddr(name, 0, _AF_INET6)
        except ValueError:
            return None
    return None


def _is_any_literal(name):
    for fam in (_AF_INET, _AF_INET6):
        try:
            _socket.inet_pton(fam, name.partition("%")[0])
            return True
        except OSError:
            pass
    return False


# ------------------------------------------------------------------ interfaces


def _iface_addrs(name):
    """(ipv4 list, ipv6 list) of address strings of network interface ``name``."""
    v4 = []
    v6 = []
    try:
        import fcntl
        import struct

        s = _socket.socket(_AF_INET, _socket.SOCK_DGRAM)
        try:
            req = struct.pack("256s", name.encode()[:15])
            res = fcntl.ioctl(s.fileno(), 0x8915, req)  # SIOCGIFADDR
            v4.append(_socket.inet_ntoa(res[20:24]))
        finally:
            s.close()
    except (OSError, ImportError, UnicodeError):
        pass
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[5] == name:
                    raw = bytes.fromhex(parts[0])
                    a = _socket.inet_ntop(_AF_INET6, raw)
                    scope = int(parts[1], 16)
                    v6.append((a, scope if raw[:2] == b"\xfe\x80" else 0))
    except OSError:
        pass
    return v4, v6


def ipaddr_local(name: str | None, port: int, mode: int | None = IPADDR_PREF_IPV4) -> IPAddr:
    """A local address: ``None`` (any address), an IP literal or an interface name.

    Never does DNS. An unknown name raises OSError ENODEV."""
    mode = _check_mode(mode)
    port = _check_port(port)
    if name is None:
        if mode in (IPADDR_IPV6, IPADDR_PREF_IPV6):
            return IPAddr("::", port, _AF_INET6)
        return IPAddr("0.0.0.0", port, _AF_INET)
    if not isinstance(name, str):
        raise TypeError("ipaddr_local: name must be a str or None")
    a = _literal(name, mode)
    if a is not None:
        return a.with_port(port)
    v4, v6 = _iface_addrs(name)
    order = {
        IPADDR_IPV4: ("4",), IPADDR_IPV6: ("6",),
        IPADDR_PREF_IPV4: ("4", "6"), IPADDR_PREF_IPV6: ("6", "4"),
    }[mode]
    for fam in order:
        if fam == "4" and v4:
            return IPAddr(v4[0], port, _AF_INET)
        if fam == "6" and v6:
            return IPAddr(v6[0][0], port, _AF_INET6, scope_id=v6[0][1])
    raise OSError(_errno.ENODEV, "no such interface or address: %r" % (name,))


# ------------------------------------------------------------------ thread helper


def _in_thread(fn, args, deadline):
    """Run ``fn(*args)`` in a worker thread (dill.to_thread), waiting from this
    coroutine without blocking the hub; abandoned on deadline or cancellation.

    The call's exception is carried back as a value so that an abandoned call's
    failure (a resolver error nobody waits for any more) is not reported."""
    ok, val = _dill.to_thread(_capture, fn, args, deadline=deadline)
    if ok:
        return val
    raise val


def _capture(fn, args):
    try:
        return True, fn(*args)
    except Exception as e:  # noqa: BLE001 - handed to the coroutine
        return False, e


def _getaddrinfo(name, port, family):
    # looked up on the module at call time, so a patched resolver is honoured
    return _socket.getaddrinfo(name, port, family, _socket.SOCK_STREAM)


def _resolve(name, port, family, deadline):
    """getaddrinfo in a thread -> list of IPAddr of ``family`` (empty if none)."""
    try:
        infos = _in_thread(_getaddrinfo, (name, port, family), deadline)
    except _socket.gaierror:
        return []
    out = []
    seen = set()
    for fam, _type, _proto, _canon, sa in infos:
        if fam != family:
            continue
        a = IPAddr.from_sockaddr(fam, sa).with_port(port)
        if a not in seen:
            seen.add(a)
            out.append(a)
    return out


def _check_name(name):
    if not isinstance(name, str):
        raise TypeError("name must be a str, got %s" % type(name).__name__)
    if not name:
        raise ValueError("name must not be empty")


def ipaddr_remotes(name: str, port: int, mode: int | None = IPADDR_PREF_IPV4,
                   limit: int | None = None, deadline: int | None = -1) -> list[IPAddr]:
    """Every address of ``name`` (literal or DNS), preferred family first.

    Returns a list of at most ``limit`` addresses; empty if there is none."""
    _check_name(name)
    mode = _check_mode(mode)
    port = _check_port(port)
    if limit is not None and limit <= 0:
        return []
    a = _literal(name, mode)
    if a is not None:
        return [a.with_port(port)]
    if _is_any_literal(name):
        # a literal of the family the strict mode excludes
        return []
    if mode == IPADDR_IPV4:
        res = _resolve(name, port, _AF_INET, deadline)
    elif mode == IPADDR_IPV6:
        res = _resolve(name, port, _AF_INET6, deadline)
    else:
        try:
            infos = _in_thread(_getaddrinfo, (name, port, _socket.AF_UNSPEC), deadline)
        except _socket.gaierror:
            infos = []
        v4: list[IPAddr]
        v6: list[IPAddr]
        v4, v6 = [], []
        seen = set()
        for fam, _t, _p, _c, sa in infos:
            if fam not in (_AF_INET, _AF_INET6):
                continue
            x = IPAddr.from_sockaddr(fam, sa).with_port(port)
            if x in seen:
                continue
            seen.add(x)
            (v4 if fam == _AF_INET else v6).append(x)
        res = v4 + v6 if mode == IPADDR_PREF_IPV4 else v6 + v4
    if limit is not None:
        res = res[:limit]
    return res


def ipaddr_remote(name: str, port: int, mode: int | None = IPADDR_PREF_IPV4,
                  deadline: int | None = -1) -> IPAddr:
    """One address of ``name``: an IP literal or a DNS name (resolved without
    blocking the hub, honouring ``deadline``). No address: OSError EADDRNOTAVAIL."""
    res = ipaddr_remotes(name, port, mode, 1, deadline)
    if not res:
        raise OSError(_errno.EADDRNOTAVAIL, "no address of the requested kind for %r" % (name,))
    return res[0]


def ipaddr_equal(a: IPAddr, b: IPAddr, ignore_port: bool = False) -> bool:
    """libdill's ``ipaddr_equal``: ``a.equal(b, ignore_port)``."""
    return a.equal(b, ignore_port)


def ipaddr_str(a: IPAddr) -> str:
    """libdill's ``ipaddr_str``: the address alone, as text."""
    return str(a)


def ipaddr_port(a: IPAddr) -> int:
    """libdill's ``ipaddr_port``: the port number."""
    return a.port


def ipaddr_family(a: IPAddr) -> int:
    """libdill's ``ipaddr_family``: ``AF_INET`` or ``AF_INET6``."""
    return a.family


def ipaddr_sockaddr(a: IPAddr) -> _SockAddr:

    """libdill's ``ipaddr_sockaddr``: the tuple the ``socket`` module takes."""
    return a.sockaddr
