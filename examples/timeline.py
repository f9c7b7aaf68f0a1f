"""A tiny timeline printer shared by the examples: ``log("worker", "canceled")``."""

from __future__ import annotations

import dill

_start = dill.now()


def reset(title: str) -> None:
    """Start a new timeline at t=0 with a heading."""
    global _start
    _start = dill.now()
    print(f"\n== {title}")


def log(who: str, what: str) -> None:
    """Print one event: milliseconds since ``reset``, who, what happened."""
    print(f"  {dill.now() - _start:5d} ms  {who:<10} {what}")
