"""Happy Eyeballs (RFC 8305), following libdill's happyeyeballs.c.

Both families are resolved in parallel. The first IPv6 address is awaited for up to
50 ms (the resolution delay); then addresses are tried alternating between families,
one new attempt every 300 ms (or at once when the previous attempt failed), while the
earlier attempts keep running. The first connection that succeeds wins; the rest are
canceled (late successes are closed). When every attempt failed and no address is
left, the last error is raised (``ConnectionRefusedError`` when nothing listens).

``ipaddr_remotes`` and ``tcp_connect`` are looked up on this module at call time, so
tests can replace them.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING

import dill as _dill

from . import ipaddr as _ipaddr_mod
from . import tcp as _tcp_mod
from .ipaddr import IPADDR_IPV4, IPADDR_IPV6

if TYPE_CHECKING:
    from .tcp import TcpSocket

__all__ = ["happyeyeballs_connect"]

RESOLUTION_DELAY = 50  # ms to wait for the first IPv6 address
ATTEMPT_DELAY = 300  # ms between connection attempts (libdill's value)
MAX_ADDRS = 10  # per family

# replaceable (tests monkeypatch these)
ipaddr_remotes = _ipaddr_mod.ipaddr_remotes
tcp_connect = _tcp_mod.tcp_connect


def _min_deadline(a, b):
    if a is None or a < 0:
        return b
    return a if a < b else b


def _expired(deadline):
    return deadline is not None and deadline >= 0 and _dill.now() >= deadline


def _close_quietly(s):
    try:
        s.close()
    except Exception:  # noqa: BLE001
        pass


def happyeyeballs_connect(name: str, port: int, deadline: int | None = -1) -> TcpSocket:

    """Connect to ``name``:``port`` over TCP, IPv6 and IPv4 raced per RFC 8305."""
    if not isinstance(name, str) or not name:
        raise ValueError("happyeyeballs_connect: name must be a non-empty str")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        raise ValueError("happyeyeballs_connect: port must be in 1..65535, got %r" % (port,))
    if deadline is None:
        deadline = -1
    mod = globals()
    remotes = mod["ipaddr_remotes"]
    connect = mod["tcp_connect"]

    chmake, choose, CHRECV = _dill.chmake, _dill.choose, _dill.CHRECV
    v6_tx, v6_rx = chmake(MAX_ADDRS + 1)
    v4_tx, v4_rx = chmake(MAX_ADDRS + 1)
    res_tx, res_rx = chmake(256)
    errors = []  # DNS errors
    b = _dill.bundle()

    def resolve(mode, tx):
        try:
            try:
                addrs = remotes(name, port, mode, MAX_ADDRS, deadline)
            except _dill.Canceled:
                raise
            except Exception as e:  # noqa: BLE001 - reported below if nothing connects
                errors.append(e)
                addrs = ()
            for a in addrs:
                _dill.chsend(tx, a, 0)
        finally:
            try:
                _dill.chdone(tx)
            except Exception:  # noqa: BLE001
                pass

    def attempt(addr):
        try:
            s = connect(addr, deadline)
        except _dill.Canceled:
            raise
        except Exception as e:  # noqa: BLE001
            _dill.chsend(res_tx, (False, e), 0)
            return
        try:
            _dill.chsend(res_tx, (True, s), 0)
        except BaseException:
            _close_quietly(s)
            raise

    try:
        b.go(resolve, IPADDR_IPV6, v6_tx)
        b.go(resolve, IPADDR_IPV4, v4_tx)
        start = _dill.now()
        order = [v6_rx, v4_rx]
        pending = 0
        last_error = None
        # next_launch: when the next attempt may start (the "slot" opens). After a
        # launch at L in a slot opened at W, the next slot opens at W + ATTEMPT_DELAY,
        # or L + ATTEMPT_DELAY when the address came late. A failure opens it at once.
        next_launch = start
        try:
            _, val = choose([(CHRECV, v6_rx)], _min_deadline(deadline, start + RESOLUTION_DELAY))
        except _dill.TimedOut:
            if _expired(deadline):
                raise
        except _dill.Done:
            order.remove(v6_rx)
        else:
            b.go(attempt, val)
            pending += 1
            next_launch = start + ATTEMPT_DELAY
            order.reverse()
        while order or pending:
            can_launch = bool(order) and _dill.now() >= next_launch
            clauses = [(CHRECV, res_rx)]
            if can_launch:
                clauses.extend((CHRECV, ch) for ch in order)
                dl = deadline
            elif order:
                dl = _min_deadline(deadline, next_launch)
            else:
                dl = deadline
            try:
                idx, val = choose(clauses, dl)
            except _dill.TimedOut:
                if _expired(deadline):
                    raise
                continue
            except _dill.Done as e:
                order.remove(clauses[e.index][1])  # type: ignore[index]  # choose() sets it
                continue
            if idx == 0:
                ok, v = val
                pending -= 1
                if ok:
                    return v
                last_error = v
                next_launch = _dill.now()
                continue
            b.go(attempt, val)
            pending += 1
            t = _dill.now()
            next_launch = next_launch + ATTEMPT_DELAY
            if next_launch <= t:
                next_launch = t + ATTEMPT_DELAY
            if idx == 1 and len(order) == 2:
                order.reverse()
        # nothing left to try
        if last_error is not None:
            raise last_error
        if errors:
            raise errors[0]
        raise OSError(_errno.EADDRNOTAVAIL, "happyeyeballs_connect: no address for %r" % (name,))
    finally:
        b.close()
        # a connection that succeeded after the winner is closed
        while True:
            try:
                ok, v = _dill.chrecv(res_rx, 0)
            except BaseException:  # noqa: BLE001 - TimedOut/Canceled/Done: queue empty
                break
            if ok:
                _close_quietly(v)
        for ch in (v6_tx, v6_rx, v4_tx, v4_rx, res_tx, res_rx):
            ch.close()
