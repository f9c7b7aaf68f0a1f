"""Load generator for the TCP echo workload (the same for every server).

``python -m bench.loadgen PORT CLIENTS ROUNDS SIZE`` opens CLIENTS connections
to 127.0.0.1:PORT, then each does ROUNDS round trips of SIZE bytes (send,
wait for the whole echo, repeat).  Prints ``{"rt_per_s": ..., "elapsed":
...}``: round trips per second over the whole run, from the first send to the
last echo.  Callback-style asyncio protocols on uvloop when installed, so
that the client is cheap next to the server being measured.
"""

import asyncio
import json
import socket
import sys
import time

from bench import rt_asyncio


class Client(asyncio.Protocol):
    def __init__(self, rounds, size):
        self.left, self.size, self.pending = rounds, size, 0
        self.msg = b"x" * size
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self):
        self.pending = self.size
        self.transport.write(self.msg)

    def data_received(self, data):
        self.pending -= len(data)
        if self.pending > 0:
            return
        self.left -= 1
        if self.left:
            self.send()
        else:
            self.transport.close()
            self.done.set_result(None)

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("server closed"))


async def run(port, clients, rounds, size):
    loop = asyncio.get_running_loop()
    conns = [(await loop.create_connection(
        lambda: Client(rounds, size), "127.0.0.1", port))[1]
        for _ in range(clients)]
    t0 = time.perf_counter()
    for c in conns:
        c.send()
    await asyncio.gather(*(c.done for c in conns))
    elapsed = time.perf_counter() - t0
    return {"rt_per_s": clients * rounds / elapsed, "elapsed": elapsed}


def main(argv):
    port, clients, rounds, size = map(int, argv)
    try:
        rt_asyncio.setup("uvloop")
    except ImportError:
        pass
    result = rt_asyncio.run(run(port, clients, rounds, size))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
