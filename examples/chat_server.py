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

import argparse
import sys

import dill
from dill import Done, TimedOut, hclose, now
from dill.net import (
    ipaddr_local, mrecv, msend, suffix_attach, suffix_detach, tcp_accept, tcp_close,
    tcp_connect, tcp_listen,
)

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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--grace", type=float, default=1.0, help="grace period on shutdown (s)")
    ap.add_argument("--no-demo", action="store_true", help="do not start demo clients")
    args = ap.parse_args(argv)

    ls = tcp_listen(ipaddr_local("127.0.0.1", args.port))
    port = ls.addr.port
    log("chat server on 127.0.0.1:%d" % port)
    stop_tx, stop_rx = dill.chmake()
    inbox_tx, inbox_rx = dill.chmake(64)
    clients = {}
    conns = dill.bundle()
    bcast = dill.go(broadcaster, inbox_rx, clients)

    def acceptor():
        n = 0
        while True:
            s, addr = tcp_accept(ls, -1)
            n += 1
            log("connection %d from %r" % (n, addr))
            conns.go(connection, s, "user%d" % n, clients, inbox_tx, stop_rx)

    acc = dill.go(acceptor)
    demos = dill.bundle()
    if not args.no_demo:
        demos.go(demo_client, port, "alice", ["hello all", "nice day"], 800)
        dill.msleep(now() + 30)
        demos.go(demo_client, port, "bob", ["hi alice"], 800)
        dill.msleep(now() + 30)
        demos.go(demo_client, port, "carol", [], 60000)   # stays until the server stops

    dill.msleep(now() + int(args.seconds * 1000))
    log("shutting down: no new connections, telling everyone")
    hclose(acc)
    dill.chdone(stop_tx)                                    # broadcast
    try:
        dill.bundle_wait(conns, now() + int(args.grace * 1000))
        log("all connections finished within the grace period")
    except TimedOut:
        log("grace period over: canceling the rest")
    hclose(conns)
    dill.chdone(inbox_tx)
    hclose(bcast)
    hclose(demos)
    ls.close()
    log("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
