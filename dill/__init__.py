"""dill: libdill's structured concurrency for Python, on greenlets.

``go(foo(34, "ABC"))`` launches a coroutine and returns its handle; ``hclose``
cancels it (every blocking call inside it then raises ``Canceled``) and returns
once it has exited.  Bundles group coroutines, channels pass values and
broadcast shutdown, and every blocking call takes an absolute ``deadline`` in
milliseconds on the ``now()`` clock (-1 or ``None``: never; 0: only if it can
be done at once).
"""

from ._channel import CHRECV, CHSEND, ChannelEnd, chdone, chmake, choose, chrecv, chsend
from ._coroutine import (
    Bundle, Call, Coroutine, bundle, bundle_go, bundle_wait, coroutine, go, msleep, yield_,
)
from ._errors import BadHandle, Canceled, Done, NotSupported, TimedOut
from ._fd import fdclean, fdin, fdout
from ._handle import Handle, hclose
from ._hub import now
from ._threads import Portal, to_thread
from . import _fork  # noqa: F401  (resets dill in a forked child: os.register_at_fork)
from ._detector import disable_blocking_detector, enable_blocking_detector  # reads DILL_BLOCKING_DETECTOR
from .patch import patch  # rebinds dill.patch from the package to the function

__version__ = "0.1.0"

__all__ = [
    "now", "go", "coroutine", "Call", "yield_", "msleep", "Handle", "hclose",
    "Coroutine", "Bundle", "bundle", "bundle_go", "bundle_wait",
    "CHSEND", "CHRECV", "ChannelEnd", "chmake", "chsend", "chrecv", "chdone", "choose",
    "fdin", "fdout", "fdclean",
    "to_thread", "Portal", "enable_blocking_detector", "disable_blocking_detector", "patch",
    "Canceled", "TimedOut", "Done", "BadHandle", "NotSupported",
]


def __getattr__(name: str) -> object:
    """The socket layer (``dill.net``) is imported on first use of one of its names."""
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    net = importlib.import_module("dill.net")
    try:
        value = getattr(net, name)
    except AttributeError:
        raise AttributeError(f"module 'dill' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    import importlib

    return sorted(set(globals()) | set(importlib.import_module("dill.net").__all__))
