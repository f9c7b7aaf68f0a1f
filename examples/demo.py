"""Run every use case of the structured-concurrency guide, printing timelines."""

from __future__ import annotations

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = [
    "parent_closes_child", "parent_closes_many", "parent_waits_child",
    "parent_waits_grace", "closes_many_grace", "broadcast_shutdown", "tcp_connection",
]

if __name__ == "__main__":
    sys.path.insert(0, HERE)
    for name in EXAMPLES:
        runpy.run_path(os.path.join(HERE, name + ".py"), run_name="__main__")
