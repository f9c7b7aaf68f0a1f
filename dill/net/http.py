"""HTTP/1.1 heads over a bytestream (libdill's ``http_*``): a request or status line and
its fields, sent and received one call at a time. Incoming heads are parsed with h11;
outgoing heads are written as given (nothing added), in one write at ``http_done``.
After ``http_detach`` the body follows on the bytestream beneath: whatever h11 read
past the head is pushed back onto it.

Strings are ``str`` both ways (latin-1 on the wire, as the stdlib does); received field
names are lowercased, values trimmed. Heads over 16 KiB are refused (EMSGSIZE)."""

from __future__ import annotations

import re

import h11

from dill import Done
from ._base import ByteStream, DONE, RESET
from ._base import SocketBase
from ._layer import RECV_CHUNK, EMSGSIZE_error, EPROTO_error, LayerMixin, BelowStream, check_lower

__all__ = [
    "HTTPSocket",
    "HTTP_MAX_HEAD",
    "http_attach",
    "http_detach",
    "http_done",
    "http_recvfield",
    "http_recvrequest",
    "http_recvstatus",
    "http_sendfield",
    "http_sendrequest",
    "http_sendstatus",
]

HTTP_MAX_HEAD = 16 * 1024

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_TARGET = re.compile(r"[^\x00-\x20\x7f]+\Z")
_TEXT = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*\Z")  # field values, reasons: no CR/LF/controls


def _latin1(s, what):
    if not isinstance(s, str):
        raise TypeError("%s must be a str, got %s" % (what, type(s).__name__))
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("%s must be latin-1 text: %r" % (what, s)) from None


class HTTPSocket(LayerMixin[BelowStream], SocketBase):
    """An HTTP head socket over a bytestream."""

    _head: list[bytes] | None
    _conn: h11.Connection | None
    _fields: list[tuple[str, str]] | None
    _last_status: int | None
    _is_request: bool

    def __init__(self, s: ByteStream) -> None:
        SocketBase.__init__(self)
        self._s = s
        # send side: the head being built (list of lines as bytes), and its size
        self._head = None
        self._headsize = 0
        # receive side
        self._conn = None        # h11.Connection, made at the first receive
        self._fields = None      # list of (name, value) still to hand out
        self._fieldpos = 0
        self._last_status = None

    def __repr__(self) -> str:
        return "<HTTPSocket %s>" % ("closed" if self._s is None else "open")

    # ---------------------------------------------------------------- send side
    def _start_head(self, line):
        self._out_check()
        if self._head is not None:
            raise ValueError("http: a head is already being sent; finish it with http_done")
        if len(line) + 2 > HTTP_MAX_HEAD:
            raise EMSGSIZE_error("http: head line over %d bytes" % HTTP_MAX_HEAD)
        self._head = [line]
        self._headsize = len(line) + 4

    def sendrequest(self, method: str, resource: str, deadline: int | None = -1) -> None:
        """See ``http_sendrequest``."""
        m = _latin1(method, "http_sendrequest: method")
        r = _latin1(resource, "http_sendrequest: resource")
        if not _TOKEN.match(method):
            raise ValueError("http_sendrequest: invalid method %r" % (method,))
        if not _TARGET.match(resource):
            raise ValueError("http_sendrequest: invalid resource %r (no spaces or controls)" % (resource,))
        self._start_head(b"%s %s HTTP/1.1" % (m, r))
        self._is_request = True

    def sendstatus(self, status: int, reason: str, deadline: int | None = -1) -> None:
        """See ``http_sendstatus``."""
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError("http_sendstatus: status must be an int in 100..599, got %r" % (status,))
        rb = _latin1(reason, "http_sendstatus: reason")
        if not _TEXT.match(reason):
            raise ValueError("http_sendstatus: invalid reason %r" % (reason,))
        self._start_head(b"HTTP/1.1 %d %s" % (status, rb))
        self._is_request = False

    def sendfield(self, name: str, value: str, deadline: int | None = -1) -> None:
        """See ``http_sendfield``."""
        n = _latin1(name, "http_sendfield: name")
        if not _TOKEN.match(name):
            raise ValueError("http_sendfield: invalid field name %r" % (name,))
        value = value.strip(" \t") if isinstance(value, str) else value
        v = _latin1(value, "http_sendfield: value")
        if not _TEXT.match(value):
            raise ValueError("http_sendfield: invalid field value %r" % (value,))
        self._out_check()
        if self._head is None:
            raise ValueError("http_sendfield: send a request or status line first")
        line = b"%s: %s" % (n, v)
        if self._headsize + len(line) + 2 > HTTP_MAX_HEAD:
            raise EMSGSIZE_error("http: head over %d bytes" % HTTP_MAX_HEAD)
        self._head.append(line)
        self._headsize += len(line) + 2

    def done(self, deadline: int | None = -1) -> None:
        """Finish the head (the blank line) and send it."""
        self._out_acquire()
        try:
            head = self._head
            if head is None:
                raise ValueError("http_done: no head to finish (send a request or status first)")
            if self._is_request and not any(
                    line[:5].lower() == b"host:" for line in head[1:]):
                raise ValueError("http_done: a request head needs a Host field")
            head.append(b"")
            head.append(b"")
            data = b"\r\n".join(head)
            self._head = None
            try:
                self._s.bsend(data, deadline)
            except Done:
                self._out_fail(DONE)
                raise
            except BaseException:
                self._out_fail(RESET)
                raise
            self._out_fail(DONE)
        finally:
            self._out_release()

    # ---------------------------------------------------------------- receive side
    def _connection(self, role):
        conn = self._conn
        if conn is None:
            conn = self._conn = h11.Connection(role, max_incomplete_event_size=HTTP_MAX_HEAD)
            if role is h11.CLIENT:
                # h11 only parses a response after a request went out: tell it about
                # one (not sent anywhere) that proposes an upgrade, so a 101 is legal.
                conn.send(h11.Request(method="GET", target="/", headers=[
                    ("Host", "x"), ("Connection", "upgrade"), ("Upgrade", "x")]))
        elif conn.our_role is not role:
            raise ValueError("http: this socket already receives %s heads" % (
                "response" if conn.our_role is h11.CLIENT else "request"))
        return conn

    def _recvhead(self, role, deadline):
        self._in_acquire()
        try:
            if self._fields is not None and self._fieldpos < len(self._fields):
                raise ValueError("http: read the fields of the previous head first")
            if self._fields is not None and not (
                    role is h11.CLIENT and self._last_status is not None and self._last_status < 200):
                raise ValueError("http: one head per attach; http_detach to read the body")
            conn = self._connection(role)
            while True:
                before = len(conn.trailing_data[0])
                try:
                    ev = conn.next_event()
                except h11.RemoteProtocolError as e:
                    self._in_fail(RESET)
                    if e.error_status_hint == 431:
                        raise EMSGSIZE_error("http: head over %d bytes" % HTTP_MAX_HEAD) from None
                    raise EPROTO_error("http: malformed head: %s" % (e,)) from None
                if ev is h11.NEED_DATA:
                    if conn.they_are_waiting_for_100_continue:  # pragma: no cover
                        pass
                    try:
                        data = self._s.brecv_some(RECV_CHUNK, deadline)
                    except Done:
                        data = b""
                    except ConnectionResetError:
                        self._in_fail(RESET)
                        raise
                    conn.receive_data(data)
                    continue
                if isinstance(ev, (h11.Request, h11.Response, h11.InformationalResponse)):
                    if ev.http_version not in (b"1.1", b"1.0"):
                        self._in_fail(RESET)
                        raise EPROTO_error("http: unsupported version HTTP/%s"
                                           % ev.http_version.decode("latin-1"))
                    used = before - len(conn.trailing_data[0])
                    if used > HTTP_MAX_HEAD:
                        self._in_fail(RESET)
                        raise EMSGSIZE_error("http: head over %d bytes" % HTTP_MAX_HEAD)
                    self._fields = [(n.decode("latin-1"), v.decode("latin-1"))
                                    for n, v in ev.headers]
                    self._fieldpos = 0
                    return ev
                if isinstance(ev, h11.ConnectionClosed):
                    self._in_fail(DONE)
                    raise Done()
                # PAUSED (protocol switched) or body events: no more heads here
                self._in_fail(DONE)
                raise Done()
        finally:
            self._in_release()

    def recvrequest(self, deadline: int | None = -1) -> tuple[str, str]:
        """See ``http_recvrequest``."""
        ev = self._recvhead(h11.SERVER, deadline)
        return ev.method.decode("latin-1"), ev.target.decode("latin-1")

    def recvstatus(self, deadline: int | None = -1) -> tuple[int, str]:
        """See ``http_recvstatus``."""
        ev = self._recvhead(h11.CLIENT, deadline)
        self._last_status = ev.status_code
        return ev.status_code, ev.reason.decode("latin-1")

    def recvfield(self, deadline: int | None = -1) -> tuple[str, str]:
        """See ``http_recvfield``."""
        self._in_check()
        fields = self._fields
        if fields is None:
            raise ValueError("http_recvfield: receive a request or status line first")
        i = self._fieldpos
        if i >= len(fields):
            raise Done()
        self._fieldpos = i + 1
        return fields[i]


def http_attach(s: BelowStream) -> HTTPSocket[BelowStream]:
    """Stack HTTP on bytestream ``s`` (which it now owns); return the HTTP socket."""
    check_lower(s, ByteStream, "http_attach")
    return HTTPSocket(s)


def _check(s, who):
    if not isinstance(s, HTTPSocket):
        raise TypeError("%s expects an HTTP socket, got %s" % (who, type(s).__name__))


def http_sendrequest(s: HTTPSocket, method: str, resource: str, deadline: int | None = -1) -> None:
    """Start a request head: ``METHOD resource HTTP/1.1``."""
    _check(s, "http_sendrequest")
    s.sendrequest(method, resource, deadline)


def http_sendstatus(s: HTTPSocket, status: int, reason: str, deadline: int | None = -1) -> None:
    """Start a response head: ``HTTP/1.1 status reason``."""
    _check(s, "http_sendstatus")
    s.sendstatus(status, reason, deadline)


def http_sendfield(s: HTTPSocket, name: str, value: str, deadline: int | None = -1) -> None:
    """Add a field ``name: value`` (value trimmed) to the head being sent."""
    _check(s, "http_sendfield")
    s.sendfield(name, value, deadline)


def http_done(s: HTTPSocket, deadline: int | None = -1) -> None:
    """Finish the head being sent (blank line) and send it. Later sends raise Done."""
    _check(s, "http_done")
    s.done(deadline)


def http_recvrequest(s: HTTPSocket, deadline: int | None = -1) -> tuple[str, str]:
    """Receive a request head; return ``(method, resource)``. Then ``http_recvfield``."""
    _check(s, "http_recvrequest")
    return s.recvrequest(deadline)


def http_recvstatus(s: HTTPSocket, deadline: int | None = -1) -> tuple[int, str]:
    """Receive a response head; return ``(status, reason)``. Then ``http_recvfield``."""
    _check(s, "http_recvstatus")
    return s.recvstatus(deadline)


def http_recvfield(s: HTTPSocket, deadline: int | None = -1) -> tuple[str, str]:
    """Return the next field of the received head as ``(name, value)``; raise Done
    after the last one."""
    _check(s, "http_recvfield")
    return s.recvfield(deadline)


def http_detach(s: HTTPSocket[BelowStream], deadline: int | None = -1) -> BelowStream:

    """Finish the head being sent, if any, and return the bytestream beneath; the body
    (anything after the received head) is read from it. On failure the stack is closed."""
    _check(s, "http_detach")
    s._detach_prologue()
    try:
        if s._head is not None:
            s.done(deadline)
    except BaseException:
        s._fail_detach()
        raise
    return s._release_lower(s._conn.trailing_data[0] if s._conn is not None else b"")
