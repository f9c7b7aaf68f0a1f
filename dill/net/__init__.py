"""dill.net: libdill's sockets (transports and protocols) on dill's coroutines."""

from ._base import *  # noqa: F401,F403
from ._base import ByteStream, MessageSocket, __all__ as _base_all
from .ipaddr import *  # noqa: F401,F403
from .ipaddr import __all__ as _ipaddr_all
from .tcp import *  # noqa: F401,F403
from .tcp import __all__ as _tcp_all
from .ipc import *  # noqa: F401,F403
from .ipc import __all__ as _ipc_all
from .udp import *  # noqa: F401,F403
from .udp import __all__ as _udp_all
from .happyeyeballs import *  # noqa: F401,F403
from .happyeyeballs import __all__ as _he_all

__all__ = _base_all + _ipaddr_all + _tcp_all + _ipc_all + _udp_all + _he_all

# Protocols (written separately); each module exports its own __all__.
import importlib as _importlib

for _name in ("prefix", "suffix", "term", "tls", "http", "ws", "socks5"):
    try:
        _mod = _importlib.import_module("." + _name, __name__)
    except ModuleNotFoundError as _e:  # not written yet
        if _e.name != __name__ + "." + _name:
            raise
        continue
    for _n in getattr(_mod, "__all__", ()):
        globals()[_n] = getattr(_mod, _n)
        __all__.append(_n)
del _importlib, _name
