"""The ``[options] (script.py | -m module) [args ...]`` command lines of dill's tools.

``python -m dill.patch`` and ``python -m dill.trace`` both run a program the
way ``python`` itself would, after their own options.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Callable

__all__ = ["parse_target", "run_target"]


def parse_target(args: list[str], option: Callable[[str, list[str]], bool],
                 usage: str, doc: str | None) -> str | None:
    """Consume the leading options of ``args`` (in place); return ``module`` for ``-m``.

    ``option(flag, args)`` handles a tool's own flag (popping its value from
    ``args``) and returns whether it knew it.  ``-h`` prints ``usage`` and
    ``doc`` and exits 0; an unknown option or a missing program exits with
    the usage.  Afterwards ``args`` holds the script and its arguments, or the
    module's arguments.
    """
    prog = usage.split()[3]  # "usage: python -m dill.X ..."
    while args and args[0].startswith("-"):
        a = args.pop(0)
        if a in ("-h", "--help"):
            print(usage)
            print(doc)
            sys.exit(0)
        if a == "-m" and args:
            return args.pop(0)
        if a == "--":
            break
        if not option(a, args):
            sys.exit(f"{prog}: unknown option {a!r}\n{usage}")
    if not args:
        sys.exit(usage)
    return None


def run_target(module: str | None, args: list[str]) -> None:
    """Run ``-m module`` (with ``args`` as its arguments) or the script ``args[0]``
    as ``__main__``, the way ``python`` itself would."""
    if module is not None:
        sys.argv = [module] + args
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script = args[0]
        sys.argv = args
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")
