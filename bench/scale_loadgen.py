"""Load generator for the scale-out workloads: keep-alive HTTP clients with latencies.

``python -m bench.scale_loadgen PORT --clients N --requests R [--path P]``
opens N keep-alive connections to 127.0.0.1:PORT, ``--batch`` at a time, each
doing one warm-up ``GET /`` (so that every connection is accepted and served
before the clock starts).  Then every client sends R sequential ``GET P`` on
its connection, all clients at once.  Prints one JSON line:

    {"req_per_s", "p50_ms", "p99_ms", "max_ms", "elapsed", "answered",
     "errors", "connect_s", "complete"}

over the request phase only (``--max-seconds`` caps it; what was answered by
then counts).  A connection that fails (refused, reset, closed, non-200)
counts one error and stops; the others go on.  Callback-style asyncio
protocols on uvloop when installed, so the client stays cheap next to the
server being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bench import http_loadgen, rt_asyncio


def _request(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()


class _Transport:
    """The client's transport: every request written is the client's current one,
    and a write right after a response is where that response's latency ends."""

    def __init__(self, transport: asyncio.Transport, client: "Client") -> None:
        self._transport = transport
        self._client = client

    def write(self, _request: bytes) -> None:
        if self._transport.is_closing():  # the server closed it: connection_lost reports
            return
        c = self._client
        c.response_done()
        c.sent = time.perf_counter()
        self._transport.write(c.request)

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class Client(http_loadgen.Client):
    """``bench.http_loadgen``'s keep-alive client, asking for ``request`` and timing
    each response (``latencies`` gets seconds, while ``timing`` is on)."""

    def __init__(self, latencies: list, request: bytes) -> None:
        super().__init__()
        self.latencies = latencies
        self.request = request
        self.timing = False
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(_Transport(transport, self))  # type: ignore[arg-type]

    def response_done(self) -> None:
        """The request in flight (if any) has been answered."""
        if self.sent and self.timing:
            self.latencies.append(time.perf_counter() - self.sent)
        self.sent = 0.0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.left:   # the run's last response: no write follows it
            self.response_done()


async def _connect_all(port: int, clients: int, batch: int, latencies: list) -> tuple:
    """Open the connections ``batch`` at a time, each with a warm-up GET /."""
    loop = asyncio.get_running_loop()
    warmup = _request("/")

    async def one() -> Client:
        _, proto = await loop.create_connection(lambda: Client(latencies, warmup),
                                                "127.0.0.1", port)
        await proto.run(1)
        return proto

    conns, errors = [], 0
    for start in range(0, clients, batch):
        got = await asyncio.gather(*(one() for _ in range(min(batch, clients - start))),
                                   return_exceptions=True)
        for c in got:
            if isinstance(c, BaseException):
                errors += 1
            else:
                conns.append(c)
    return conns, errors


def _percentile(sorted_values: list, q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def measure(port: int, clients: int, requests: int, path: str, batch: int,
                  max_seconds: float) -> dict:
    """Connect every client, then time the request phase."""
    latencies: list = []
    t0 = time.perf_counter()
    conns, errors = await _connect_all(port, clients, batch, latencies)
    t1 = time.perf_counter()
    request = _request(path)
    for c in conns:
        c.request, c.timing = request, True
    futures = [c.run(requests) for c in conns]
    done, pending = await asyncio.wait(futures, timeout=max_seconds) if futures else ((), ())
    elapsed = time.perf_counter() - t1
    errors += sum(1 for f in done if f.exception() is not None)
    for f in pending:
        f.cancel()
    for c in conns:
        c.transport.abort()
    lat = sorted(latencies)
    return {"req_per_s": len(lat) / elapsed if elapsed else 0.0,
            "p50_ms": _percentile(lat, 0.50) * 1000, "p99_ms": _percentile(lat, 0.99) * 1000,
            "max_ms": (lat[-1] * 1000) if lat else float("nan"),
            "elapsed": elapsed, "answered": len(lat), "errors": errors,
            "connect_s": t1 - t0, "complete": not pending and not errors}


def main(argv: list | None = None) -> None:
    """Command line: see the module's docstring."""
    ap = argparse.ArgumentParser(prog="python -m bench.scale_loadgen")
    ap.add_argument("port", type=int)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1, help="per client, after the warm-up")
    ap.add_argument("--path", default="/")
    ap.add_argument("--batch", type=int, default=250, help="connections opened at once")
    ap.add_argument("--max-seconds", type=float, default=30.0)
    args = ap.parse_args(argv)
    http_loadgen.raise_nofile()
    try:
        rt_asyncio.setup("uvloop")
    except ImportError:  # plain asyncio is fine, only slower
        pass
    result = rt_asyncio.run(measure(args.port, args.clients, args.requests, args.path,
                                    args.batch, args.max_seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
