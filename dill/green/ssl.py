"""Green ``ssl``: TLS sockets whose blocking operations block only the calling coroutine.

``SSLSocket`` derives from both the stdlib ``ssl.SSLSocket`` and the green
``dill.green.socket.socket``, so the stdlib's TLS logic runs unchanged over a
non-blocking fd; the handshake, reads, writes and ``unwrap`` retry on
``SSLWantReadError``/``SSLWantWriteError`` after ``fdin``/``fdout``, honouring the
socket's timeout as the stdlib does (0: the want-errors are raised at once,
after letting the other ready coroutines run once, never a wait; positive:
``TimeoutError("The read operation timed out")`` and so on).  ``SSLContext``
makes green sockets; ``create_default_context`` and friends return green
contexts.  Everything else is the stdlib module's.
"""

from __future__ import annotations

import ssl as __ssl__

from .._errors import TimedOut
from . import socket as _gsocket
from ._sync import deadline_in
from ._util import LiveNamespace, rebind, wait_fd, would_block

for _name, _value in list(vars(__ssl__).items()):
    if _name not in ("__name__", "__doc__", "__file__", "__spec__", "__loader__",
                     "__package__", "__builtins__", "__cached__"):
        globals()[_name] = _value
del _name, _value


def _std(cls):
    while getattr(cls, "_dill_green", False):  # the stdlib module was patched already
        cls = cls.__bases__[0]
    return cls


_StdSSLSocket = _std(__ssl__.SSLSocket)
_StdSSLContext = _std(__ssl__.SSLContext)
_WantRead = __ssl__.SSLWantReadError
_WantWrite = __ssl__.SSLWantWriteError
_timeout_error = _gsocket._timeout_error

# Names the stdlib ssl module imported from socket: the green ones here.
socket = _gsocket.socket
create_connection = _gsocket.create_connection


def _retry(sock, fn, args, timeout, what):
    """Call ``fn(*args)`` until it stops asking for the fd to be readable/writable."""
    deadline = None
    while True:
        try:
            return fn(*args)
        except _WantRead:
            if timeout == 0.0:
                would_block()
                raise
            out = 0
        except _WantWrite:
            if timeout == 0.0:
                would_block()
                raise
            out = 1
        if deadline is None:
            deadline = deadline_in(timeout)
        try:
            wait_fd(sock.fileno(), out, deadline)
        except TimedOut:
            raise _timeout_error(what) from None


class SSLSocket(_StdSSLSocket, _gsocket.socket):
    """``ssl.SSLSocket`` over a green socket."""

    _dill_green = True

    def settimeout(self, value):
        # Always through the fd (the green socket skips it for values it has
        # seen): the stdlib's SSLSocket._create builds this object on the fd
        # before detaching the plain socket, whose detach() hands the fd over
        # in blocking mode; this call, which follows, makes it non-blocking
        # again.  A blocking fd under an SSL object that thinks it is
        # non-blocking would block the whole hub in the handshake.
        self._set_timeout_slowly(_StdSSLSocket.settimeout, value)

    def read(self, len=1024, buffer=None):
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Read on closed or unwrapped SSL socket.")
        # Retry with the SSL object the call started with, as the stdlib's read
        # blocked in C does: shutdown() from another thread drops self._sslobj,
        # and this read must then see the end of the stream, not a closed socket.
        try:
            return _retry(self, sslobj.read, (len,) if buffer is None else (len, buffer),
                          self._timeout, "The read operation timed out")
        except SSLError as x:  # noqa: F821 (the stdlib's, copied in above)
            if x.args[0] == SSL_ERROR_EOF and self.suppress_ragged_eofs:  # noqa: F821
                return b"" if buffer is None else 0
            raise

    def write(self, data):
        return _retry(self, _StdSSLSocket.write, (self, data), self._timeout,
                      "The write operation timed out")

    def send(self, data, flags=0):
        if self._sslobj is not None and not flags:
            self._checkClosed()
            return _retry(self, self._sslobj.write, (data,), self._timeout,
                          "The write operation timed out")
        return _StdSSLSocket.send(self, data, flags)

    def do_handshake(self, block=False):
        self._check_connected()
        timeout = self._timeout
        if timeout == 0.0 and block:
            timeout = None
        _retry(self, self._sslobj.do_handshake, (), timeout,
               "The handshake operation timed out")

    def unwrap(self):
        if self._sslobj:
            s = _retry(self, self._sslobj.shutdown, (), self._timeout,
                       "The read operation timed out")
            self._sslobj = None
            return s
        raise ValueError("No SSL wrapper around " + str(self))

    read.__doc__ = _StdSSLSocket.read.__doc__
    write.__doc__ = _StdSSLSocket.write.__doc__
    do_handshake.__doc__ = _StdSSLSocket.do_handshake.__doc__
    unwrap.__doc__ = _StdSSLSocket.unwrap.__doc__


class SSLContext(_StdSSLContext):
    """``ssl.SSLContext`` whose ``wrap_socket`` returns green ``SSLSocket``s."""

    _dill_green = True
    sslsocket_class = SSLSocket


# The stdlib spells ``super(SSLContext, SSLContext)`` and ``super(SSLSocket, self)``
# with the module globals: once ``dill.patch`` has replaced them by the green
# classes that would recurse, so the green classes run those methods with the
# names pinned to the stdlib classes.
_pinned = LiveNamespace(__ssl__, {})
_pinned["SSLContext"] = _StdSSLContext
_pinned["SSLSocket"] = _StdSSLSocket


def _repin(cls, std):
    for name, value in list(vars(std).items()):
        if isinstance(value, property):
            f = [v if v is None else rebind(v, _pinned) for v in
                 (value.fget, value.fset, value.fdel)]
            setattr(cls, name, property(f[0], f[1], f[2],
                                         value.__doc__ or f"As ``ssl.{std.__name__}.{name}``."))
        elif isinstance(value, classmethod) and hasattr(value.__func__, "__code__"):
            setattr(cls, name, classmethod(rebind(value.__func__, _pinned)))


_repin(SSLContext, _StdSSLContext)
_repin(SSLSocket, _StdSSLSocket)


_REBOUND = [n for n in ("create_default_context", "_create_unverified_context",
                        "wrap_socket", "get_server_certificate") if hasattr(__ssl__, n)]
_overrides = {}
_ns = LiveNamespace(__ssl__, _overrides)
for _name in _REBOUND:
    globals()[_name] = rebind(getattr(__ssl__, _name), _ns)
del _name
_create_default_https_context = create_default_context  # noqa: F821
_create_stdlib_context = _create_unverified_context  # noqa: F821
_GREEN = ["SSLSocket", "SSLContext", "socket", "create_connection",
          "_create_default_https_context", "_create_stdlib_context"] + _REBOUND
_overrides.update({_n: globals()[_n] for _n in _GREEN})

# What dill.patch() copies onto the stdlib module.
__implements__ = [n for n in _GREEN if n != "socket" and n != "create_connection"]
