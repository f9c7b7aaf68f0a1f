"""Render a ``python -m dill.trace`` JSON file as a PNG timeline (needs matplotlib).

One row per track (coroutine), top to bottom in order of appearance: running
spans in one colour, waits in another (labelled with the op where there is
room), cancels as red crosses, exits as small ticks.  Used by
``python -m dill.trace --png out.png trace.json``.
"""

from __future__ import annotations

__all__ = ["render_png"]

RUNNING = "#2e7d32"
WAITING = "#90caf9"
POLL = "#bdbdbd"
CANCEL = "#d32f2f"
COLOURS = {"running": RUNNING, "wait": WAITING, "poll": POLL}


def _rows(events: list[dict]) -> tuple[list[int], dict[int, str]]:
    names = {e["tid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    hubs = {e["tid"] for e in events if e.get("name") == "poll"}
    order = sorted(names, key=lambda tid: (tid in hubs, tid))  # the hub loops last
    return order, names


def render_png(trace: dict, path: str) -> None:
    """Draw ``trace`` (a Chrome trace dict as ``ChromeTracer`` writes it) into ``path``."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("dill.trace: --png needs matplotlib (pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    events = trace["traceEvents"]
    order, names = _rows(events)
    row = {tid: i for i, tid in enumerate(order)}
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(order) + 1.4), dpi=100)
    end = max((e["ts"] + e.get("dur", 0) for e in events if "ts" in e), default=0) / 1000
    for e in events:
        y = row.get(e.get("tid"))
        if y is None or "ts" not in e:
            continue
        x = e["ts"] / 1000  # ms
        if e["ph"] == "X":
            w = max(e["dur"] / 1000, end * 0.002)  # a few µs of running stay visible
            kind = e["name"] if e["name"] in ("running", "poll") else "wait"
            h = 0.45 if kind == "wait" else 0.7
            ax.broken_barh([(x, w)], (y - h / 2, h), color=COLOURS[kind], linewidth=0)
            if kind == "wait" and w > end * 0.06:
                ax.text(x + w / 2, y, e["name"], ha="center", va="center", fontsize=7)
        elif e["name"] == "cancel":
            ax.plot([x], [y], marker="x", color=CANCEL, markersize=9, markeredgewidth=2)
        elif e["name"] == "exit":
            ax.plot([x], [y], marker="|", color="black", markersize=10)
    ax.set_yticks(range(len(order)), [names[t] for t in order], fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(0, end * 1.01 or 1)
    ax.set_xlabel("ms")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=[Patch(color=RUNNING, label="running"),
                       Patch(color=WAITING, label="blocked (op)"),
                       Patch(color=POLL, label="hub: poller"),
                       Line2D([], [], marker="x", color=CANCEL, linestyle="", label="cancel"),
                       Line2D([], [], marker="|", color="black", linestyle="", label="exit")],
              loc="lower right", bbox_to_anchor=(1, 1), ncol=5, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
