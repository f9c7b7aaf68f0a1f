"""Load generator for the drop-in workload: many keep-alive HTTP clients.

``python -m bench.http_loadgen PORT CLIENTS REQUESTS [--batch B]`` opens
CLIENTS connections to 127.0.0.1:PORT, B at a time (so that the server's
accept backlog is not what is measured), and has each do one warm-up GET, so
that every connection is accepted and has its handler running.  Then every
client does REQUESTS sequential GETs on its connection (send, read the head,
read Content-Length bytes of body, repeat).  Prints ``{"req_per_s": ...,
"elapsed": ..., "connect_s": ...}``: requests per second over the request
phase only, from the first request to the last response, or to
``--max-seconds`` (default 20) if the server is slower than that: then the
requests answered by then count (and ``"complete"`` is false).

Callback-style asyncio protocols on uvloop when installed, so that the
client is cheap next to the server being measured.
"""

import argparse
import asyncio
import json
import resource
import socket
import time

from bench import rt_asyncio

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n"


def content_length(head):
    """The Content-Length of a response head (bytes, without the blank line)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("response without Content-Length: %r" % head[:200])


class Client(asyncio.Protocol):
    """One keep-alive connection doing a run of sequential GETs."""

    def __init__(self):
        self.buf = b""
        self.need = None        # body bytes still expected, None: reading the head
        self.left = 0
        self.done = None

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run(self, requests):
        """Do REQUESTS GETs in turn; return a future set when all are answered."""
        self.left = requests
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(REQUEST)
        return self.done

    def data_received(self, data):
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                if not self.buf.startswith(b"HTTP/1.1 200"):
                    self._fail(ValueError("bad response: %r" % self.buf[:80]))
                    return
                self.need = content_length(self.buf[:end])
                self.buf = self.buf[end + 4:]
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need:]
            self.need = None
            self.left -= 1
            if self.left:
                self.transport.write(REQUEST)
            elif not self.done.done():
                self.done.set_result(None)
                return

    def _fail(self, exc):
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc)
        self.transport.abort()

    def connection_lost(self, exc):
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc or ConnectionError("server closed"))


async def connect_all(port, clients, batch):
    """Open the connections B at a time; each does one warm-up request."""
    loop = asyncio.get_running_loop()
    conns = []

    async def one():
        _, proto = await loop.create_connection(Client, "127.0.0.1", port)
        await proto.run(1)
        return proto

    for start in range(0, clients, batch):
        k = min(batch, clients - start)
        conns += await asyncio.gather(*(one() for _ in range(k)))
    return conns


async def run(port, clients, requests, batch, max_seconds):
    """Connect, then time the request phase; stop it after MAX_SECONDS."""
    t0 = time.perf_counter()
    conns = await connect_all(port, clients, batch)
    t1 = time.perf_counter()
    futures = [c.run(requests) for c in conns]
    done, pending = await asyncio.wait(futures, timeout=max_seconds)
    elapsed = time.perf_counter() - t1
    for f in done:
        f.result()                      # a failed client fails the run
    answered = sum(requests - c.left for c in conns)
    for f in pending:
        f.cancel()
    for c in conns:
        c.transport.abort()
    return {"req_per_s": answered / elapsed, "elapsed": elapsed,
            "connect_s": t1 - t0, "requests": answered,
            "complete": not pending}


def raise_nofile():
    """Allow as many open files as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.http_loadgen")
    ap.add_argument("port", type=int)
    ap.add_argument("clients", type=int)
    ap.add_argument("requests", type=int, help="per client, after the warm-up one")
    ap.add_argument("--batch", type=int, default=500,
                    help="connections opened at once (default 500)")
    ap.add_argument("--max-seconds", type=float, default=20.0,
                    help="end the request phase after this long (default 20): "
                         "a slow server is measured over what it answered")
    args = ap.parse_args(argv)
    raise_nofile()
    try:
        rt_asyncio.setup("uvloop")
    except ImportError:
        pass
    result = rt_asyncio.run(run(args.port, args.clients, args.requests,
                                 args.batch, args.max_seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
