"""Every public name dill defines has a docstring (the brief's promise to users).

Walks the public modules (no leading underscore) of the package; names that a
module re-exports from elsewhere (the stdlib, in ``dill.green``) are the other
module's business and are skipped.  A method without a docstring of its own
that overrides a documented one inherits its text (``inspect.getdoc``).

The modules are imported in a subprocess: ``dill.celery`` patches the stdlib
when imported, which must not happen to the test session.
"""

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import types

import pytest

import dill

pytestmark = pytest.mark.timeout(60)


def _public_modules():
    names = ["dill"]
    for info in pkgutil.walk_packages(dill.__path__, "dill."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


MODULES = _public_modules()


def _undocumented_in(mod):
    """The public names defined by dill in module ``mod`` without a docstring."""
    def ours(obj):
        return getattr(obj, "__module__", "").split(".")[0] == "dill"

    names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
    missing = []
    for name in names:
        obj = getattr(mod, name, None)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or not ours(obj):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, (classmethod, staticmethod)):
                    value = value.__func__
                # getdoc: an override without a text of its own inherits its base's.
                if (inspect.isfunction(value) or isinstance(value, property)) \
                        and not inspect.getdoc(value):
                    missing.append(f"{name}.{attr}")
    return missing


def _report(modnames):
    """{module: list of undocumented names, or "skip: why"} (run in the child)."""
    out = {}
    for modname in modnames:
        try:
            mod = importlib.import_module(modname)
        except ImportError as e:  # an optional extra (gunicorn, celery) not installed
            out[modname] = f"skip: {e}"
            continue
        out[modname] = _undocumented_in(mod)
    return out


@pytest.fixture(scope="module")
def report():
    # The child imports the dill this session tests, not another installed copy.
    here = os.path.dirname(os.path.dirname(os.path.abspath(dill.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [here, os.environ.get("PYTHONPATH")])))
    p = subprocess.run([sys.executable, __file__, *MODULES],
                       capture_output=True, text=True, timeout=50, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("modname", MODULES)
def test_every_public_name_has_a_docstring(report, modname):
    missing = report[modname]
    if isinstance(missing, str):
        pytest.skip(missing)
    assert missing == []


def test_the_check_sees_a_missing_docstring():
    """The walk above finds an undocumented function, class, method and
    property, and passes documented ones (so it can fail)."""
    mod = types.ModuleType("dill.probe")
    exec("""
class Documented:
    '''Doc.'''
    def method(self):
        '''Doc.'''
class Bare:
    def method(self):
        pass
    @property
    def prop(self):
        pass
    def _private(self):
        pass
def bare():
    pass
def documented():
    '''Doc.'''
""", mod.__dict__)
    assert sorted(_undocumented_in(mod)) == ["Bare", "Bare.method", "Bare.prop", "bare"]


if __name__ == "__main__":
    print(json.dumps(_report(sys.argv[1:])))
