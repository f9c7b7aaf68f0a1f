"""A line-based chat server on dill: TCP + SUFFIX ("\\n").

Every line a client sends is broadcast to the others. One coroutine per connection
reads lines; a single broadcaster coroutine does all the sending (so no two coroutines
ever send on the same socket). Shutdown is the structured-concurrency guide's: a
``chdone`` broadcast tells every connection to say goodbye, ``bundle_wait`` gives them a
grace period, then ``hclose`` cancels whatever is left.

    python examples/chat_server.py --seconds 3          # server + three demo clients
    python examples/chat_server.py --port 5555 --seconds 60 --no-demo
    (then: nc 127.0.0.1 5555)
"""

import sys

import dill
from dill import Done, TimedOut, hclose, now
from dill.net import (
    ipaddr_local, mrecv, msend, suffix_attach, suffix_detach, tcp_close,
    tcp_connect,
)

from serving import Server, server_args

T0 = now()


def log(*a):
    print("[%+6dms]" % (now() - T0), *a, flush=True)


def broadcaster(inbox, clients):
    """Send each (sender, line) from ``inbox`` to every other client."""
    for sender, line in inbox:
        for name, s in list(clients.items()):
            if name != sender:
                try:
                    msend(s, line, now() + 1000)
                except OSError:
                    clients.pop(name, None)


def connection(s, name, clients, inbox, stop):
    """The first line a client sends is its nickname."""
    s = suffix_attach(s, b"\n", max_size=4096)
    try:
        name = mrecv(s, now() + 5000).strip().decode("utf-8", "replace") or name
    except (OSError, TimedOut):
        s.close()
        return
    clients[name] = s
    dill.chsend(inbox, (name, b"* %s joined" % name.encode()))
    try:
        while True:
            try:
                dill.chrecv(stop, 0)          # poll the shutdown broadcast
            except Done:
                break
            except TimedOut:
                pass
            try:
                line = mrecv(s, now() + 100)
            except TimedOut:
                continue
            except Done:
                break
            dill.chsend(inbox, (name, b"<%s> %s" % (name.encode(), line.rstrip(b"\r"))))
    except OSError as e:
        log(name, "failed:", e)
    finally:
        clients.pop(name, None)
        try:
            msend(s, b"* bye", now() + 200)
            tcp_close(suffix_detach(s), now() + 500)
        except OSError:
            s.close()
        log(name, "left")


def demo_client(port, name, lines, linger_ms):
    s = suffix_attach(tcp_connect(ipaddr_local("127.0.0.1", port), now() + 1000), b"\n")
    try:
        msend(s, name.encode(), now() + 1000)
        for line in lines:
            msend(s, line.encode(), now() + 1000)
            dill.msleep(now() + 50)
        end = now() + linger_ms
        while True:
            try:
                log("  %s hears: %s" % (name, mrecv(s, end).decode()))
            except (TimedOut, Done):
                break
        tcp_close(suffix_detach(s), now() + 1000)     # graceful: done, drain, close
    except OSError as e:
        log("  %s: %s" % (name, e))
        s.close()


def main(argv=None):
    args = server_args(__doc__, seconds=3.0).parse_args(argv)
    inbox_tx, inbox_rx = dill.chmake(64)
    clients = {}
    bcast = dill.go(broadcaster, inbox_rx, clients)
    count = [0]

    def start(conns, s, stop):
        count[0] += 1
        log("connection %d" % count[0])
        conns.go(connection, s, "user%d" % count[0], clients, inbox_tx, stop)

    server = Server(args.port, start, log)
    port = server.port
    log("chat server on 127.0.0.1:%d" % port)
    demos = dill.bundle()
    if not args.no_demo:
        demos.go(demo_client, port, "alice", ["hello all", "nice day"], 800)
        dill.msleep(now() + 30)
        demos.go(demo_client, port, "bob", ["hi alice"], 800)
        dill.msleep(now() + 30)
        demos.go(demo_client, port, "carol", [], 60000)   # stays until the server stops
    server.run(args.seconds, args.grace)
    dill.chdone(inbox_tx)
    hclose(bcast)
    hclose(demos)
    log("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
