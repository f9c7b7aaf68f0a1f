"""A SOCKS5 proxy on dill (libdill's examples/socks5proxy.c): per connection,
authenticate, read the CONNECT command, connect upstream, reply, then forward bytes
both ways with two coroutines until both directions are done.

Shutdown the guide's way: ``chdone`` broadcast (no new tunnels; idle tunnels end),
``bundle_wait`` with a grace period, ``hclose``.

    python examples/socks5_proxy.py --seconds 2             # proxy + echo server + demo
    python examples/socks5_proxy.py --port 1080 --seconds 60 --no-demo [--user u --password p]
    (then: curl --socks5-hostname 127.0.0.1:1080 http://example.com/)
"""

import sys

import dill
from dill import Done, TimedOut, hclose, now
from dill.net import (
    SOCKS5_COMMAND_NOT_SUPPORTED, SOCKS5_CONNECT, SOCKS5_CONNECTION_REFUSED,
    SOCKS5_HOST_UNREACHABLE, SOCKS5_SUCCESS, brecv, bsend, ipaddr_local, ipaddr_remote,
    socks5_client_connect, socks5_proxy_auth, socks5_proxy_recvcommand,
    socks5_proxy_sendreply, tcp_close, tcp_connect, tcp_done, tcp_listen,
)

from serving import Server, accept, server_args

T0 = now()


def log(*a):
    print("[%+6dms]" % (now() - T0), *a, flush=True)


def forward(src, dst, stop, counter):
    """Copy src -> dst until src is done (then half-close dst) or shutdown is asked."""
    while True:
        try:
            dill.chrecv(stop, 0)
        except Done:
            return                       # shutdown: stop forwarding
        except TimedOut:
            pass
        try:
            data = src.brecv_some(65536, now() + 100)
        except TimedOut:
            continue
        except Done:
            try:
                tcp_done(dst, now() + 1000)
            except OSError:
                pass
            return
        bsend(dst, data, now() + 5000)
        counter[0] += len(data)


def tunnel(s, auth, stop):
    up = None
    try:
        socks5_proxy_auth(s, auth, now() + 5000)
        cmd, host, port = socks5_proxy_recvcommand(s, now() + 5000)
        if cmd != SOCKS5_CONNECT:
            socks5_proxy_sendreply(s, SOCKS5_COMMAND_NOT_SUPPORTED, None, now() + 1000)
            return
        try:
            up = tcp_connect(ipaddr_remote(host, port, 0, now() + 5000), now() + 5000)
        except ConnectionRefusedError:
            socks5_proxy_sendreply(s, SOCKS5_CONNECTION_REFUSED, None, now() + 1000)
            return
        except OSError:
            socks5_proxy_sendreply(s, SOCKS5_HOST_UNREACHABLE, None, now() + 1000)
            return
        socks5_proxy_sendreply(s, SOCKS5_SUCCESS, None, now() + 1000)
        log("tunnel to %s:%d" % (host, port))
        up_bytes, down_bytes = [0], [0]
        with dill.bundle() as b:
            b.go(forward, s, up, stop, up_bytes)
            b.go(forward, up, s, stop, down_bytes)
            dill.bundle_wait(b, -1)
        log("tunnel to %s:%d closed (%d bytes up, %d down)" % (host, port, up_bytes[0], down_bytes[0]))
    except (OSError, TimedOut) as e:
        log("tunnel failed:", e)
    finally:
        for x in (up, s):
            if x is not None:
                try:
                    tcp_close(x, now() + 500)
                except (OSError, TimedOut):
                    pass


def echo_server(ls):
    def one(s):
        try:
            while True:
                bsend(s, s.brecv_some(65536, -1), -1)
        except Done:
            tcp_close(s, now() + 1000)
        except OSError:
            s.close()

    with dill.bundle() as b:
        while True:
            s, _ = accept(ls, log)
            b.go(one, s)


def demo_client(proxy_port, echo_port, user, password):
    s = tcp_connect(ipaddr_local("127.0.0.1", proxy_port), now() + 1000)
    socks5_client_connect(s, "localhost", echo_port, now() + 1000, user, password)
    for msg in (b"hello through SOCKS5", b"second message"):
        bsend(s, msg, now() + 1000)
        log("  client got back:", brecv(s, len(msg), now() + 1000))
    tcp_close(s, now() + 1000)


def main(argv=None):
    ap = server_args(__doc__)
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args(argv)
    auth = None
    if args.user is not None:
        auth = lambda u, p: (u, p) == (args.user, args.password or "")  # noqa: E731

    server = Server(args.port, lambda tunnels, s, stop: tunnels.go(tunnel, s, auth, stop), log)
    log("SOCKS5 proxy on 127.0.0.1:%d%s" % (server.port, " (user/password)" if auth else ""))
    side = dill.bundle()
    if not args.no_demo:
        els = tcp_listen(ipaddr_local("127.0.0.1", 0))
        side.go(echo_server, els)
        side.go(demo_client, server.port, els.addr.port, args.user, args.password)
    server.run(args.seconds, args.grace)
    hclose(side)
    if not args.no_demo:
        els.close()
    log("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
