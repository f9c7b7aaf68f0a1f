"""WebSockets (RFC 6455) over a bytestream (libdill's ``ws_*``). The opening handshake
goes through dill's HTTP layer; frames are encoded and checked by wsproto's frame
protocol, fed one frame at a time so that nothing past the peer's close frame is
consumed (``ws_detach`` hands the rest back on the bytestream).

Payloads are ``bytes`` both ways; ``WS_TEXT`` marks a message as text (valid UTF-8).
Pings are answered; a close frame from the peer is answered at once and makes
receives raise ``Done``. Frames that break RFC 6455 fail the socket with EPROTO;
messages over ``max_size`` raise EMSGSIZE (receive direction then broken)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import TYPE_CHECKING

from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed, CloseReason

from dill import Done
from ._base import ByteStream, MessageSocket, DONE, RESET, BUSY
from ._layer import (
    DEFAULT_MAX_SIZE, RECV_CHUNK, EMSGSIZE_error, EPROTO_error, LayerMixin, BelowStream,
    check_lower, check_max_size, close_quietly,
)
from .http import (
    http_attach, http_detach, http_done, http_recvfield, http_recvrequest,
    http_recvstatus, http_sendfield, http_sendrequest, http_sendstatus,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._base import BytesLike

__all__ = [
    "WS_BINARY",
    "WS_TEXT",
    "WS_NOHTTP",
    "WSSocket",
    "ws_attach_client",
    "ws_attach_server",
    "ws_send",
    "ws_recv",
    "ws_done",
    "ws_detach",
    "ws_status",
]

WS_BINARY = 0
WS_TEXT = 1
WS_NOHTTP = 2

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_DATA_OPCODES = (0, 1, 2)


def _accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


class WSSocket(LayerMixin[BelowStream], MessageSocket):
    """A WebSocket: a message socket over a bytestream."""

    _parts: list[bytes]
    _status: tuple[int, bytes] | None
    _ctl: list[bytes]

    def __init__(self, s: ByteStream, client: bool, flags: int, max_size: int) -> None:
        MessageSocket.__init__(self)
        self._s = s
        self._client = client
        self._text = bool(flags & WS_TEXT)
        self._max = max_size
        self._proto = FrameProtocol(client, [])
        self._rx = bytearray()
        self._in_frame = False
        self._frame_left = 0
        self._parts = []
        self._msgsize = 0
        self._msgtext = False
        self._status = None        # (code, reason bytes) from the peer's close frame
        self._close_sent = False
        self._ctl = []             # control frames owed while a sender was busy
        self._ctl_close = False    # ... one of which is the close answer

    _MIDWAY = "ws: stream ended in the middle of a frame"

    def __repr__(self) -> str:
        return "<WSSocket %s %s>" % ("client" if self._client else "server",
                                     "closed" if self._s is None else "open")

    # ---------------------------------------------------------------- send
    def _frame(self, data, text):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if text:
            try:
                payload = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("ws: a WS_TEXT message must be valid UTF-8") from None
        else:
            payload = bytes(data)
        return self._proto.send_data(payload, True)

    def send(self, data: BytesLike | str, deadline: int | None = -1, flags: int | None = None) -> None:
        """See ``ws_send``."""
        text = self._text if flags is None else bool(flags & WS_TEXT)
        self._out_acquire()
        try:
            frame = self._frame(data, text)
            self._send_raw(frame, deadline)
        finally:
            self._out_release()

    def msendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        self._out_acquire()
        try:
            bufs = list(buffers)
            data = bufs[0] if len(bufs) == 1 else b"".join(bufs)
            frame = self._frame(data, self._text)
            self._send_raw(frame, deadline)
        finally:
            self._out_release()

    def _send_raw(self, frame, deadline):
        """Send with the send direction held, then any control frame (pong, close
        answer) the receive path queued meanwhile."""
        closing = False
        while frame is not None:
            if self._ctl:
                frame = b"".join(self._ctl) + frame
                self._ctl = []
                closing = closing or self._ctl_close
                self._ctl_close = False
            self._send_below(self._s.bsend, frame, deadline)
            frame = b"" if self._ctl else None
        if closing:
            self._out_fail(DONE)    # a close frame went out: nothing may follow it

    def _send_control(self, frame, deadline, is_close=False):
        """Send a control frame from the receive path (pong, close answer)."""
        if is_close:
            self._close_sent = True
        if self._outb is BUSY:
            # a sender is in the middle of a send: it carries the frame after its own
            self._ctl.append(frame)
            self._ctl_close = self._ctl_close or is_close
            return
        if self._outb is not None:
            return                  # done, failed or closed: nothing can be sent
        self._outb = BUSY
        try:
            self._send_raw(frame, deadline)
        except BaseException:
            self._outb = RESET
            raise
        if is_close:
            self._outb = DONE
        elif self._outb is BUSY:
            self._outb = None

    def done(self, deadline: int | None = -1, status: int | None = 1000,
             reason: bytes | str = b"") -> None:
        if status is None:
            status = 0
        if not isinstance(status, int) or not (status == 0 or 1000 <= status <= 4999) \
                or status in (1005, 1006, 1015):
            raise ValueError("ws_done: status must be 0 (none) or 1000..4999 "
                             "(not 1005/1006/1015), got %r" % (status,))
        if isinstance(reason, str):
            reason = reason.encode("utf-8")
        reason = bytes(reason)
        if len(reason) > 123:
            raise ValueError("ws_done: the reason is over 123 bytes")
        if status == 0 and reason:
            raise ValueError("ws_done: a reason needs a status")
        try:
            r = reason.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("ws_done: the reason must be UTF-8") from None
        self._out_acquire()
        try:
            frame = self._proto.close(status or None, r)
            self._close_sent = True
            self._send_raw(frame, deadline)
            self._out_fail(DONE)
        finally:
            self._out_release()

    # ---------------------------------------------------------------- receive
    def recv(self, deadline: int | None = -1) -> tuple[int, bytes]:
        """Return ``(flags, data)`` of the next message."""
        self._in_acquire()
        try:
            return self._recv(deadline)
        finally:
            self._in_release()

    def mrecv(self, deadline: int | None = -1) -> bytes:
        return self.recv(deadline)[1]

    def _fill(self, deadline):
        midway = bool(self._rx or self._in_frame or self._parts or self._msgsize)
        self._rx += self._recv_below(self._s.brecv_some, RECV_CHUNK, deadline, midway=midway)

    def _header_len(self):
        rx = self._rx
        if len(rx) < 2:
            return None
        b1 = rx[1]
        n = 2 + (4 if b1 & 0x80 else 0)
        l7 = b1 & 0x7F
        if l7 == 126:
            n += 2
        elif l7 == 127:
            n += 8
        return n if len(rx) >= n else None

    def _recv(self, deadline):
        rx = self._rx
        while True:
            if not self._in_frame:
                hl = self._header_len()
                if hl is None:
                    self._fill(deadline)
                    continue
                l7 = rx[1] & 0x7F
                if l7 == 126:
                    plen = int.from_bytes(rx[2:4], "big")
                elif l7 == 127:
                    plen = int.from_bytes(rx[2:10], "big")
                else:
                    plen = l7
                if len(rx) >= hl + plen:
                    # the whole frame is here: one pass through the frame decoder
                    if (rx[0] & 0x0F) in _DATA_OPCODES and self._msgsize + plen > self._max:
                        self._in_fail(RESET)
                        raise EMSGSIZE_error("ws: message over max_size (%d)" % (self._max,))
                    whole = bytes(rx[:hl + plen])
                    del rx[:hl + plen]
                    self._proto.receive_bytes(whole)
                    res = self._process(deadline)
                    if res is not None:
                        return res
                    continue
                header = bytes(rx[:hl])
                del rx[:hl]
                self._proto.receive_bytes(header)
                res = self._process(deadline)   # validates the header (EPROTO)
                if (header[0] & 0x0F) in _DATA_OPCODES and self._msgsize + plen > self._max:
                    self._in_fail(RESET)
                    raise EMSGSIZE_error("ws: message over max_size (%d)" % (self._max,))
                if plen:
                    self._in_frame = True
                    self._frame_left = plen
                if res is not None:
                    return res
                continue
            if not rx:
                self._fill(deadline)
                continue
            k = min(self._frame_left, len(rx))
            chunk = bytes(rx[:k])
            del rx[:k]
            self._frame_left -= k
            if not self._frame_left:
                self._in_frame = False
            self._proto.receive_bytes(chunk)
            res = self._process(deadline)
            if res is not None:
                return res

    def _process(self, deadline):
        result = None
        try:
            for frame in self._proto.received_frames():
                op = frame.opcode
                if op is Opcode.PING:
                    self._send_control(self._proto.pong(frame.payload), deadline)
                elif op is Opcode.PONG:
                    pass
                elif op is Opcode.CLOSE:
                    code, reason = frame.payload
                    self._status = (int(code), reason.encode("utf-8"))
                    self._in_fail(DONE)
                    if not self._close_sent:
                        # answer at once, echoing the status
                        c = None if code == CloseReason.NO_STATUS_RCVD else int(code)
                        try:
                            self._send_control(self._proto.close(c), deadline, is_close=True)
                        except Exception:
                            pass
                    raise Done()
                else:
                    payload = frame.payload
                    if isinstance(payload, str):
                        payload = payload.encode("utf-8")
                        self._msgtext = True
                    elif op is Opcode.TEXT:
                        self._msgtext = True
                    self._msgsize += len(payload)
                    if payload:
                        self._parts.append(payload)
                    if frame.message_finished:
                        parts = self._parts
                        data = parts[0] if len(parts) == 1 else b"".join(parts)
                        flags = WS_TEXT if (self._msgtext or op is Opcode.TEXT) else WS_BINARY
                        self._parts = []
                        self._msgsize = 0
                        self._msgtext = False
                        result = (flags, bytes(data))
        except ParseFailed as e:
            self._in_fail(RESET)
            # tell the peer (best effort, never waiting)
            if not self._close_sent and self._outb is None:
                try:
                    self._send_control(self._proto.close(int(e.code), ""), 0, is_close=True)
                except BaseException:
                    pass
            raise EPROTO_error("ws: protocol violation by the peer: %s" % (e,)) from None
        return result


# ------------------------------------------------------------------ handshake

def _fields(h, deadline):
    out = {}
    while True:
        try:
            name, value = http_recvfield(h, deadline)
        except Done:
            return out
        if name in out:
            out[name] = out[name] + ", " + value
        else:
            out[name] = value


def _tokens(value):
    return {t.strip().lower() for t in (value or "").split(",")}


def ws_attach_client(s: BelowStream, resource: str | None, host: str | None,
                     deadline: int | None = -1, flags: int = WS_BINARY, *,
                     max_size: int | None = DEFAULT_MAX_SIZE) -> WSSocket[BelowStream]:
    """Open a WebSocket as the client over bytestream ``s`` (which it now owns): send the
    HTTP upgrade request for ``resource`` on ``host`` and check the answer. With
    ``WS_NOHTTP``, no handshake (``resource``/``host`` unused). On failure the stack is
    closed; a bad answer raises OSError EPROTO."""
    if not isinstance(flags, int) or flags & ~(WS_TEXT | WS_NOHTTP):
        raise ValueError("ws_attach_client: unknown flags %r" % (flags,))
    max_size = check_max_size(max_size)
    check_lower(s, ByteStream, "ws_attach_client")
    if flags & WS_NOHTTP:
        return WSSocket(s, True, flags, max_size)
    if not isinstance(resource, str) or not isinstance(host, str):
        raise TypeError("ws_attach_client: resource and host must be str (or use WS_NOHTTP)")
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    h = http_attach(s)
    try:
        http_sendrequest(h, "GET", resource, deadline)
        http_sendfield(h, "Host", host, deadline)
        http_sendfield(h, "Upgrade", "websocket", deadline)
        http_sendfield(h, "Connection", "Upgrade", deadline)
        http_sendfield(h, "Sec-WebSocket-Key", key, deadline)
        http_sendfield(h, "Sec-WebSocket-Version", "13", deadline)
        http_done(h, deadline)
        status, reason = http_recvstatus(h, deadline)
        fields = _fields(h, deadline)
        lower = http_detach(h, deadline)
    except BaseException:
        h.close()
        raise
    if status != 101:
        close_quietly(lower)
        raise EPROTO_error("ws_attach_client: the server answered %d %s, not 101" % (status, reason))
    if fields.get("upgrade", "").lower() != "websocket" or "upgrade" not in _tokens(fields.get("connection")):
        close_quietly(lower)
        raise EPROTO_error("ws_attach_client: the server did not upgrade to websocket")
    if fields.get("sec-websocket-accept") != _accept_key(key):
        close_quietly(lower)
        raise EPROTO_error("ws_attach_client: wrong Sec-WebSocket-Accept")
    if fields.get("sec-websocket-extensions") or fields.get("sec-websocket-protocol"):
        close_quietly(lower)
        raise EPROTO_error("ws_attach_client: the server chose an extension or subprotocol not offered")
    return WSSocket(lower, True, flags, max_size)


def _refuse(h, status, reason, extra, deadline):
    try:
        http_sendstatus(h, status, reason)
        for n, v in extra:
            http_sendfield(h, n, v)
        http_sendfield(h, "Connection", "close")
        http_sendfield(h, "Content-Length", "0")
        http_done(h, deadline)
    except BaseException:
        pass


def ws_attach_server(s: BelowStream, deadline: int | None = -1, flags: int = WS_BINARY, *,
                     max_size: int | None = DEFAULT_MAX_SIZE,
                     ) -> tuple[WSSocket[BelowStream], str | None, str | None]:
    """Accept a WebSocket as the server over bytestream ``s`` (which it now owns):
    receive the upgrade request, answer 101. Returns ``(ws, resource, host)`` (both
    ``None`` with ``WS_NOHTTP``). Extensions offered are declined. On failure the stack
    is closed; a bad request gets a 400 answer and raises OSError EPROTO."""
    if not isinstance(flags, int) or flags & ~(WS_TEXT | WS_NOHTTP):
        raise ValueError("ws_attach_server: unknown flags %r" % (flags,))
    max_size = check_max_size(max_size)
    check_lower(s, ByteStream, "ws_attach_server")
    if flags & WS_NOHTTP:
        return WSSocket(s, False, flags, max_size), None, None
    h = http_attach(s)
    try:
        method, resource = http_recvrequest(h, deadline)
        fields = _fields(h, deadline)
        problem = None
        key = fields.get("sec-websocket-key", "")
        try:
            ok_key = len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
        except (binascii.Error, UnicodeEncodeError, ValueError):
            ok_key = False
        if method != "GET":
            problem = "method %s is not GET" % method
        elif fields.get("upgrade", "").lower() != "websocket":
            problem = "no Upgrade: websocket"
        elif "upgrade" not in _tokens(fields.get("connection")):
            problem = "no Connection: Upgrade"
        elif not ok_key:
            problem = "bad Sec-WebSocket-Key"
        elif fields.get("sec-websocket-version") != "13":
            _refuse(h, 426, "Upgrade Required", [("Sec-WebSocket-Version", "13")], deadline)
            raise EPROTO_error("ws_attach_server: unsupported Sec-WebSocket-Version %r"
                               % (fields.get("sec-websocket-version"),))
        if problem is not None:
            _refuse(h, 400, "Bad Request", [], deadline)
            raise EPROTO_error("ws_attach_server: not a WebSocket upgrade: " + problem)
        http_sendstatus(h, 101, "Switching Protocols", deadline)
        http_sendfield(h, "Upgrade", "websocket", deadline)
        http_sendfield(h, "Connection", "Upgrade", deadline)
        http_sendfield(h, "Sec-WebSocket-Accept", _accept_key(key), deadline)
        http_done(h, deadline)
        lower = http_detach(h, deadline)
    except BaseException:
        h.close()
        raise
    return WSSocket(lower, False, flags, max_size), resource, fields.get("host")


def _check(s, who):
    if not isinstance(s, WSSocket):
        raise TypeError("%s expects a WebSocket, got %s" % (who, type(s).__name__))


def ws_send(s: WSSocket, data: BytesLike | str, deadline: int | None = -1,
            flags: int | None = None) -> None:
    """Send one message; ``flags`` (WS_TEXT/WS_BINARY) overrides the socket's default."""
    _check(s, "ws_send")
    s.send(data, deadline, flags)


def ws_recv(s: WSSocket, deadline: int | None = -1) -> tuple[int, bytes]:
    """Receive one message: ``(flags, data)`` with flags WS_TEXT or WS_BINARY."""
    _check(s, "ws_recv")
    return s.recv(deadline)


def ws_done(s: WSSocket, status: int | None = 1000, reason: bytes | str = b"",
            deadline: int | None = -1) -> None:
    """Send a close frame (``status`` 0 for none). Later sends raise Done."""
    _check(s, "ws_done")
    s.done(deadline, status, reason)


def ws_status(s: WSSocket) -> tuple[int, bytes] | None:
    """``(status, reason)`` of the peer's close frame once receives raise Done
    (status 1005 if it gave none), else ``None``."""
    _check(s, "ws_status")
    return s._status


def ws_detach(s: WSSocket[BelowStream], status: int | None = 1000, reason: bytes | str = b"",
              deadline: int | None = -1) -> BelowStream:

    """Close the WebSocket: send a close frame (if not yet sent), drop incoming messages
    until the peer's close frame, and return the bytestream beneath with anything
    after that frame still on it. On failure the stack is closed."""
    _check(s, "ws_detach")
    s._detach_closing(lambda: s.done(deadline, status, reason), lambda: s._recv(deadline))
    return s._release_lower(s._rx)
