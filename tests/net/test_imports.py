"""dill.net takes the core through ``dill`` (issue 10): no module imports a core
module directly, except ``_fdsock`` for the two fd functions ``dill`` does not export."""

import ast
import pathlib

import dill.net

NET = pathlib.Path(dill.net.__file__).parent
# (net module, core module): what _fdsock needs that ``dill`` does not export
ALLOWED = {("_fdsock", "dill._fd"), ("_fdsock", "dill._hub")}


def _core_imports(path):
    """The core modules ``path`` imports other than through ``dill`` itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 2:                       # from .._hub import ...
                found.add("dill." + (node.module or ""))
            elif node.level == 0 and (node.module or "").startswith("dill._"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("dill._"))
    return found


def test_net_modules_import_the_core_through_dill():
    direct = {(p.stem, m) for p in sorted(NET.glob("*.py")) for m in _core_imports(p)}
    assert direct <= ALLOWED, sorted(direct - ALLOWED)
