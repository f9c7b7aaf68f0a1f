"""Green ``selectors``: the stdlib selectors over ``dill.green.select``.

``SelectSelector``, ``PollSelector``, ``EpollSelector`` and ``DefaultSelector``
subclass the stdlib classes and differ only in that ``select()`` blocks the
calling coroutine, not the thread.  Everything else is the stdlib module's.
"""

from __future__ import annotations

import selectors as __selectors__

from . import select as _gselect

for _name, _value in list(vars(__selectors__).items()):
    if _name not in ("__name__", "__doc__", "__file__", "__spec__", "__loader__",
                     "__package__", "__builtins__", "__cached__"):
        globals()[_name] = _value
del _name, _value

select = _gselect  # the module global the stdlib code would use


def _std(cls):
    while getattr(cls, "_dill_green", False):  # the stdlib module was patched already
        cls = cls.__bases__[0]
    return cls


class SelectSelector(_std(__selectors__.SelectSelector)):
    """Select-based selector (green)."""

    _dill_green = True
    _select = staticmethod(_gselect.select)


class PollSelector(_std(__selectors__.PollSelector)):
    """Poll-based selector (green)."""

    _dill_green = True
    _selector_cls = staticmethod(_gselect.poll)


__all__ = ["EVENT_READ", "EVENT_WRITE", "SelectorKey", "BaseSelector", "SelectSelector",
           "PollSelector", "DefaultSelector"]

if hasattr(_gselect, "epoll") and hasattr(__selectors__, "EpollSelector"):
    class EpollSelector(_std(__selectors__.EpollSelector)):
        """Epoll-based selector (green)."""

        _dill_green = True
        _selector_cls = _gselect.epoll

    __all__.append("EpollSelector")
    DefaultSelector = EpollSelector
else:  # pragma: no cover - non-Linux
    DefaultSelector = PollSelector

# What dill.patch() copies onto the stdlib module.
__implements__ = [n for n in ("SelectSelector", "PollSelector", "EpollSelector",
                              "DefaultSelector") if n in globals()]
