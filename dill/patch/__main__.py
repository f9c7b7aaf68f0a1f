"""``python -m dill.patch [options] script.py [args]``: run a script patched.

Options (before the script): ``--verbose`` prints what was patched (to
stderr), ``--no-<module>`` (e.g. ``--no-socket``) leaves a module alone,
``--no-inspect`` keeps ``python -m dill.tree PID`` out (inspection is on by
default: ``dill.enable_inspect``), ``-m module`` runs a module instead of a
script.  The script's exit status is the process's.
"""

from __future__ import annotations

import sys

USAGE = ("usage: python -m dill.patch [--verbose] [--no-MODULE ...] [--no-inspect] "
         "(script.py | -m module) [args ...]")


def main(argv: list | None = None) -> None:
    from dill import enable_inspect
    from dill._runner import parse_target, run_target
    from dill.patch import MODULES, patch

    args = list(sys.argv[1:] if argv is None else argv)
    flags = {"verbose": False, "inspect": True}
    opts = {}

    def option(a: str, rest: list) -> bool:
        if a in ("-v", "--verbose"):
            flags["verbose"] = True
        elif a == "--no-inspect":
            flags["inspect"] = False
        elif a.startswith("--no-") and a[5:] in MODULES:
            opts[a[5:]] = False
        else:
            return False
        return True

    module = parse_target(args, option, USAGE, __doc__)
    result = patch(**opts)
    if flags["verbose"]:
        print(result, file=sys.stderr, flush=True)
    if flags["inspect"]:
        enable_inspect()
    run_target(module, args)


if __name__ == "__main__":
    main()
