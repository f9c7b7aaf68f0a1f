#!/usr/bin/env python3
"""A TCP echo client in dill: N concurrent connections, each sending messages and
checking the echoes.

    python examples/echo_client.py --port 5555 --clients 10 --messages 100
"""

import argparse

import dill
from dill import TimedOut
from dill.net import brecv, bsend, ipaddr_remote, tcp_close, tcp_connect

T0 = dill.now()


def log(msg):
    print("[%6d ms] %s" % (dill.now() - T0, msg), flush=True)


def client(i, addr, messages, size, results):
    s = tcp_connect(addr, dill.now() + 5000)
    try:
        for k in range(messages):
            msg = (b"%d:%d:" % (i, k)).ljust(size, b".")
            bsend(s, msg, dill.now() + 5000)
            if brecv(s, size, dill.now() + 5000) != msg:
                raise AssertionError("bad echo on connection %d" % i)
        tcp_close(s, dill.now() + 1000)  # done, then wait for the server's end
    finally:
        s.close()
    results.append(i)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--size", type=int, default=64)
    args = p.parse_args()

    addr = ipaddr_remote(args.host, args.port, 0, dill.now() + 5000)
    log("connecting %d clients to %s:%d" % (args.clients, addr, addr.port))
    results = []
    with dill.bundle() as b:
        for i in range(args.clients):
            b.go(client, i, addr, args.messages, args.size, results)
        try:
            dill.bundle_wait(b, dill.now() + 30000)
        except TimedOut:
            log("timed out")
    log("%d/%d clients echoed %d messages of %d bytes each"
        % (len(results), args.clients, args.messages, args.size))


if __name__ == "__main__":
    main()
