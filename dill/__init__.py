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
from ._tree import TaskInfo, print_tree, trees
from .tree import tree  # rebinds dill.tree from the package to the function
from ._deadlock import Deadlock
from ._trace import add_tracer, remove_tracer
from ._inspect import enable_inspect  # reads DILL_INSPECT
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
    "tree", "trees", "print_tree", "TaskInfo", "Deadlock", "add_tracer", "remove_tracer",
    "enable_inspect",
    "Canceled", "TimedOut", "Done", "BadHandle", "NotSupported",
]


# The names of dill.net (its __all__: tests/test_lazy_net.py checks that the two
# agree).  Only these load the socket layer, so a typo such as ``dill.fo`` fails
# at once instead of importing ssl, h11 and wsproto first.
_NET_NAMES = frozenset((
    # base interfaces
    "ByteStream", "MessageSocket", "bsend", "brecv", "bsendl", "brecvl",
    "msend", "mrecv", "msendl", "mrecvl",
    # addresses
    "IPAddr", "IPADDR_IPV4", "IPADDR_IPV6", "IPADDR_PREF_IPV4", "IPADDR_PREF_IPV6",
    "IPADDR_MAXSTRLEN", "ipaddr_local", "ipaddr_remote", "ipaddr_remotes", "ipaddr_equal",
    "ipaddr_str", "ipaddr_port", "ipaddr_family", "ipaddr_sockaddr",
    # transports
    "TcpSocket", "TcpListener", "tcp_listen", "tcp_accept", "tcp_connect", "tcp_done",
    "tcp_close", "tcp_fromfd", "tcp_listener_fromfd",
    "IpcSocket", "IpcListener", "ipc_listen", "ipc_accept", "ipc_connect", "ipc_done",
    "ipc_close", "ipc_pair", "ipc_sendfd", "ipc_recvfd", "ipc_fromfd", "ipc_listener_fromfd",
    "UdpSocket", "udp_open", "udp_send", "udp_sendl", "udp_recv", "udp_recvl",
    "happyeyeballs_connect",
    # protocols
    "PREFIX_BIG_ENDIAN", "PREFIX_LITTLE_ENDIAN", "PrefixSocket", "prefix_attach", "prefix_detach",
    "SuffixSocket", "suffix_attach", "suffix_detach",
    "TermSocket", "term_attach", "term_done", "term_detach",
    "TLSSocket", "tls_attach_client", "tls_attach_server", "tls_done", "tls_detach",
    "HTTPSocket", "HTTP_MAX_HEAD", "http_attach", "http_detach", "http_done", "http_recvfield",
    "http_recvrequest", "http_recvstatus", "http_sendfield", "http_sendrequest", "http_sendstatus",
    "WS_BINARY", "WS_TEXT", "WS_NOHTTP", "WSSocket", "ws_attach_client", "ws_attach_server",
    "ws_send", "ws_recv", "ws_done", "ws_detach", "ws_status",
    "SOCKS5_CONNECT", "SOCKS5_BIND", "SOCKS5_UDP_ASSOCIATE", "SOCKS5_SUCCESS",
    "SOCKS5_GENERAL_FAILURE", "SOCKS5_CONNECTION_NOT_ALLOWED", "SOCKS5_NETWORK_UNREACHABLE",
    "SOCKS5_HOST_UNREACHABLE", "SOCKS5_CONNECTION_REFUSED", "SOCKS5_TTL_EXPIRED",
    "SOCKS5_COMMAND_NOT_SUPPORTED", "SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED",
    "socks5_client_connect", "socks5_proxy_auth", "socks5_proxy_recvcommand",
    "socks5_proxy_sendreply",
))


def __getattr__(name: str) -> object:
    """The socket layer (``dill.net``) is imported on first use of one of its names."""
    if name not in _NET_NAMES:
        raise AttributeError(f"module 'dill' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module("dill.net"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """dill's names, the socket layer's included (without importing it)."""
    return sorted(set(globals()) | _NET_NAMES)
