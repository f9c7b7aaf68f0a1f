"""Deadlock reports: who waits on what, and the cycle when there is one.

Raised in the root task when it blocks and nothing can ever wake any task of
its hub (no ready task, no timer, no watched fd, no pending ``to_thread`` or
portal work).  Built only then, so it may take its time.
"""

from __future__ import annotations

from ._hub import Hub, Task
from ._tree import TaskInfo, snapshot, task_info

__all__ = ["Deadlock", "deadlock_error"]

# The message lists at most this many blocked tasks; .tree has them all.
REPORT_MAX = 50
# Waits on another task's handle: the edges of a wait-for cycle.
_HANDLE_OPS = ("wait", "bundle_wait", "hclose")


class Deadlock(RuntimeError):
    """Every task of a thread's hub is blocked and nothing can wake any of them.

    The message lists each blocked task (op, object, where, spawned at) and
    names the cycle when tasks wait on each other's handles or on green locks
    held by each other.  ``tree`` is the ``TaskInfo`` snapshot; ``cycle`` the
    ``TaskInfo`` of each task in the cycle, in wait order (empty if none).
    """

    def __init__(self, message: str, tree: TaskInfo | None = None,
                 cycle: list[TaskInfo] | None = None) -> None:
        super().__init__(message)
        self.tree = tree
        self.cycle = cycle or []


def _waits_on(task: Task) -> list[Task]:
    """The tasks whose progress ``task`` waits for (handles, lock owners)."""
    if not task.waiting:
        return []
    obj = task.obj
    if task.op in _HANDLE_OPS:
        group = getattr(obj, "_group", None)
        if group is not None:  # a bundle: every running member
            return list(group.members)
        t = getattr(obj, "_task", None)  # a coroutine
        return [t] if t is not None and not t.finished else []
    owner = getattr(obj, "_owner", None)  # a green lock knows who holds it
    if isinstance(owner, Task):
        return [owner]
    return []


def find_cycle(tasks: list[Task]) -> list[Task]:
    """A wait-for cycle among ``tasks`` (first found, in wait order), or []."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    path: list[Task] = []

    def visit(t: Task) -> list[Task]:
        state[id(t)] = 1
        path.append(t)
        for u in _waits_on(t):
            s = state.get(id(u))
            if s == 1:
                return path[path.index(u):]
            if s is None:
                found = visit(u)
                if found:
                    return found
        state[id(t)] = 2
        path.pop()
        return []

    for t in tasks:
        if id(t) not in state:
            found = visit(t)
            if found:
                return found
    return []


def _line(info: TaskInfo) -> str:
    wait = f"{info.op}({info.obj})" if info.obj is not None else str(info.op)
    label = info.name if info.name.startswith(info.kind) else f"{info.kind} {info.name}"
    s = f"  {label}: {wait}"
    if info.where:
        s += f"\n      at {info.where}"
    if info.spawned_at:
        s += f"\n      spawned at {info.spawned_at}"
    return s


def deadlock_error(hub: Hub) -> Deadlock:
    """The ``Deadlock`` for ``hub``, whose root is blocked with nothing to wake anyone."""
    tasks = [hub.root] + [t for t in hub.all_tasks() if not t.finished]
    blocked = [t for t in tasks if t.waiting]
    infos = {id(t): task_info(hub, t) for t in blocked}
    cycle = find_cycle(blocked)
    lines = ["dill: deadlock: every coroutine of this thread is blocked and nothing "
             "(timer, fd or other thread) can wake any of them."]
    if cycle:
        names = [f"{infos[id(t)].name} ({t.op})" for t in cycle]
        lines.append("Cycle: " + " -> ".join(names + [names[0]]))
    lines.append(f"Blocked tasks ({len(blocked)}):")
    lines += [_line(infos[id(t)]) for t in blocked[:REPORT_MAX]]
    if len(blocked) > REPORT_MAX:
        lines.append(f"  ... and {len(blocked) - REPORT_MAX} more (see .tree)")
    return Deadlock("\n".join(lines), tree=snapshot(hub),
                    cycle=[infos[id(t)] for t in cycle])
