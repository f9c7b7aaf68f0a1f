"""A WebSocket echo server on dill (TCP + dill's WebSocket layer).

Each message is sent back with the same type (text or binary). On shutdown every
connection gets a close frame (1001 "going away"): a ``chdone`` broadcast, a grace
period with ``bundle_wait``, then ``hclose`` for the stragglers.

    python examples/ws_echo.py --seconds 2                 # server + a demo client
    python examples/ws_echo.py --port 8765 --seconds 60 --no-demo
    (then e.g.: python -m websockets ws://127.0.0.1:8765/)
"""

import sys

import dill
from dill import Done, TimedOut, hclose, now
from dill.net import (
    WS_TEXT, ipaddr_local, tcp_close, tcp_connect, ws_attach_client,
    ws_attach_server, ws_detach, ws_recv, ws_send, ws_status,
)

from serving import Server, server_args

T0 = now()


def log(*a):
    print("[%+6dms]" % (now() - T0), *a, flush=True)


def connection(s, stop):
    try:
        ws, resource, host = ws_attach_server(s, now() + 5000)
    except (OSError, TimedOut) as e:
        log("handshake failed:", e)
        return
    log("websocket open: %s (Host: %s)" % (resource, host))
    status, reason = 1000, b""
    try:
        while True:
            try:
                dill.chrecv(stop, 0)
            except Done:
                status, reason = 1001, b"going away"
                break
            except TimedOut:
                pass
            try:
                flags, data = ws_recv(ws, now() + 100)
            except TimedOut:
                continue
            ws_send(ws, data, now() + 1000, flags)
    except Done:
        log("client closed:", ws_status(ws))
    except OSError as e:
        log("connection failed:", e)
        ws.close()
        return
    try:
        tcp_close(ws_detach(ws, status, reason, now() + 1000), now() + 1000)
    except (OSError, TimedOut) as e:
        log("closing failed:", e)
    log("websocket closed")


def demo_client(port):
    s = tcp_connect(ipaddr_local("127.0.0.1", port), now() + 1000)
    ws = ws_attach_client(s, "/echo", "127.0.0.1:%d" % port, now() + 1000)
    for i, msg in enumerate([b"hello", "caf\u00e9".encode(), bytes(range(8))]):
        flags = WS_TEXT if i < 2 else 0
        ws_send(ws, msg, now() + 1000, flags)
        log("  client got back:", ws_recv(ws, now() + 1000))
    try:
        ws_recv(ws, -1)                 # wait until the server says goodbye
    except Done:
        log("  client: server closed with", ws_status(ws))
    tcp_close(ws_detach(ws, 1000, b"", now() + 1000), now() + 1000)


def main(argv=None):
    args = server_args(__doc__).parse_args(argv)
    server = Server(args.port, lambda conns, s, stop: conns.go(connection, s, stop), log)
    log("WebSocket echo server on ws://127.0.0.1:%d/" % server.port)
    demo = dill.go(demo_client, server.port) if not args.no_demo else None
    server.run(args.seconds, args.grace)
    if demo is not None:
        hclose(demo)
    log("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
