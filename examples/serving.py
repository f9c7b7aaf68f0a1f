"""The server examples' shared skeleton: accept, then shut down the guide's way.

    1. stop accepting (hclose the acceptor),
    2. broadcast "shut down" (chdone: every connection's chrecv(stop) raises Done),
    3. give the connections a grace period (bundle_wait with a deadline),
    4. cancel whoever is left (hclose the bundle).

The accept loops survive fd exhaustion: ``accept`` backs off and retries on
EMFILE/ENFILE, so the connections already open keep being served and new ones
are taken once fds are free again (instead of the acceptor dying and every
later connection being refused).
"""

from __future__ import annotations

import argparse
import errno
import os
from typing import Any, Callable

import dill
from dill import TimedOut, hclose, now
from dill.net import ipaddr_local, tcp_accept, tcp_listen


# accept() errors that mean "out of fds or kernel memory right now", not "broken".
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def accept(listener: Any, log: Callable[..., None]) -> tuple:
    """``tcp_accept(listener, -1)`` that waits out fd exhaustion.

    On EMFILE/ENFILE it logs once, sleeps (10 ms, doubling up to 1 s) and
    tries again: the pending connection stays in the kernel's backlog.
    """
    pause = 0
    while True:
        try:
            return tcp_accept(listener, -1)
        except OSError as e:
            if e.errno not in _EXHAUSTED:
                raise
            if not pause:
                log(f"accept: {os.strerror(e.errno)}; backing off until fds are free")
            pause = min(1000, pause * 2 or 10)
            dill.msleep(now() + pause)


def server_args(doc: str, seconds: float = 2.0) -> argparse.ArgumentParser:
    """The options every server example takes."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=seconds, help="serve this long, then stop")
    ap.add_argument("--grace", type=float, default=1.0, help="grace period on shutdown (s)")
    ap.add_argument("--no-demo", action="store_true", help="do not start demo clients")
    return ap


class Server:
    """A listener on 127.0.0.1, a bundle of connections and their stop channel.

    ``start(conns, sock, stop)`` launches one connection's coroutine in the
    bundle ``conns``; it should return once ``chrecv(stop)`` raises ``Done``.
    """

    def __init__(self, port: int, start: Callable[[dill.Bundle, Any, dill.ChannelEnd], None],
                 log: Callable[..., None]) -> None:
        self.log = log
        self.listener = tcp_listen(ipaddr_local("127.0.0.1", port))
        self.port = self.listener.addr.port
        self._stop_tx, self.stop = dill.chmake()
        self.conns = dill.bundle()
        self._acceptor = dill.go(self._accept, start)

    def _accept(self, start: Callable) -> None:
        while True:
            s, _ = accept(self.listener, self.log)
            start(self.conns, s, self.stop)

    def run(self, seconds: float, grace: float) -> None:
        """Serve for ``seconds``, then shut down with a ``grace`` period (s)."""
        dill.msleep(now() + int(seconds * 1000))
        self.log("shutting down: no new connections, telling everyone")
        hclose(self._acceptor)                                   # 1.
        dill.chdone(self._stop_tx)                               # 2.
        try:
            dill.bundle_wait(self.conns, now() + int(grace * 1000))  # 3.
            self.log("all connections finished within the grace period")
        except TimedOut:
            self.log("grace period over: canceling the rest")
        hclose(self.conns)                                       # 4.
        self.listener.close()
