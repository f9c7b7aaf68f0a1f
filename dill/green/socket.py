"""Green ``socket``: the stdlib module whose blocking calls block only the calling coroutine.

``socket.socket`` here is a subclass of the stdlib class.  The fd is always
non-blocking underneath; the Python-level timeout (``settimeout``,
``setblocking``, ``gettimeout``, ``getblocking``) behaves exactly as the
stdlib's: ``None`` blocks (the calling coroutine only), ``0`` raises
``BlockingIOError``, a positive timeout raises ``TimeoutError('timed out')``.
A non-blocking call that cannot complete first lets the other ready coroutines
run once (``_util.would_block``), so a loop polling the socket makes progress.
A wait (or that yield) in a canceled coroutine raises ``dill.Canceled``; I/O that
can complete at once still succeeds there.  Name resolution runs in the worker pool
(``to_thread``) unless the host is a numeric address.

Everything this module does not redefine is the stdlib's.
"""

from __future__ import annotations

import errno as _errno
import os as _os
import socket as __socket__
import _socket

from .._errors import TimedOut
from ._sync import deadline_in
from ._util import (LiveNamespace, forget_fd, rebind, to_thread, wait_fd,
                    would_block)

# The stdlib class, even if the stdlib module was already patched.
_stdsocket = __socket__.socket
while getattr(_stdsocket, "_dill_green", False):
    _stdsocket = _stdsocket.__bases__[0]

# Everything from the stdlib module, then our own definitions on top.
for _name, _value in list(vars(__socket__).items()):
    if _name not in ("__name__", "__doc__", "__file__", "__spec__", "__loader__",
                     "__package__", "__builtins__", "__cached__", "__path__"):
        globals()[_name] = _value
del _name, _value

__all__ = list(__socket__.__all__)

_c = _socket.socket
_c_recv = _c.recv
_c_recv_into = _c.recv_into
_c_recvfrom = _c.recvfrom
_c_recvfrom_into = _c.recvfrom_into
_c_send = _c.send
_c_sendto = _c.sendto
_c_connect = _c.connect
_c_accept = _c._accept
_c_fileno = _c.fileno
_c_settimeout = _c.settimeout
_c_gettimeout = _c.gettimeout
_c_setblocking = _c.setblocking
_c_getsockopt = _c.getsockopt
_c_family = _c.family.__get__
_c_del = _c.__del__
_c_recvmsg = getattr(_c, "recvmsg", None)
_c_recvmsg_into = getattr(_c, "recvmsg_into", None)
_c_sendmsg = getattr(_c, "sendmsg", None)
_c_sendmsg_afalg = getattr(_c, "sendmsg_afalg", None)

_timeout_error = _socket.timeout
_INET = (_socket.AF_INET, getattr(_socket, "AF_INET6", -1))


_DONTWAIT = getattr(_socket, "MSG_DONTWAIT", 0)

# settimeout(value) -> gettimeout() afterwards, for the int and float values seen so
# far: the C parser's rounding, ranges and errors differ between Python versions, so
# the first call with a value asks it (on the fd: 2 ioctls) and later ones reuse its
# answer (no syscall; a keep-alive server sets the same few timeouts on every request).
# The one difference: settimeout on an fd closed behind the socket's back (os.close)
# does not raise EBADF; the next operation on the socket does.
_CACHEABLE = (int, float)
_MAX_PARSED = 256
_parsed_timeouts: dict = {}
_UNKNOWN = object()


def _io(sock, fn, out, args, flags=0):
    """Call ``fn(sock, *args)``; on EAGAIN wait per the socket's timeout and retry.

    ``flags``: the call's message flags (MSG_DONTWAIT never waits, as in C).
    """
    try:
        return fn(sock, *args)
    except BlockingIOError:
        t = sock._timeout
        if t == 0.0 or (flags and isinstance(flags, int) and flags & _DONTWAIT):
            would_block()
            raise
    deadline = deadline_in(t)
    fd = _c_fileno(sock)
    while True:
        try:
            wait_fd(fd, out, deadline)
        except TimedOut:
            raise _timeout_error("timed out") from None
        try:
            return fn(sock, *args)
        except BlockingIOError:
            pass


def _is_numeric_host(host, family):
    if host in ("", "<broadcast>"):
        return True
    if isinstance(host, bytes):
        try:
            host = host.decode("idna")
        except UnicodeError:
            return False
    if not isinstance(host, str):
        return True  # let the C code raise its own error
    if family == _socket.AF_INET6 or ":" in host:
        host = host.split("%", 1)[0]
        fams = (_socket.AF_INET6,) if family == _socket.AF_INET6 else (_socket.AF_INET6,
                                                                      _socket.AF_INET)
    else:
        fams = (_socket.AF_INET,)
    for f in fams:
        try:
            _socket.inet_pton(f, host)
            return True
        except (OSError, ValueError):
            pass
    return False


def _resolve(sock, address):
    """Resolve a host name in an INET address through the worker pool."""
    if address.__class__ is not tuple or len(address) < 2:
        return address
    family = _c_family(sock)
    if family not in _INET or _is_numeric_host(address[0], family):
        return address
    host, port = address[0], address[1]
    if not isinstance(port, int):
        return address  # the C code raises the proper TypeError
    r = getaddrinfo(host, port, family, _c.type.__get__(sock), _c.proto.__get__(sock))
    if not r:  # pragma: no cover
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")
    sa = r[0][4]
    if family == _socket.AF_INET6:
        return (sa[0], sa[1]) + tuple(address[2:])
    return sa


class socket(_stdsocket):
    """A stdlib socket whose blocking operations block only the calling coroutine."""

    __slots__ = ("_timeout",)
    _dill_green = True

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        _stdsocket.__init__(self, family, type, proto, fileno)
        t = self._timeout = _c_gettimeout(self)
        if t != 0.0:
            _c_setblocking(self, False)

    # --------------------------------------------------------------- timeouts
    # The fd stays non-blocking (and the C timeout 0.0) whatever the Python-level
    # timeout: only _set_timeout_slowly touches the fd.
    def settimeout(self, value):
        if value is None:
            t = None
        elif value.__class__ in _CACHEABLE:
            t = _parsed_timeouts.get(value, _UNKNOWN)
        else:
            t = _UNKNOWN
        if t is _UNKNOWN or _c_fileno(self) < 0:
            self._set_timeout_slowly(_c_settimeout, value)  # the stdlib's errors, EBADF too
            if t is _UNKNOWN and value.__class__ in _CACHEABLE and \
                    len(_parsed_timeouts) < _MAX_PARSED:
                _parsed_timeouts[value] = self._timeout
        else:
            self._timeout = t

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self._set_timeout_slowly(_c_setblocking, flag)  # not per request: keep its EBADF

    def _set_timeout_slowly(self, c_setter, arg):
        """Validate ``arg`` (and raise) as the stdlib does, by ``c_setter`` on the fd,
        keep the timeout it sets, and make the fd non-blocking again (1 or 2 ioctls)."""
        c_setter(self, arg)
        t = self._timeout = _c_gettimeout(self)
        if t != 0.0:
            _c_setblocking(self, False)

    def getblocking(self):
        return self._timeout != 0.0

    settimeout.__doc__ = _stdsocket.settimeout.__doc__
    gettimeout.__doc__ = _stdsocket.gettimeout.__doc__
    setblocking.__doc__ = _stdsocket.setblocking.__doc__
    getblocking.__doc__ = _stdsocket.getblocking.__doc__

    # --------------------------------------------------------------- receive
    def recv(self, *args):
        return _io(self, _c_recv, 0, args, args[1] if len(args) > 1 else 0)

    def recv_into(self, *args, **kwargs):
        flags = args[2] if len(args) > 2 else kwargs.get("flags", 0)
        if kwargs:
            return _io(self, lambda s, *a: _c_recv_into(s, *a, **kwargs), 0, args, flags)
        return _io(self, _c_recv_into, 0, args, flags)

    def recvfrom(self, *args):
        return _io(self, _c_recvfrom, 0, args, args[1] if len(args) > 1 else 0)

    def recvfrom_into(self, *args, **kwargs):
        flags = args[2] if len(args) > 2 else kwargs.get("flags", 0)
        if kwargs:
            return _io(self, lambda s, *a: _c_recvfrom_into(s, *a, **kwargs), 0, args,
                       flags)
        return _io(self, _c_recvfrom_into, 0, args, flags)

    if _c_recvmsg is not None:
        def recvmsg(self, *args):
            return _io(self, _c_recvmsg, 0, args, args[2] if len(args) > 2 else 0)

        def recvmsg_into(self, *args):
            return _io(self, _c_recvmsg_into, 0, args, args[2] if len(args) > 2 else 0)

    # ------------------------------------------------------------------ send
    def send(self, *args):
        return _io(self, _c_send, 1, args, args[1] if len(args) > 1 else 0)

    def sendall(self, data, flags=0):
        t = self._timeout
        try:
            sent = _c_send(self, data, flags)
        except BlockingIOError:
            if t == 0.0:
                would_block()
                raise
            sent = 0
        with memoryview(data) as view, view.cast("B") as v:
            n = len(v)
            if sent >= n:
                return None
            deadline = None
            fd = _c_fileno(self)
            while sent < n:
                try:
                    sent += _c_send(self, v[sent:], flags)
                    continue
                except BlockingIOError:
                    if t == 0.0:
                        would_block()
                        raise
                if deadline is None:
                    deadline = deadline_in(t)
                try:
                    wait_fd(fd, 1, deadline)
                except TimedOut:
                    raise _timeout_error("timed out") from None
        return None

    def sendto(self, *args):
        if len(args) == 2:
            return _io(self, _c_sendto, 1, (args[0], _resolve(self, args[1])))
        if len(args) == 3:
            return _io(self, _c_sendto, 1, (args[0], args[1], _resolve(self, args[2])),
                       args[1])
        return _c_sendto(self, *args)  # the stdlib's TypeError

    if _c_sendmsg is not None:
        def sendmsg(self, *args):
            if len(args) > 3 and args[3] is not None:
                args = args[:3] + (_resolve(self, args[3]),) + args[4:]
            return _io(self, _c_sendmsg, 1, args, args[2] if len(args) > 2 else 0)

    if _c_sendmsg_afalg is not None:
        def sendmsg_afalg(self, *args, **kwargs):
            return _io(self, lambda s, *a: _c_sendmsg_afalg(s, *a, **kwargs), 1, args)

    # ---------------------------------------------------------- connections
    def _accept(self):
        return _io(self, _c_accept, 0, ())

    def connect(self, address):
        address = _resolve(self, address)
        deadline = None
        while True:
            try:
                return _c_connect(self, address)
            except BlockingIOError as e:
                t = self._timeout
                if t == 0.0:
                    would_block()
                    raise
                again = e.errno != _errno.EINPROGRESS  # AF_UNIX: EAGAIN, retry
            if deadline is None:
                deadline = deadline_in(t)
            try:
                wait_fd(_c_fileno(self), 1, deadline)
            except TimedOut:
                raise _timeout_error("timed out") from None
            if not again:
                err = _c_getsockopt(self, _socket.SOL_SOCKET, _socket.SO_ERROR)
                if err:
                    raise OSError(err, _os.strerror(err))
                return None

    def connect_ex(self, address):
        try:
            socket.connect(self, address)  # not an override (SSLSocket.connect)
        except _timeout_error:
            return _errno.EAGAIN
        except _socket.gaierror:
            raise
        except OSError as e:
            if e.errno:
                return e.errno
            raise
        return 0

    # ---------------------------------------------------------- lifetime
    def _real_close(self, _ss=_c):
        forget_fd(_c_fileno(self))
        _ss.close(self)

    def detach(self):
        fd = _c_fileno(self)
        if fd >= 0:
            forget_fd(fd)
            if self._timeout is None:  # hand over the fd in the mode the stdlib would
                try:
                    _c_setblocking(self, True)
                except OSError:
                    pass
        return _stdsocket.detach(self)

    def __del__(self):
        try:
            fd = _c_fileno(self)
            if fd >= 0:
                forget_fd(fd)
        except BaseException:  # pragma: no cover - never fail in a finalizer
            pass
        _c_del(self)

    detach.__doc__ = _stdsocket.detach.__doc__


SocketType = _socket.socket  # as in the stdlib

# The stdlib's own pure-Python code, with its globals (``socket``, ``getaddrinfo``,
# ``selectors``) resolving to this module's green versions.
_REBOUND = [n for n in ("create_connection", "create_server", "has_dualstack_ipv6",
                        "socketpair", "fromfd", "getfqdn", "send_fds", "recv_fds",
                        "fromshare") if hasattr(__socket__, n)]
_GREEN = ["socket", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
          "getnameinfo", "selectors"] + _REBOUND
_overrides = {}
_ns = LiveNamespace(__socket__, _overrides)
for _name in ("accept", "_sendfile_use_sendfile", "_sendfile_use_send"):
    setattr(socket, _name, rebind(getattr(_stdsocket, _name), _ns))
for _name in _REBOUND:
    globals()[_name] = rebind(getattr(__socket__, _name), _ns)
del _name

_std_getaddrinfo = __socket__.getaddrinfo
_std_gethostbyname = _socket.gethostbyname
_std_gethostbyname_ex = _socket.gethostbyname_ex
_std_gethostbyaddr = _socket.gethostbyaddr
_std_getnameinfo = _socket.getnameinfo


def _numeric_port(port):
    return port is None or isinstance(port, int) or (
        isinstance(port, (str, bytes)) and port.isdigit())


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if (host is None or _is_numeric_host(host, family)) and _numeric_port(port):
        return _std_getaddrinfo(host, port, family, type, proto, flags)
    return to_thread(_std_getaddrinfo, host, port, family, type, proto, flags)


def gethostbyname(hostname):
    if isinstance(hostname, str) and _is_numeric_host(hostname, _socket.AF_INET):
        return _std_gethostbyname(hostname)
    return to_thread(_std_gethostbyname, hostname)


def gethostbyname_ex(hostname):
    return to_thread(_std_gethostbyname_ex, hostname)


def gethostbyaddr(ip_address):
    if not isinstance(ip_address, (str, bytes, bytearray)):
        return _std_gethostbyaddr(ip_address)  # the stdlib's TypeError
    return to_thread(_std_gethostbyaddr, ip_address)


def getnameinfo(sockaddr, flags):
    numeric = _socket.NI_NUMERICHOST | _socket.NI_NUMERICSERV
    if sockaddr.__class__ is not tuple or not isinstance(flags, int):
        try:
            return _std_getnameinfo(sockaddr, flags)  # the stdlib's TypeError
        except BaseException as e:
            err = e
        del sockaddr, flags  # the traceback must not keep the arguments alive
        try:
            raise err
        finally:
            del err
    if flags & numeric == numeric:  # no lookup
        return _std_getnameinfo(sockaddr, flags)
    return to_thread(_std_getnameinfo, sockaddr, flags)


for _f in (getaddrinfo, gethostbyname, gethostbyname_ex, gethostbyaddr, getnameinfo):
    _f.__doc__ = getattr(__socket__, _f.__name__).__doc__
del _f

from . import selectors  # noqa: E402  (for sendfile; it does not import this module)

_overrides.update({_n: globals()[_n] for _n in _GREEN})

# What dill.patch() copies onto the stdlib module.
__implements__ = [n for n in _GREEN if n != "selectors"]

