"""``python -m dill.tree PID [--json]``: print the coroutine trees of a running process.

This package exists so that ``-m`` finds ``__main__.py``.  ``dill.tree`` is the
*function* (``dill._tree.tree``): ``dill/__init__.py`` imports it from here
with ``from .tree import tree``, which loads this package first (the import
system then sets the package as the attribute) and rebinds the name to the
function afterwards; later imports of ``dill.tree`` find the package in
``sys.modules`` and leave the attribute alone.
"""

from .._tree import tree

__all__ = ["tree"]
