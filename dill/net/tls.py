"""TLS over any bytestream: the stdlib ``ssl`` module driven through memory BIOs
(``ssl.MemoryBIO`` + ``SSLObject``), so the handshake and every record go through the
socket beneath and block only the calling coroutine. Certificate verification is on by
default. TLS failures raise ``ssl.SSLError``."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from dill import Done
from ._base import ByteStream, DONE, RESET, BUSY
from ._layer import RECV_CHUNK, LayerMixin, BelowStream, check_lower

if TYPE_CHECKING:
    from collections.abc import Sequence

    from _typeshed import StrOrBytesPath

    from ._base import BytesLike

__all__ = ["TLSSocket", "tls_attach_client", "tls_attach_server", "tls_done", "tls_detach"]


class TLSSocket(LayerMixin[BelowStream], ByteStream):
    """A bytestream carrying TLS records over the bytestream beneath."""

    def __init__(self, s: ByteStream, sslobj: ssl.SSLObject, incoming: ssl.MemoryBIO,
                 outgoing: ssl.MemoryBIO) -> None:
        ByteStream.__init__(self)
        self._s = s
        self._ssl = sslobj
        self._bin = incoming
        self._bout = outgoing
        self._pending = b""       # plaintext pushed back by unrecv
        self._lower_eof = False

    def __repr__(self) -> str:
        return "<TLSSocket %s>" % ("closed" if self._s is None else self._ssl.version())

    # information about the session
    @property
    def sslobject(self) -> ssl.SSLObject:
        """The underlying ``ssl.SSLObject`` (peer certificate, cipher, version...)."""
        return self._ssl

    def getpeercert(self, binary_form: bool = False) -> dict[str, Any] | bytes | None:
        """The peer's certificate, as ``ssl.SSLObject.getpeercert`` returns it."""
        return self._ssl.getpeercert(binary_form)

    # ---------------------------------------------------------------- plumbing
    def _flush(self, deadline):
        """Send whatever TLS produced to the socket beneath."""
        data = self._bout.read()
        if data:
            self._s.bsend(data, deadline)

    def _feed(self, deadline):
        """Read more ciphertext from the socket beneath into the incoming BIO."""
        if self._lower_eof:
            # nothing more will ever come: let ssl report the end
            self._bin.write_eof()
            return
        try:
            data = self._s.brecv_some(RECV_CHUNK, deadline)
        except Done:
            self._lower_eof = True
            self._bin.write_eof()
            return
        self._bin.write(data)

    def _handshake(self, deadline):
        sslobj = self._ssl
        while True:
            try:
                sslobj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush(deadline)
                self._feed(deadline)
            except ssl.SSLError:
                # try to tell the peer (the alert is in the outgoing BIO)
                try:
                    self._flush(0)
                except BaseException:
                    pass
                raise
        self._flush(deadline)

    # ---------------------------------------------------------------- send
    def bsendl(self, buffers: Sequence[BytesLike], deadline: int | None = -1) -> None:
        self._out_acquire()
        try:
            bufs = [b for b in buffers]
            if len(bufs) > 1:
                bufs = [b"".join(bufs)]
            try:
                for b in bufs:
                    if len(b):
                        self._ssl.write(b)
                self._flush(deadline)
            except Done:
                self._out_fail(DONE)
                raise
            except ssl.SSLError:
                self._out_fail(RESET)
                raise
            except BaseException:
                # records were produced and (partly) lost: the TLS stream is broken
                self._out_fail(RESET)
                raise
        finally:
            self._out_release()

    def done(self, deadline: int | None = -1) -> None:
        """Send close_notify; the peer's receives then raise Done."""
        self._out_acquire()
        try:
            try:
                self._ssl.unwrap()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except ssl.SSLError:
                self._out_fail(RESET)
                raise
            try:
                self._flush(deadline)
            except BaseException:
                self._out_fail(RESET)
                raise
            self._out_fail(DONE)
        finally:
            self._out_release()

    # ---------------------------------------------------------------- receive
    def brecv_some(self, n: int, deadline: int | None = -1) -> bytes:
        self._in_acquire()
        try:
            p = self._pending
            if p:
                if len(p) <= n:
                    self._pending = b""
                    return p
                self._pending = p[n:]
                return p[:n]
            return self._read(n, deadline)
        finally:
            self._in_release()

    def _read(self, n, deadline):
        sslobj = self._ssl
        while True:
            try:
                data = sslobj.read(n)
            except ssl.SSLWantReadError:
                self._flush_if_idle()
                try:
                    self._feed(deadline)
                except ConnectionResetError:
                    self._in_fail(RESET)
                    raise
                continue
            except ssl.SSLZeroReturnError:
                self._in_fail(DONE)
                raise Done() from None
            except ssl.SSLEOFError:
                # the stream beneath ended without close_notify (a "ragged EOF", which
                # the stdlib also reports as a plain end of stream)
                self._in_fail(DONE)
                raise Done() from None
            except ssl.SSLError:
                self._in_fail(RESET)
                raise
            if data:
                return data
            # b"" without an exception: end of stream
            self._in_fail(DONE)
            raise Done()

    def _flush_if_idle(self):
        """While receiving, send what TLS wants sent (key updates...) unless a sender
        is busy: its next flush will carry it."""
        if self._outb is None and self._bout.pending:
            self._outb = BUSY
            try:
                self._flush(0)
            except BaseException:
                self._outb = RESET
                return
            self._outb = None

    def unrecv(self, data: BytesLike) -> None:
        if data:
            self._pending = bytes(data) + self._pending


def _attach(s, ctx, server_side, server_hostname, deadline, who):
    check_lower(s, ByteStream, who)
    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    try:
        sslobj = ctx.wrap_bio(incoming, outgoing, server_side=server_side,
                              server_hostname=server_hostname)
    except BaseException:
        s.close()
        raise
    t = TLSSocket(s, sslobj, incoming, outgoing)
    try:
        t._handshake(deadline)
    except BaseException:
        t.close()
        raise
    return t


def tls_attach_client(s: BelowStream, deadline: int | None = -1, *, server_hostname: str | None = None,
                      context: ssl.SSLContext | None = None) -> TLSSocket[BelowStream]:
    """Start TLS as the client over bytestream ``s`` (which it now owns); return the TLS
    bytestream once the handshake is done. The server certificate is verified against
    the system CAs (or ``context``) and ``server_hostname``. On failure the stack is
    closed and ``ssl.SSLError`` (or TimedOut/Canceled/...) raised."""
    if context is None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if server_hostname is None:
            raise ValueError(
                "tls_attach_client: server_hostname is required to verify the server "
                "(or pass a context=)")
    elif not isinstance(context, ssl.SSLContext):
        raise TypeError("tls_attach_client: context must be an ssl.SSLContext")
    return _attach(s, context, False, server_hostname, deadline, "tls_attach_client")


def tls_attach_server(s: BelowStream, cert: StrOrBytesPath | None = None,
                      key: StrOrBytesPath | None = None, deadline: int | None = -1, *,
                      context: ssl.SSLContext | None = None) -> TLSSocket[BelowStream]:
    """Start TLS as the server over bytestream ``s`` (which it now owns). ``cert`` and
    ``key`` are paths to PEM files (ignored when ``context`` is given)."""
    if context is None:
        if cert is None:
            raise ValueError("tls_attach_server: cert (a PEM file) is required without a context")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    elif not isinstance(context, ssl.SSLContext):
        raise TypeError("tls_attach_server: context must be an ssl.SSLContext")
    return _attach(s, context, True, None, deadline, "tls_attach_server")


def _check(s, who):
    if not isinstance(s, TLSSocket):
        raise TypeError("%s expects a TLS socket, got %s" % (who, type(s).__name__))


def tls_done(s: TLSSocket, deadline: int | None = -1) -> None:
    """Send close_notify (half-close). A second call raises Done."""
    _check(s, "tls_done")
    s.done(deadline)


def tls_detach(s: TLSSocket[BelowStream], deadline: int | None = -1) -> BelowStream:

    """Finish TLS: send close_notify (if not yet sent), drop incoming data until the
    peer's close_notify, and return the bytestream beneath, which can carry plaintext
    again. On failure the whole stack is closed."""
    _check(s, "tls_detach")
    s._detach_closing(lambda: s.done(deadline), lambda: s._read(RECV_CHUNK, deadline))
    return s._release_lower(s._bin.read())
