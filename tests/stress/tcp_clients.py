"""The clients of the TCP scenario: a dill program of its own (run by ``tcp``).

    python -m tests.stress.tcp_clients PORT CLIENTS SECONDS SEED

Each client loops over sessions until the time is up, each session one
behaviour drawn at random: well-behaved ones (``good``, ``half_close``,
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

from dill import Done, TimedOut, bundle, hclose, msleep, now
from dill.net import bsend, brecv, ipaddr_local, tcp_close, tcp_connect, tcp_done

HEADER = struct.Struct(">Q")  # the server's PREFIX layer: 8-byte big-endian length
IO_MS = 10_000                # a well-behaved exchange that takes longer has failed
CUT_MS = 10_000               # how long a hostile client waits for the server to cut it
CUTS = (Done, ConnectionResetError, BrokenPipeError)


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def recv_frame(s) -> bytes:
    (size,) = HEADER.unpack(brecv(s, HEADER.size, now() + IO_MS))
    return brecv(s, size, now() + IO_MS) if size else b""


def payloads(rng: random.Random) -> list[bytes]:
    return [rng.randbytes(rng.randint(0, 2048)) for _ in range(rng.randint(1, 5))]


def good(s, rng: random.Random) -> bool:
    for p in payloads(rng):
        bsend(s, frame(p), now() + IO_MS)
        if recv_frame(s) != p:
            return False
    tcp_close(s, now() + IO_MS)  # the server sees Done and closes its side
    return True


def half_close(s, rng: random.Random) -> bool:
    sent = payloads(rng)
    bsend(s, b"".join(frame(p) for p in sent), now() + IO_MS)
    tcp_done(s, now() + IO_MS)   # no more from us; the echoes still come back
    echoes = [recv_frame(s) for _ in sent]
    try:
        brecv(s, 1, now() + IO_MS)
        return False             # the server sent more than it was given
    except Done:
        return echoes == sent


def slow(s, rng: random.Random) -> bool:
    p = rng.randbytes(rng.randint(1, 24))
    for byte in frame(p):        # one byte at a time, within the server's patience
        bsend(s, bytes([byte]), now() + IO_MS)
        msleep(now() + rng.randint(1, 20))
    return recv_frame(s) == p


def reset(s, rng: random.Random) -> bool:
    data = frame(rng.randbytes(rng.randint(0, 4096)))
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


def stall(s, rng: random.Random) -> bool:
    data = frame(rng.randbytes(rng.randint(2, 64)))
    bsend(s, data[: rng.randint(1, len(data) - 1)], now() + IO_MS)  # and never the rest
    return wait_cut(s)


def garbage(s, rng: random.Random) -> bool:
    if rng.random() < 0.5:
        data = rng.randbytes(rng.randint(1, 256))            # noise
    else:
        data = HEADER.pack(rng.randint(1 << 20, 1 << 62))    # a message too big to take
    bsend(s, data, now() + IO_MS)
    return wait_cut(s)


BEHAVIOURS = {good: 50, half_close: 10, slow: 10, reset: 10, stall: 10, garbage: 10}
WELL_BEHAVED = {"good", "half_close", "slow"}


def client(addr, rng: random.Random, until: float, tally: dict) -> None:
    kinds, weights = zip(*BEHAVIOURS.items())
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        name = kind.__name__
        try:
            s = tcp_connect(addr, now() + IO_MS)
        except Exception as exc:
            tally["connect failed"][f"{name}: {type(exc).__name__}"] += 1
            continue
        try:
            ok = kind(s, rng)
        except Exception as exc:
            ok = name not in WELL_BEHAVED and isinstance(exc, CUTS)
            if not ok:
                tally["errors"][f"{name}: {type(exc).__name__}: {exc}"] += 1
        finally:
            hclose(s)
        tally["ok" if ok else "failed"][name] += 1


def main() -> None:
    port, clients, seconds, seed = (int(a) for a in sys.argv[1:5])
    addr = ipaddr_local("127.0.0.1", port)
    until = time.monotonic() + seconds
    tally = {k: Counter() for k in ("ok", "failed", "errors", "connect failed")}
    rng = random.Random(seed)
    with bundle() as b:
        for _ in range(clients):
            b.go(client, addr, random.Random(rng.random()), until, tally)
            msleep(now() + 1)  # ramp up rather than a SYN flood
        b.wait()
    print(json.dumps(tally), flush=True)


if __name__ == "__main__":
    main()
