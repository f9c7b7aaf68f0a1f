"""``dill.patch()``: make the stdlib's blocking modules green, in place.

``python -m dill.patch [--verbose] script.py [args]`` (or ``-m module``) runs a
script patched.  This is a package so that ``-m`` finds ``__main__.py``;
``dill/__init__.py`` binds ``dill.patch`` to the *function* with
``from .patch import patch`` (the import system sets the package attribute
only when the submodule is first loaded, before that binding).  So that
``dill.patch.get_original(...)`` works all the same, the function carries the
package's public names (``__all__``) as attributes.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ["patch", "get_original", "MODULES"]

# Keyword (= stdlib module) -> the green module that replaces it.
MODULES = {
    "threading": "dill.green.threading",
    "queue": "dill.green.queue",
    "time": "dill.green.time",
    "socket": "dill.green.socket",
    "select": "dill.green.select",
    "selectors": "dill.green.selectors",
    "ssl": "dill.green.ssl",
    "subprocess": "dill.green.subprocess",
    "signal": "dill.green.signal",
    "multiprocessing": "dill.green.multiprocessing",
}
# Patched along with a keyword's module.
_COMPANIONS = {"threading": [("_thread", "dill.green.thread")]}
# dill's own modules keep the originals (see _shield_dill).
_MINE = {"dill.green.threading", "dill.green.thread", "dill.green.queue",
         "dill.green.time", "dill.patch", "dill.patch.__main__"}

_result: dict | None = None
_originals: dict = {}   # module name -> {attribute: original value (or _MISSING)}
_snapshots: dict = {}   # module name -> module object holding the originals
_MISSING = object()


def get_original(module: str, name: str) -> Any:
    """The value ``module.name`` had before ``patch()`` replaced it."""
    saved = _originals.get(module, {})
    if name in saved:
        v = saved[name]
        if v is _MISSING:
            raise AttributeError(f"module {module!r} had no attribute {name!r}")
        return v
    return getattr(importlib.import_module(module), name)


def _other_threads() -> list:
    """OS threads other than the main one and dill's own (to_thread workers, the
    blocking detector's watchdog)."""
    import _thread
    import threading

    from .._threads import own_thread_idents

    own = set(own_thread_idents())
    main = threading.main_thread()
    # a Thread object for one of dill's threads (a _DummyThread made by
    # current_thread() inside a to_thread call) is dill's, not another one
    active = [t for t in threading._active.values() if t is not main and t.ident not in own]
    others = [t for t in active if not isinstance(t, threading._DummyThread)]
    others += list(threading._limbo.values())
    names = [t.name for t in others]
    # threads started with _thread.start_new_thread are not in threading's tables
    raw = _thread._count() - len(own) - len(active)
    if raw > 0:
        names.append(f"{raw} thread(s) started with _thread.start_new_thread")
    return names


def _green_names(green: types.ModuleType, real: types.ModuleType) -> list:
    names = getattr(green, "__implements__", None)
    if names is None:
        names = [n for n in getattr(green, "__all__", ()) if hasattr(real, n)]
    return list(names)


def _swap(real_name: str, green_name: str) -> None:
    real = importlib.import_module(real_name)
    green = importlib.import_module(green_name)
    saved = _originals.setdefault(real_name, {})
    for name in _green_names(green, real):
        if not hasattr(green, name):
            continue
        if name not in saved:
            saved[name] = getattr(real, name, _MISSING)
        setattr(real, name, getattr(green, name))


def _set_attrs(module: types.ModuleType, values: dict) -> None:
    """Set ``values`` ({dotted attribute: green value}, e.g. ``"Connection._recv"``)
    on ``module``, saving the originals for ``get_original``."""
    saved = _originals.setdefault(module.__name__, {})
    for dotted, value in values.items():
        *path, attr = dotted.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        if dotted not in saved:
            saved[dotted] = getattr(owner, attr, _MISSING)
        setattr(owner, attr, value)


class _PatchingLoader:
    """Wraps a module's loader: once the module has run, sets its green attributes."""

    def __init__(self, loader: Any, finder: "_PatchOnImport") -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        values = self.finder.pending.pop(module.__name__, None)
        if values is not None:
            _set_attrs(module, values)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package...
        return getattr(self.loader, name)


class _PatchOnImport:
    """A ``sys.meta_path`` finder that patches a stdlib module when it is first imported.

    For modules that few programs use (``multiprocessing``: importing it up
    front would cost every patched program its import time).  It finds the
    module with the other finders and only wraps the loader.
    """

    def __init__(self) -> None:
        self.pending: dict = {}  # module name -> {dotted attribute: green value}

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """The other finders' spec for ``name``, its loader wrapped if ``name`` is pending."""
        if name not in self.pending:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, self)
        return spec


def _patch_attrs(patches: dict) -> None:
    """Apply a green module's ``PATCHES`` ({module: {dotted attribute: value}}):
    now to the modules already imported, at their import to the others."""
    hook = None
    for name, values in patches.items():
        module = sys.modules.get(name)
        if module is not None:
            _set_attrs(module, values)
            continue
        if hook is None:
            hook = next((f for f in sys.meta_path if isinstance(f, _PatchOnImport)), None)
            if hook is None:
                hook = _PatchOnImport()
                sys.meta_path.insert(0, hook)
        hook.pending[name] = values


def _snapshot(name: str) -> types.ModuleType:
    """A module object with the real module's current (original) attributes."""
    snap = _snapshots.get(name)
    if snap is None:
        real = importlib.import_module(name)
        snap = types.ModuleType(name, real.__doc__)
        snap.__dict__.update(real.__dict__)
        _snapshots[name] = snap
    return snap


def _shield_dill(names: list) -> None:
    """Point dill's own modules at snapshots of the originals.

    The core and the green modules look names up at call time
    (``time.sleep``, ``select.epoll``, ``threading.get_ident``...); they must
    keep getting the real ones once the module objects are patched.
    """
    real = {id(sys.modules[n]): n for n in names if n in sys.modules}
    for modname, mod in list(sys.modules.items()):
        if mod is None or modname in _MINE or modname.startswith("dill.green."):
            continue  # the green modules capture the originals themselves
        if not (modname == "dill" or modname.startswith("dill.")):
            continue
        d = getattr(mod, "__dict__", None)
        if not d:
            continue
        for k, v in list(d.items()):
            if isinstance(v, types.ModuleType) and id(v) in real:
                d[k] = _snapshot(real[id(v)])


def patch(*, threading: bool = True, socket: bool = True, select: bool = True,
          ssl: bool = True, time: bool = True, queue: bool = True,
          subprocess: bool = True, selectors: bool = True, signal: bool = True,
          multiprocessing: bool = True) -> dict:
    """Make the stdlib's blocking modules green for the whole process.

    Replaces, on the real module objects (so ``import threading`` anywhere,
    before or after, sees them): ``threading`` (and ``_thread``), ``queue``,
    ``time.sleep``, and ``socket``, ``select``, ``selectors``, ``ssl``,
    ``subprocess`` when dill provides them, and ``signal.signal`` (what a
    handler raises goes to the main thread's root code: ``dill._signals``).
    ``multiprocessing`` keeps its module objects: its pipes' reads and writes,
    ``connection.wait``, its locks and ``Process.join`` are made green on its
    classes (``dill.green.multiprocessing``), when it is first imported.
    Pass ``name=False`` to keep a module as it is.  Returns ``{module: True (patched) / False (not)}``.

    Call it early, from the main thread, before other OS threads run (else
    ``RuntimeError`` naming them; dill's own ``to_thread`` workers are fine).
    Names bound earlier with ``from threading import Lock`` keep the
    originals.  Calling it again returns the same dict and patches nothing.
    At exit non-daemon green threads are waited for; daemon ones are closed.
    """
    global _result
    if _result is not None:
        return dict(_result)
    import threading as _threading

    wanted = {"threading": threading, "socket": socket, "select": select, "ssl": ssl,
              "time": time, "queue": queue, "subprocess": subprocess,
              "selectors": selectors, "signal": signal, "multiprocessing": multiprocessing}
    for k, v in wanted.items():
        if not isinstance(v, bool):
            raise TypeError(f"patch(): {k}= must be True or False, not {type(v).__name__}")
    if _threading.current_thread() is not _threading.main_thread():
        raise RuntimeError("dill.patch() must be called from the main thread")
    others = _other_threads()
    if others:
        raise RuntimeError("dill.patch(): other OS threads are already running: "
                           + ", ".join(others))
    result = {}
    plan = []
    attr_patches = []  # green modules that patch classes (PATCHES), not module names
    for key, green_name in MODULES.items():
        if not wanted[key]:
            result[key] = False
            continue
        try:
            importlib.import_module(green_name)
        except ImportError as e:
            if e.name != green_name:
                raise
            result[key] = False  # dill does not provide it (yet)
            continue
        result[key] = True
        patches = getattr(sys.modules[green_name], "PATCHES", None)
        if patches is not None:
            attr_patches.append(patches)
            continue
        plan.append((key, green_name))
        plan.extend(_COMPANIONS.get(key, ()))
    # Import what dill itself needs before anything is patched, then shield it.
    for extra in ("dill._threads", "dill.green._util", "dill.net"):
        try:
            importlib.import_module(extra)
        except ImportError:  # pragma: no cover
            pass
    stdlib = [p[0] for p in plan]
    for name in stdlib:
        _snapshot(name)
    _shield_dill(stdlib)
    for real_name, green_name in plan:
        _swap(real_name, green_name)
    for patches in attr_patches:
        _patch_attrs(patches)
    _result = result
    return dict(result)


# ``dill.patch`` is this function (see the module docstring): give it the
# package's public names, so ``dill.patch.get_original`` and ``dill.patch.MODULES``
# work whichever of the two ``dill.patch`` is.
for _name in __all__:
    setattr(patch, _name, globals()[_name])
del _name
