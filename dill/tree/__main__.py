"""``python -m dill.tree PID [--json] [--timeout S]``: the coroutine trees of a running process.

The process must have opted in (``DILL_INSPECT=1``, ``dill.enable_inspect()``
or ``python -m dill.patch``); see ``dill._inspect``.  It is not stopped or
changed: its listener thread snapshots the trees and sends them.  Prints one
indented tree per hub (thread); ``--json`` prints the raw snapshot instead
(each ``tree`` loads with ``dill.TaskInfo.from_dict``).  Exit status 1, with
a message, when the process does not exist, has not opted in or does not
answer within the timeout (default 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

from dill import TaskInfo
from dill._inspect import inspect_address


class InspectError(Exception):
    """The process could not be inspected (the message says why and what to do)."""


def fetch(pid: int, timeout: float = 5.0) -> dict:
    """The snapshot process ``pid`` sends (see ``dill._inspect.snapshot_json``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise InspectError(f"no process with pid {pid}") from None
    except PermissionError:
        pass  # it exists; the listener only answers its own user anyway
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(inspect_address(pid))
        data = bytearray()
        while chunk := s.recv(1 << 16):
            data += chunk
    except (ConnectionRefusedError, FileNotFoundError):
        raise InspectError(
            f"process {pid} has not enabled dill inspection: start it with DILL_INSPECT=1 "
            "in its environment, call dill.enable_inspect() in it, or run it with "
            "python -m dill.patch") from None
    except socket.timeout:
        raise InspectError(f"process {pid} did not answer within {timeout:g} s") from None
    finally:
        s.close()
    if not data:
        raise InspectError(f"process {pid} refused to answer (another user's process?)")
    doc = json.loads(data)
    if "error" in doc:
        raise InspectError(f"process {pid} failed to take a snapshot: {doc['error']}")
    return doc


def format_snapshot(doc: dict) -> str:
    """The text dump: a header line, then one indented tree per hub."""
    roots = [(TaskInfo.from_dict(h["tree"]), h["now"]) for h in doc["hubs"]]
    ntasks = sum(1 for root, _ in roots for t in root.walk() if t.kind != "bundle")
    header = f"pid {doc['pid']} ({' '.join(doc['argv'])}): "
    header += f"{len(roots)} hub(s), {ntasks} task(s)" if roots else "no hub (dill not used yet)"
    return "\n\n".join([header] + [root.format(at=at) for root, at in roots])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m dill.tree",
                                description="Print the coroutine trees of a running process.")
    p.add_argument("pid", type=int)
    p.add_argument("--json", action="store_true", help="print the raw JSON snapshot")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="give up after S seconds (default 5)")
    args = p.parse_args(argv)
    try:
        doc = fetch(args.pid, args.timeout)
    except InspectError as e:
        print(f"dill.tree: {e}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(doc, indent=1) if args.json else format_snapshot(doc), flush=True)
    except BrokenPipeError:  # `| head`: the reader has seen enough
        sys.stdout = None  # type: ignore[assignment]  # no second error at exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
