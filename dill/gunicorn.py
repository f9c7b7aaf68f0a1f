"""A gunicorn worker on dill: ``gunicorn -k dill.gunicorn.Worker app:app``.

Each worker process patches the stdlib (``dill.patch()``) before it loads the
application, then serves every connection in its own coroutine, parsing HTTP
with gunicorn's own parser (``AsyncWorker.handle``, as the gevent worker does).
The connections of a worker live in one bundle, so shutdown is the
structured-concurrency guide's:

* SIGTERM (graceful): stop accepting, ``bundle_wait(conns, now() +
  graceful_timeout - margin)``, then ``hclose(conns)`` cancels whoever is left
  (their connections are closed without a response).  The master SIGKILLs a
  worker ``graceful_timeout`` after it *sent* SIGTERM, so the worker ends its
  grace a margin earlier (a tenth of it, at most 0.5 s) to exit by itself;
* SIGQUIT / SIGINT (quick): stop accepting and ``hclose(conns)`` at once.

Honoured settings: ``--workers``, ``--worker-connections`` (a cap on the
connections a worker serves at once: the acceptor waits for a free slot),
``--keep-alive`` (seconds an idle keep-alive connection may wait for its next
request), ``--timeout`` (a heartbeat coroutine touches the worker's file on a
timer, so a worker whose hub is stuck in a CPU loop is killed by the master),
``--graceful-timeout``, ``--max-requests`` (with jitter), ``--reuse-port`` (the
master opens one listening socket per worker; nothing to do here).

When accept fails because the process or the system is out of file
descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM), the acceptor
backs off (10 ms, doubling up to 1 s) and retries; the connections already
open keep being served and new ones are accepted once fds are free again.

A response's head (status line and headers) is held back until the first bytes
of its body, and both go out in one ``send``: one TCP segment for a small
response instead of two (``_Connection``; gunicorn's ``Response`` asks for the
hold just before it writes the head).  Anything else written to the connection,
and the end of the request, sends a head still held first.

``--preload`` imports the app in the master, before any worker patches: names
the app binds from the stdlib at import time (``from time import sleep``,
locks made at import) keep the blocking originals.  Either do not preload, or
call ``dill.patch()`` first thing in the app module (then the master runs
patched too; its children reset dill's state at fork, see ``dill._fork``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from contextvars import ContextVar
from typing import Any

from gunicorn.http import wsgi
from gunicorn.workers.base_async import AsyncWorker

import dill
from dill import Canceled, TimedOut, fdin, hclose, msleep, now
from dill.green import socket as green_socket, threading as green_threading

__all__ = ["Worker"]

# accept() errors that mean "no resources right now", not "broken listener".
_BACK_OFF_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_BACK_OFF_FIRST_MS = 10
_BACK_OFF_MAX_MS = 1000

# How much sooner than the master's SIGKILL the grace period ends: a tenth of it,
# at most this.  Time to cancel the connections left, log and exit.
_GRACE_MARGIN_MAX_MS = 500

# The connection a coroutine serves (timeout_ctx() takes no arguments):
# [socket, requests served on it so far].
_conn: ContextVar[list] = ContextVar("dill_gunicorn_conn")


class Worker(AsyncWorker):
    """gunicorn's async worker, one dill coroutine per connection."""

    _graceful = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (listener, client, addr) accepted just as the acceptors were closed.
        self._accepted_late: list[tuple] = []

    def init_process(self) -> None:
        """Patch the stdlib, re-wrap the listeners as green sockets, then boot."""
        dill.patch()
        # The master made the listeners with the real socket class.  (dill's own
        # modules keep the real stdlib after patch(): name the green one.)
        made_by_master: list[Any] = self.sockets  # type: ignore[has-type]  # (untyped base)
        self.sockets = [green_socket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach())
                        for s in made_by_master]
        for listener in self.sockets:
            listener.setblocking(True)  # blocks the acceptor coroutine only
        wsgi.Response = _Response  # this process's responses hold their head (module doc)
        super().init_process()

    # ------------------------------------------------------------------ run

    def run(self) -> None:
        """Serve until a signal says stop, then shut down the guide's way."""
        conns = dill.bundle()
        acceptors = dill.bundle()
        heartbeat = dill.go(self._heartbeat)
        slots = green_threading.Semaphore(self.worker_connections)  # blocks a coroutine only
        try:
            for listener in self.sockets:
                acceptors.go(self._accept, listener, conns, slots)
            self._wait_for_stop()
            stopped_at = now()
            hclose(acceptors)                                   # 1. stop accepting
            for listener, client, addr in self._accepted_late:
                conns.go(self._serve, listener, client, addr, slots)
            for listener in self.sockets:  # after: handle() asks them for their name
                listener.close()
            if self._graceful:
                grace = int(self.cfg.graceful_timeout * 1000)
                grace -= min(_GRACE_MARGIN_MAX_MS, grace // 10)  # beat the master's SIGKILL
                try:                                            # 2. grace period
                    dill.bundle_wait(conns, stopped_at + grace)
                except TimedOut:
                    self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
                except Exception:  # pragma: no cover - connections catch their own errors
                    self.log.exception("connection coroutine failed")
        finally:
            hclose(acceptors)
            hclose(conns)                                       # 3. cancel the rest
            hclose(heartbeat)
        if not self._graceful:
            self.cfg.worker_int(self)
            sys.exit(0)

    def _wait_for_stop(self) -> None:
        """Block until ``alive`` goes false.

        Signal handlers only flip flags; the signal also writes to gunicorn's
        wake-up pipe (``signal.set_wakeup_fd``), so waiting on it notices
        SIGTERM at once.  ``--max-requests`` flips ``alive`` from a request,
        which writes to the pipe too (``handle_request``); a changed parent is
        caught by the periodic wake-up.
        """
        wake = self.PIPE[0]
        while self.alive:
            try:
                fdin(wake, now() + 1000)
            except TimedOut:
                continue
            with contextlib.suppress(BlockingIOError):
                while os.read(wake, 4096):
                    pass

    def _heartbeat(self) -> None:
        """Tell the master we are alive, on a timer, until closed."""
        interval = max(50, min(1000, int(self.timeout * 500)))
        while True:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                self.alive = False
            msleep(now() + interval)

    def _accept(self, listener: Any, conns: dill.Bundle, slots: Any) -> None:
        """Accept into ``conns``; a listener that breaks stops the worker (the master
        starts another)."""
        try:
            self._accept_loop(listener, conns, slots)
        except Exception:
            self.log.exception("accept failed on %s; stopping the worker", listener)
            self.alive = False

    def _accept_loop(self, listener: Any, conns: dill.Bundle, slots: Any) -> None:
        """Accept connections into ``conns``, at most ``worker_connections`` at once."""
        backoff = 0
        while True:
            slots.acquire()
            try:
                client, addr = _accept(listener)
            except OSError as e:
                slots.release()
                if e.errno not in _BACK_OFF_ERRNOS:
                    raise
                if not backoff:
                    self.log.warning("accept: %s; backing off", os.strerror(e.errno))
                backoff = min(_BACK_OFF_MAX_MS, backoff * 2 or _BACK_OFF_FIRST_MS)
                msleep(now() + backoff)
                continue
            except BaseException:
                slots.release()
                raise
            if backoff:
                self.log.info("accept: serving again after running out of resources")
                backoff = 0
            try:
                conns.go(self._serve, listener, client, addr, slots)
            except Canceled:
                # Told to stop after the connection was accepted (go() refuses in a
                # canceled coroutine): hand it to run(), which serves it.  Dropped,
                # its unread request would make the close a reset.
                self._accepted_late.append((listener, client, addr))
                raise

    def _serve(self, listener: Any, client: Any, addr: Any, slots: Any) -> None:
        """One connection's coroutine: gunicorn's request loop on it."""
        _conn.set([client, 0])
        try:
            self.handle(listener, client, addr)
        finally:
            slots.release()

    # ---------------------------------------------------- AsyncWorker hooks

    def timeout_ctx(self) -> "_KeepaliveWait":
        """Bound the wait for the next request on a keep-alive connection."""
        client, served = _conn.get()
        if served and not self.alive:  # shutting down: no further request on it
            raise StopIteration()      # handle() closes the connection quietly
        return _KeepaliveWait(client, self.cfg.keepalive)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        """Serve one request; wake the main loop if it was the worker's last."""
        _conn.get()[1] += 1
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            sock.flush()  # a head-only response (HEAD, 204, no body) is still held
            if not self.alive:  # --max-requests reached: shut down now, not at the next tick
                with contextlib.suppress(OSError):
                    os.write(self.PIPE[1], b".")

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """A canceled connection (past the grace period) is closed, not answered."""
        if isinstance(exc, Canceled):
            self.log.debug("connection from %s canceled at shutdown", addr)
            return
        super().handle_error(req, client, addr, exc)

    # ------------------------------------------------------------- signals

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGQUIT/SIGINT: stop now.  ``run`` does the closing, outside the handler."""
        self._graceful = False
        self.alive = False


class _KeepaliveWait:
    """``with``: the connection's socket times out after ``seconds``; a timeout
    becomes the ``StopIteration`` that makes ``handle()`` close it quietly."""

    __slots__ = ("client", "seconds")

    def __init__(self, client: Any, seconds: float) -> None:
        self.client = client
        self.seconds = seconds

    def __enter__(self) -> None:
        self.client.settimeout(self.seconds)

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.client.settimeout(None)
        if kind is not None and issubclass(kind, socket.timeout):
            raise StopIteration() from None


_HOLD = object()       # _Connection._held: hold the next sendall (the head)
_MAX_JOINED = 1 << 16  # bigger bodies are sent after the head, not copied behind it


class _Connection(green_socket.socket):
    """A served connection's socket: ``hold_head()`` makes the next ``sendall`` (the
    response's head) wait for the following one (the body's first bytes), and both
    go out in one ``send``.  Every other way of writing to or ending the connection
    sends a held head first, so bytes keep their order."""

    __slots__ = ("_held",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: Any = None  # None, _HOLD, or the head's bytes

    def hold_head(self) -> None:
        """Hold the next ``sendall`` until the one after it, or ``flush()``."""
        if self._held is None:
            self._held = _HOLD

    def flush(self) -> None:
        """Send the held head, if any; hold nothing more."""
        head, self._held = self._held, None
        if head is not None and head is not _HOLD:
            green_socket.socket.sendall(self, head)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """``socket.sendall``, holding or joining the head (see the class)."""
        head = self._held
        if head is not None and data.__class__ is bytes and not flags:
            if head is _HOLD:
                self._held = data
                return None
            if len(data) <= _MAX_JOINED:
                self._held = None
                return green_socket.socket.sendall(self, head + data)
        self.flush()
        return green_socket.socket.sendall(self, data, flags)

    def _flush_quietly(self) -> None:
        """Before ending the connection: a head that cannot go out is dropped."""
        try:
            self.flush()
        except (OSError, Canceled):
            pass


def _flushing_first(name: str, quietly: bool = False) -> Any:
    """The green socket's method ``name``, sending a held head first."""
    method = getattr(green_socket.socket, name)

    def flushed(self: _Connection, *args: Any, **kwargs: Any) -> Any:
        if self._held is not None:
            if quietly:
                self._flush_quietly()
            else:
                self.flush()
        return method(self, *args, **kwargs)

    flushed.__name__ = flushed.__qualname__ = name
    flushed.__doc__ = method.__doc__
    return flushed


for _name in ("send", "sendto", "sendmsg", "sendfile"):
    if hasattr(green_socket.socket, _name):
        setattr(_Connection, _name, _flushing_first(_name))
for _name in ("shutdown", "close", "detach"):
    setattr(_Connection, _name, _flushing_first(_name, quietly=True))
del _name


def _accept(listener: Any) -> tuple:
    """``listener.accept()``, the connection made a ``_Connection``.  (The stdlib's
    accept also applies a default timeout when the listener has one: ours has
    none, it blocks.)"""
    fd, addr = listener._accept()
    return _Connection(listener.family, listener.type, listener.proto, fileno=fd), addr


class _Response(wsgi.Response):
    """gunicorn's response, asking its connection to hold the head it writes."""

    def send_headers(self) -> None:
        """Write the head (held by a ``_Connection`` until the body's first bytes)."""
        if not self.headers_sent and isinstance(self.sock, _Connection):
            self.sock.hold_head()
        super().send_headers()
