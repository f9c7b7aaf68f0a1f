"""``python -m dill.patch [options] script.py [args]``: run a script patched.

Options (before the script): ``--verbose`` prints what was patched (to
stderr), ``--no-<module>`` (e.g. ``--no-socket``) leaves a module alone,
``-m module`` runs a module instead of a script.  The script's exit status
is the process's.
"""

from __future__ import annotations

import os
import runpy
import sys

USAGE = ("usage: python -m dill.patch [--verbose] [--no-MODULE ...] "
         "(script.py | -m module) [args ...]")


def main(argv: list | None = None) -> None:
    from dill.patch import MODULES, patch

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    opts = {}
    module = None
    while args and args[0].startswith("-"):
        a = args.pop(0)
        if a in ("-h", "--help"):
            print(USAGE)
            print(__doc__)
            return
        if a in ("-v", "--verbose"):
            verbose = True
        elif a.startswith("--no-") and a[5:] in MODULES:
            opts[a[5:]] = False
        elif a == "-m" and args:
            module = args.pop(0)
            break
        elif a == "--":
            break
        else:
            sys.exit(f"dill.patch: unknown option {a!r}\n{USAGE}")
    if module is None and not args:
        sys.exit(USAGE)
    result = patch(**opts)
    if verbose:
        print(result, file=sys.stderr, flush=True)
    if module is not None:
        sys.argv = [module] + args
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script = args[0]
        sys.argv = args
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
