"""dill.net: libdill's sockets (transports and protocols) on dill's coroutines.

Every name here is also importable from ``dill`` itself (loaded on first use).
The modules here take what they need from the core through ``dill`` (``from dill
import ...``), never from its private modules, so that the core's layout and
import order are free to change; ``_fdsock`` alone imports the two fd functions
``dill`` does not export.
"""

from . import (
    _base, happyeyeballs, http, ipaddr, ipc, prefix, socks5, suffix, tcp, term, tls, udp, ws,
)
from ._base import *  # noqa: F401,F403
from .happyeyeballs import *  # noqa: F401,F403
from .http import *  # noqa: F401,F403
from .ipaddr import *  # noqa: F401,F403
from .ipc import *  # noqa: F401,F403
from .prefix import *  # noqa: F401,F403
from .socks5 import *  # noqa: F401,F403
from .suffix import *  # noqa: F401,F403
from .tcp import *  # noqa: F401,F403
from .term import *  # noqa: F401,F403
from .tls import *  # noqa: F401,F403
from .udp import *  # noqa: F401,F403
from .ws import *  # noqa: F401,F403

__all__ = [
    name
    for module in (_base, ipaddr, tcp, ipc, udp, happyeyeballs, prefix, suffix, term, tls,
                   http, ws, socks5)
    for name in module.__all__
]
