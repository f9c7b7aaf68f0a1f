"""The live coroutine tree: who started whom, and what each task waits for.

``tree()`` snapshots the calling thread's hub, ``trees()`` every hub of the
process (from another thread it is best effort: it only reads, never blocks
or changes a hub).  Parent/child is "who started it": a coroutine's parent is
the task that called ``go``, or the bundle it was launched into; a bundle's
parent is the task that created it.  ``where`` is computed here, from the
greenlet's frame, never on the blocking path.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, TextIO

from ._hub import Hub, Task, all_hubs, get_hub, now, task_kind_and_name

__all__ = ["TaskInfo", "tree", "trees", "print_tree", "task_info"]

_DILL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_REPR_MAX = 80


@dataclass
class TaskInfo:
    """A snapshot of one task (or bundle) of the tree (SPEC-TOOLS section 2)."""

    id: int
    kind: str                      # "root", "coroutine", "bundle", "thread"
    name: str
    state: str                     # "running", "ready", "blocked", "finished"
    canceled: bool = False
    op: str | None = None          # the blocking call, while blocked
    obj: str | None = None         # repr of what it waits on
    deadline: int | None = None    # absolute ms on now(), None for never
    since: int | None = None       # now() when the wait began
    where: str | None = None       # innermost frame outside dill: file:line in function
    spawned_at: str | None = None  # file:line of the go/bundle_go/Thread.start call
    started: int | None = None     # now() at launch (None when not recorded)
    children: list[TaskInfo] = field(default_factory=list)

    def walk(self) -> Iterator[TaskInfo]:
        """This node and every node below it, depth first."""
        yield self
        for c in self.children:
            yield from c.walk()

    def as_dict(self) -> dict:
        """JSON-ready data (children included)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "children"}
        d["children"] = [c.as_dict() for c in self.children]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TaskInfo:
        """The inverse of ``as_dict``."""
        d = dict(d)
        kids = [cls.from_dict(c) for c in d.pop("children", ())]
        return cls(children=kids, **d)

    def format(self, at: int | None = None) -> str:
        """An indented text tree, one task a line (``at``: the now() to measure from)."""
        t = now() if at is None else at
        lines: list[str] = []
        self._format(lines, "", t)
        return "\n".join(lines)

    def _format(self, lines: list[str], indent: str, t: int) -> None:
        label = self.name if self.name.startswith(self.kind) else f"{self.kind} {self.name}"
        parts = [f"{indent}{label} [{self.state}{', canceled' if self.canceled else ''}]"]
        if self.state == "blocked" and self.op:
            wait = f"{self.op}({self.obj})" if self.obj is not None else self.op
            if self.since is not None:
                wait += f" for {max(0, t - self.since)} ms"
            if self.deadline is not None:
                wait += f", deadline in {self.deadline - t} ms"
            parts.append(wait)
        if self.where:
            parts.append(f"at {self.where}")
        if self.spawned_at:
            parts.append(f"spawned at {self.spawned_at}")
        lines.append("  ".join(parts))
        for c in self.children:
            c._format(lines, indent + "  ", t)


# ------------------------------------------------------------- snapshots


def _short_repr(obj: Any) -> str | None:
    if obj is None:
        return None
    try:
        r = repr(obj)
    except Exception as e:  # a broken __repr__ must not break a dump
        r = f"<{type(obj).__name__} (repr failed: {type(e).__name__})>"
    return r if len(r) <= _REPR_MAX else r[:_REPR_MAX - 3] + "..."


def _frame_where(f: Any) -> str | None:
    """``file:line in function`` of the innermost frame outside dill."""
    while f is not None and f.f_code.co_filename.startswith(_DILL_DIR):
        f = f.f_back
    if f is None:
        return None
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"


def _task_frame(hub: Hub, task: Task) -> Any:
    if task is hub.current:  # running: the thread's current frame
        if hub.thread_id == threading.get_ident():
            return sys._getframe()
        return sys._current_frames().get(hub.thread_id)
    g = task.greenlet
    return getattr(g, "gr_frame", None) if g is not None else None


def _site(spawned_at: Any) -> str | None:
    if spawned_at is None:
        return None
    code, line = spawned_at
    return f"{code.co_filename}:{line}"


def task_info(hub: Hub, task: Task) -> TaskInfo:
    """A snapshot of one task, without children."""
    kind, name = task_kind_and_name(task)
    if task.finished:
        state = "finished"
    elif task is hub.current:
        state = "running"
    elif task.waiting:
        state = "blocked"
    else:
        state = "ready"
    info = TaskInfo(id=id(task), kind=kind, name=name, state=state, canceled=task.canceled,
                    spawned_at=_site(getattr(task, "spawned_at", None)),
                    started=getattr(task, "started", None))
    if state == "blocked":
        info.op = task.op
        info.obj = _short_repr(task.obj)
        info.deadline = task.deadline if task.deadline >= 0 else None
        info.since = task.since
    if state != "finished":
        info.where = _frame_where(_task_frame(hub, task))
    return info


def snapshot(hub: Hub) -> TaskInfo:
    """The tree of ``hub``, rooted at its root task.

    A task's children: the coroutines it launched on their own (``go``), in
    launch order, then the bundles it made, each with its running
    coroutines in launch order (``Hub.all_tasks``).
    """
    nodes: dict[int, TaskInfo] = {}
    root = nodes[id(hub.root)] = task_info(hub, hub.root)
    tasks = hub.all_tasks()  # a copy: another thread's hub may change meanwhile
    for t in tasks:
        nodes[id(t)] = task_info(hub, t)
    bundles: dict[int, TaskInfo] = {}
    for t in tasks:
        group = t.group
        if group is not None:  # a bundle member
            b = bundles.get(id(group))
            if b is None:
                b = bundles[id(group)] = TaskInfo(
                    id=id(group), kind="bundle", name="bundle",
                    state="running" if group.members else "finished")
                creator = group.creator
                (nodes.get(id(creator)) or root).children.append(b)
            b.children.append(nodes[id(t)])
        else:
            (nodes.get(id(t.parent)) or root).children.append(nodes[id(t)])
    return root


def tree() -> TaskInfo:
    """A snapshot of the calling thread's hub, rooted at its root task."""
    return snapshot(get_hub())


def trees() -> dict[int, TaskInfo]:
    """Every hub of the process, by thread ident (best effort for other threads)."""
    out = {}
    for ident, hub in list(all_hubs.items()):
        try:
            out[ident] = snapshot(hub)
        except Exception as e:  # another thread changed it under us: say so, go on
            out[ident] = TaskInfo(id=id(hub), kind="root", name=f"root (thread {ident})",
                                  state="running", where=f"snapshot failed: {e!r}")
    return out


def print_tree(file: TextIO | None = None) -> None:
    """Print the calling thread's tree (to ``sys.stderr`` by default)."""
    print(tree().format(), file=file if file is not None else sys.stderr)
