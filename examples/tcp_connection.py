"""Guide: an asynchronous object that owns coroutines, as a ``Handle`` subclass.

    void tcp_connection_open(struct tcp_connection *self) {
        self->sender = go(tcp_sender(self));
        self->receiver = go(tcp_receiver(self));
    }
    void tcp_connection_close(struct tcp_connection *self) {
        hclose(self->sender);
        hclose(self->receiver);
    }

``Connection`` wraps one end of a socket pair: a sender coroutine writes what
is put in its outbox, a receiver coroutine reads lines into its inbox.  Closing
the connection closes both coroutines, so nothing it started outlives it.
"""

from __future__ import annotations

import socket

from dill import (
    Canceled, Handle, chmake, chrecv, chsend, coroutine, fdclean, fdin, fdout, go, hclose,
    msleep, now,
)
from timeline import log, reset


class Connection(Handle):
    """A line-based connection over a non-blocking socket, run by two coroutines."""

    def __init__(self, name: str, sock: socket.socket) -> None:
        self.name = name
        self.sock = sock
        sock.setblocking(False)
        self.outbox, self._out_rx = chmake(capacity=16)
        self._in_tx, self.inbox = chmake(capacity=16)
        self.sender = go(self._send_loop())
        self.receiver = go(self._recv_loop())

    @coroutine
    def _send_loop(self) -> None:
        try:
            while True:
                data = chrecv(self._out_rx) + b"\n"
                while data:
                    fdout(self.sock)
                    data = data[self.sock.send(data):]
        except Canceled:
            log(self.name, "sender canceled")
            raise

    @coroutine
    def _recv_loop(self) -> None:
        buf = b""
        try:
            while True:
                fdin(self.sock)
                chunk = self.sock.recv(4096)
                if not chunk:
                    log(self.name, "receiver: the peer closed, exits")
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    chsend(self._in_tx, line)
        except Canceled:
            log(self.name, "receiver canceled")
            raise

    def on_close(self) -> None:
        hclose(self.sender)
        hclose(self.receiver)
        for ch in (self.outbox, self._out_rx, self._in_tx, self.inbox):
            hclose(ch)
        fdclean(self.sock)
        self.sock.close()
        log(self.name, "closed: no coroutine of it is left")


def main() -> None:
    a, b = socket.socketpair()
    with Connection("left", a) as left, Connection("right", b) as right:
        log("main", "opened two connections (4 coroutines)")
        chsend(left.outbox, b"hello")
        log("main", f"right received {chrecv(right.inbox)!r}")
        chsend(right.outbox, b"hi there")
        log("main", f"left received {chrecv(left.inbox)!r}")
        msleep(now() + 20)
        log("main", "leaving the with block closes both")


if __name__ == "__main__":
    reset("an asynchronous object that owns coroutines")
    main()
