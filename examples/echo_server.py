#!/usr/bin/env python3
"""A TCP echo server in dill, shut down gracefully the structured-concurrency way.

    python examples/echo_server.py --port 5555 --seconds 10

Every connection is served by its own coroutine in the ``workers`` bundle. To stop,
the main coroutine (1) closes the accepting coroutine, (2) broadcasts "shut down" to
every worker with ``chdone``, (3) gives them a grace period with ``bundle_wait`` and
(4) ``hclose``s the bundle, canceling whoever is still busy.
"""

import argparse

import dill
from dill import Canceled, Done, TimedOut
from dill.net import bsend, ipaddr_local, tcp_close, tcp_listen
from serving import accept

T0 = dill.now()


def log(msg):
    print("[%6d ms] %s" % (dill.now() - T0, msg), flush=True)


def worker(s, addr, shutdown):
    """Echo until the peer is done, or until the shutdown broadcast arrives."""
    n = 0
    try:
        while True:
            try:
                data = s.brecv_some(65536, dill.now() + 100)
            except TimedOut:
                # idle: is it time to go?
                try:
                    dill.chrecv(shutdown, 0)
                except Done:
                    log("%r: shutdown signal, closing" % (addr,))
                    break
                except TimedOut:
                    pass
                continue
            except (Done, ConnectionResetError):
                break
            bsend(s, data, dill.now() + 1000)
            n += len(data)
        tcp_close(s, dill.now() + 500)  # graceful: done, drain, close
    except Canceled:
        log("%r: canceled after %d bytes" % (addr, n))
        raise
    except OSError as e:
        log("%r: %s" % (addr, e))
    finally:
        s.close()  # no-op if tcp_close already closed it
    log("%r: finished, echoed %d bytes" % (addr, n))


def acceptor(ls, workers, shutdown):
    while True:
        s, addr = accept(ls, log)  # backs off on EMFILE instead of dying
        log("accepted %r" % (addr,))
        workers.go(worker, s, addr, shutdown)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument("--seconds", type=float, default=None, help="exit after N seconds")
    p.add_argument("--grace", type=int, default=500, help="grace period in ms")
    args = p.parse_args()

    ls = tcp_listen(ipaddr_local(args.host, args.port))
    log("listening on %s:%d" % (ls.addr, ls.addr.port))
    tx, rx = dill.chmake()
    workers = dill.bundle()
    acc = dill.go(acceptor, ls, workers, rx)
    try:
        dill.msleep(-1 if args.seconds is None else dill.now() + int(args.seconds * 1000))
    except KeyboardInterrupt:
        pass
    log("stopping: no new connections")
    dill.hclose(acc)  # 1. stop accepting
    ls.close()
    log("broadcasting shutdown")
    dill.chdone(tx)  # 2. every worker's chrecv now raises Done
    try:
        dill.bundle_wait(workers, dill.now() + args.grace)  # 3. grace period
        log("all workers finished in time")
    except TimedOut:
        log("grace period over: canceling the rest")
    dill.hclose(workers)  # 4. cancel whoever is left
    tx.close()
    rx.close()
    log("bye")


if __name__ == "__main__":
    main()
