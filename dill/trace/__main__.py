"""Trace a program, or draw a trace.

``python -m dill.trace [-o trace.json] (script.py | -m module) [args ...]``
runs the program (as ``python`` would) with a ``ChromeTracer`` on every hub
and writes Chrome trace-event JSON (default ``dill-trace.json``) when it
ends, even when it raises or calls ``sys.exit``; the program's exit status
is kept.  Open the file in Perfetto (ui.perfetto.dev) or ``chrome://tracing``.
To trace unmodified threaded code: ``python -m dill.patch -m dill.trace ...``.

``python -m dill.trace --png out.png trace.json`` draws a trace as a PNG
timeline (needs matplotlib).
"""

from __future__ import annotations

import json
import sys
from typing import Any

USAGE = ("usage: python -m dill.trace [-o trace.json] (script.py | -m module) [args ...]\n"
         "       python -m dill.trace --png out.png trace.json")


def trace_program(output: str, module: str | None, args: list[str]) -> None:
    """Run the program under a ``ChromeTracer``; write ``output`` however it ends."""
    from dill._runner import run_target
    from dill.trace import ChromeTracer

    tracer = ChromeTracer()
    tracer.attach()
    try:
        run_target(module, args)
    finally:
        tracer.detach()
        with open(output, "w") as f:
            tracer.write(f)
        print(f"dill.trace: wrote {output} ({len(tracer.events)} events)", file=sys.stderr)


def draw(png: str, paths: list[str]) -> None:
    """``--png``: render the one trace file in ``paths`` to ``png``."""
    from dill.trace.render import render_png

    if len(paths) != 1:
        sys.exit(USAGE)
    with open(paths[0]) as f:
        render_png(json.load(f), png)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    from dill._runner import parse_target

    args = list(sys.argv[1:] if argv is None else argv)
    opts: dict[str, Any] = {"output": "dill-trace.json", "png": None}

    def option(a: str, rest: list[str]) -> bool:
        if a in ("-o", "--png") and rest:
            opts["output" if a == "-o" else "png"] = rest.pop(0)
            return True
        return False

    module = parse_target(args, option, USAGE, __doc__)
    if opts["png"] is not None:
        draw(opts["png"], args)
    else:
        trace_program(opts["output"], module, args)


if __name__ == "__main__":
    main()
