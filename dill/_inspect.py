"""Out-of-process inspection: the listener that ``python -m dill.tree PID`` talks to.

A process opts in with ``DILL_INSPECT=1`` (read at ``import dill``),
``enable_inspect()`` or ``python -m dill.patch`` (unless ``--no-inspect``).
It then runs one daemon OS thread, dill's own (``dill.patch`` does not count
it as another program thread), that listens on a Unix socket: on Linux in the
abstract namespace (``\\0dill-inspect-PID``: nothing on disk to clean up), else
at ``$XDG_RUNTIME_DIR`` or ``/tmp``/``dill-inspect-PID.sock`` with mode 0600.
For each connection it snapshots ``dill.trees()`` and writes them as JSON,
then closes the connection.  On Linux only clients of the same user (or
root) are answered.

No signal handler is installed, and the program's threads are never stopped:
the snapshot only reads (see ``dill._tree``).  The listener uses the
OS-level primitives captured here at import, before ``dill.patch`` can
replace them.  A forked child closes its copy of the parent's socket and
starts its own listener, so it answers for itself, never for the parent.
"""

from __future__ import annotations

import _socket
import _thread
import atexit
import json
import os
import struct
import sys
from time import sleep as _sleep  # the real one: imported before dill.patch
from typing import Any

from . import _hub
from ._threads import start_own_thread
from ._tree import trees

__all__ = ["enable_inspect", "inspect_address", "snapshot_json"]

_allocate_lock = _thread.allocate_lock
_ABSTRACT = sys.platform.startswith("linux")
# A client that connects and never reads must not keep the listener forever.
_SEND_TIMEOUT = 5.0

_lock = _allocate_lock()
_enabled = False
_listener: Any = None         # the listening socket (a _socket.socket) of this process


def inspect_address(pid: int) -> str:
    """The Unix socket address on which process ``pid`` answers, when it opted in."""
    if _ABSTRACT:
        return f"\0dill-inspect-{pid}"
    import tempfile  # not at import: it is slow to load, and Linux does not need it

    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(base, f"dill-inspect-{pid}.sock")


def snapshot_json() -> bytes:
    """Every hub's tree, as the listener sends it (UTF-8 JSON).

    ``{"pid": ..., "argv": [...], "hubs": [{"thread": ident, "now": ms,
    "tree": TaskInfo.as_dict()}, ...]}``; ``now`` is the hub's own clock
    (virtual inside ``dill.testing.virtual_clock``), for the durations.
    """
    hubs = []
    for ident, info in trees().items():
        hub = _hub.all_hubs.get(ident)
        vclock = getattr(hub, "vclock", None)
        at = vclock.ms if vclock is not None else _hub.now()
        hubs.append({"thread": ident, "now": at, "tree": info.as_dict()})
    doc = {"pid": os.getpid(), "argv": list(sys.argv), "hubs": hubs}
    return json.dumps(doc).encode()


def _same_user(conn: Any) -> bool:
    """Whether the peer runs as this process's user or as root (Linux; else the
    socket file's 0600 mode does the job)."""
    opt = getattr(_socket, "SO_PEERCRED", None)
    if opt is None:
        return True
    creds = conn.getsockopt(_socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (0, os.getuid())


def _answer(conn: Any) -> None:
    try:
        conn.settimeout(_SEND_TIMEOUT)
        if _same_user(conn):
            conn.sendall(snapshot_json())
    except Exception as e:  # a client that went away, a snapshot that failed
        try:
            conn.sendall(json.dumps({"error": repr(e)}).encode())
        except Exception:
            pass
    finally:
        conn.close()


def _serve(sock: Any) -> None:
    """The listener thread: answer one connection at a time, for the process's life."""
    while True:
        try:
            fd, _addr = sock._accept()
        except OSError:  # EMFILE and the like: back off, keep listening
            _sleep(0.1)
            continue
        _answer(_socket.socket(fileno=fd))


def _bind(pid: int) -> Any:
    addr = inspect_address(pid)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        if not _ABSTRACT:
            try:
                os.unlink(addr)  # a stale file of a dead process with our pid
            except FileNotFoundError:
                pass
            old = os.umask(0o177)  # the socket file is born 0600
            try:
                sock.bind(addr)
            finally:
                os.umask(old)
        else:
            sock.bind(addr)
        sock.listen(8)
    except BaseException:
        sock.close()
        raise
    return sock


def _start_listener() -> None:
    """Bind this process's address and start the listener thread (under ``_lock``)."""
    global _listener
    pid = os.getpid()
    try:
        sock = _bind(pid)
    except OSError as e:
        print(f"dill: inspection not available: cannot listen on "
              f"{inspect_address(pid)!r}: {e}", file=sys.stderr)
        return
    sock.settimeout(None)  # blocking accept, whatever the default timeout
    _listener = sock
    start_own_thread(_serve, (sock,))


def _remove_socket_file() -> None:
    """At exit: the socket file of this process's listener (not a parent's)."""
    if not _ABSTRACT and _listener is not None:
        try:
            os.unlink(inspect_address(os.getpid()))
        except OSError:
            pass


def _record(hub: Any) -> None:
    """Turn spawn-site recording on for ``hub`` (inspection shows ``spawned at``)."""
    hub.recording += 1


def enable_inspect() -> None:
    """Let ``python -m dill.tree PID`` read this process's coroutine trees.

    Starts the listener thread (once; later calls do nothing) and turns on
    spawn-site recording in every hub, present and future.  It installs no
    signal handler and costs nothing until a client connects.
    """
    global _enabled
    with _lock:
        if _enabled:
            return
        _enabled = True
        for hub in list(_hub.all_hubs.values()):
            _record(hub)
        _hub.hub_created.append(_record)
        atexit.register(_remove_socket_file)
        _start_listener()


def _after_fork_in_child() -> None:
    """The child has no listener thread: drop the parent's socket, listen as itself."""
    global _lock, _listener
    _lock = _allocate_lock()  # it may have been held by a thread that is gone
    sock, _listener = _listener, None
    if sock is not None:
        sock.close()  # only the child's copy: the parent keeps listening
    if _enabled:
        _start_listener()


def _from_env() -> None:
    value = os.environ.get("DILL_INSPECT", "").strip().lower()
    if value and value not in ("0", "off", "false", "no"):
        enable_inspect()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_from_env()
