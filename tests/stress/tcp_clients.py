"""The clients of the TCP scenario: a dill program of its own (run by ``tcp``).

    python -m tests.stress.tcp_clients PREFIX_PORT SUFFIX_PORT CLIENTS SECONDS SEED

Each client loops over sessions until the time is up, each session one
protocol stack (PREFIX or SUFFIX, one port each) and one behaviour drawn at
random: well-behaved ones (``good``, ``half_close``,
``slow``) must get their bytes back exactly; hostile ones (``reset``,
``stall``, ``garbage``) must be cut off by the server in bounded time (a
reset needs nothing from it).  Prints one JSON line of accounting.
"""

from __future__ import annotations

import json
import random
import struct
import sys
import time
from collections import Counter

from dill import Done, TimedOut, bundle, go, hclose, msleep, now
from dill.net import bsend, brecv, ipaddr_local, tcp_close, tcp_connect, tcp_done

from ._common import LagMonitor

IO_MS = 10_000                # a well-behaved exchange that takes longer has failed
CUT_MS = 20_000               # how long a hostile client waits for the server to cut it
# Once connected, a client idles up to this many ms per client (at most
# THINK_MS_MAX, well within the server's patience) before its behaviour: the
# connections stay open, and sessions run at about 300 a second whatever the
# clients' number.  Faster, loopback's 28,000 ephemeral ports, each held 60 s
# in TIME_WAIT, run out and connects fail (a limit of the test bed, not of the
# server).
THINK_MS_PER_CLIENT = 6
THINK_MS_MAX = 6_000
CUTS = (Done, ConnectionResetError, BrokenPipeError)
MAX_SIZE = 64 * 1024          # the server's limit on a message


class Prefix:
    """The server's PREFIX stack: an 8-byte big-endian length, then the message."""

    header = struct.Struct(">Q")

    def payload(self, rng: random.Random, most: int) -> bytes:
        return rng.randbytes(rng.randint(0, most))

    def frame(self, payload: bytes) -> bytes:
        return self.header.pack(len(payload)) + payload

    def recv(self, s) -> bytes:
        (size,) = self.header.unpack(brecv(s, self.header.size, now() + IO_MS))
        return brecv(s, size, now() + IO_MS) if size else b""

    def too_big(self, rng: random.Random) -> bytes:
        return self.header.pack(rng.randint(MAX_SIZE + 1, 1 << 62))  # announced, never sent


class Suffix:
    """The server's SUFFIX stack: the message, then a newline (so none inside)."""

    def payload(self, rng: random.Random, most: int) -> bytes:
        return rng.randbytes(rng.randint(0, most)).replace(b"\n", b" ")

    def frame(self, payload: bytes) -> bytes:
        return payload + b"\n"

    def recv(self, s) -> bytes:
        got = bytearray()
        while not got.endswith(b"\n"):
            got += brecv(s, 1, now() + IO_MS)
        return bytes(got[:-1])

    def too_big(self, rng: random.Random) -> bytes:
        return b"z" * (MAX_SIZE + 1)  # no newline within the limit


PROTOCOLS = (Prefix(), Suffix())


def payloads(proto, rng: random.Random) -> list[bytes]:
    return [proto.payload(rng, 2048) for _ in range(rng.randint(1, 5))]


def good(s, proto, rng: random.Random) -> bool:
    for p in payloads(proto, rng):
        bsend(s, proto.frame(p), now() + IO_MS)
        if proto.recv(s) != p:
            return False
    tcp_close(s, now() + IO_MS)  # the server sees Done and closes its side
    return True


def half_close(s, proto, rng: random.Random) -> bool:
    sent = payloads(proto, rng)
    bsend(s, b"".join(proto.frame(p) for p in sent), now() + IO_MS)
    tcp_done(s, now() + IO_MS)   # no more from us; the echoes still come back
    echoes = [proto.recv(s) for _ in sent]
    try:
        brecv(s, 1, now() + IO_MS)
        return False             # the server sent more than it was given
    except Done:
        return echoes == sent


def slow(s, proto, rng: random.Random) -> bool:
    p = proto.payload(rng, 24)
    for byte in proto.frame(p):  # one byte at a time, within the server's patience
        bsend(s, bytes([byte]), now() + IO_MS)
        msleep(now() + rng.randint(1, 20))
    return proto.recv(s) == p


def reset(s, proto, rng: random.Random) -> bool:
    data = proto.frame(proto.payload(rng, 4096))
    bsend(s, data[: rng.randint(0, len(data))], now() + IO_MS)
    msleep(now() + rng.randint(0, 50))
    return True                  # hclose (by the caller) resets the connection


def wait_cut(s) -> bool:
    """Whether the server closes the connection within CUT_MS."""
    try:
        while True:
            brecv(s, 1, now() + CUT_MS)
    except CUTS:
        return True
    except TimedOut:
        return False


def stall(s, proto, rng: random.Random) -> bool:
    data = proto.frame(proto.payload(rng, 64) + b"..")
    bsend(s, data[: rng.randint(1, len(data) - 1)], now() + IO_MS)  # and never the rest
    return wait_cut(s)


def garbage(s, proto, rng: random.Random) -> bool:
    if rng.random() < 0.5:
        data = rng.randbytes(rng.randint(1, 256))  # noise
    else:
        data = proto.too_big(rng)                  # a message too big to take
    bsend(s, data, now() + IO_MS)
    return wait_cut(s)


BEHAVIOURS = {good: 50, half_close: 10, slow: 10, reset: 10, stall: 10, garbage: 10}
WELL_BEHAVED = {"good", "half_close", "slow"}


def client(addrs: list, rng: random.Random, until: float, think_ms: int, tally: dict) -> None:
    kinds, weights = zip(*BEHAVIOURS.items())
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        which = rng.randrange(len(PROTOCOLS))
        proto = PROTOCOLS[which]
        name = f"{kind.__name__} {type(proto).__name__.lower()}"
        try:
            s = tcp_connect(addrs[which], now() + IO_MS)
        except Exception as exc:
            tally["connect failed"][f"{name}: {type(exc).__name__}"] += 1
            continue
        try:
            msleep(now() + rng.randint(0, think_ms))  # an idle, connected client
            ok = kind(s, proto, rng)
        except Exception as exc:
            ok = kind.__name__ not in WELL_BEHAVED and isinstance(exc, CUTS)
            if not ok:
                tally["errors"][f"{name}: {type(exc).__name__}: {exc}"] += 1
        finally:
            hclose(s)
        tally["ok" if ok else "failed"][name] += 1


def main() -> None:
    prefix_port, suffix_port, clients, seconds, seed = (int(a) for a in sys.argv[1:6])
    addrs = [ipaddr_local("127.0.0.1", port) for port in (prefix_port, suffix_port)]
    until = time.monotonic() + seconds
    tally = {k: Counter() for k in ("ok", "failed", "errors", "connect failed")}
    rng = random.Random(seed)
    lag = LagMonitor()
    monitor = go(lag.run)
    with bundle() as b:
        for _ in range(clients):
            b.go(client, addrs, random.Random(rng.random()), until,
                 min(THINK_MS_MAX, THINK_MS_PER_CLIENT * clients), tally)
            msleep(now() + 1)  # ramp up rather than a SYN flood
        b.wait(now() + int((until - time.monotonic()) * 1000) + IO_MS + CUT_MS + THINK_MS_MAX)
    hclose(monitor)
    tally["client lag"] = {"worst ms": lag.worst_ever_ms, **lag.late}
    print(json.dumps(tally), flush=True)


if __name__ == "__main__":
    main()
