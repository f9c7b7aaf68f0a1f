"""A small HTTP/1.1 server on dill: an HTML page at ``/`` and a JSON endpoint at
``/api/stats``, one coroutine per connection, keep-alive between requests.

The head goes through dill's HTTP layer (``http_recvrequest``/``http_recvfield``, then
``http_sendstatus``/``http_sendfield``); after ``http_detach`` the body is plain bytes
on the TCP socket. Shutdown follows the structured-concurrency guide: ``chdone``
broadcast, ``bundle_wait`` with a grace period, ``hclose``.

    python examples/http_server.py --seconds 2           # server + demo requests
    python examples/http_server.py --port 8080 --seconds 60 --no-demo
    (then: curl -i http://127.0.0.1:8080/api/stats)
"""

import json
import sys

import dill
from dill import Done, TimedOut, hclose, now
from dill.net import (
    brecv, bsend, http_attach, http_detach, http_done, http_recvfield, http_recvrequest,
    http_recvstatus, http_sendfield, http_sendrequest, http_sendstatus, ipaddr_local,
    tcp_close, tcp_connect,
)

from serving import Server, server_args

T0 = now()
PAGE = b"""<!doctype html><html><head><title>dill</title></head>
<body><h1>Hello from dill</h1><p>See <a href="/api/stats">/api/stats</a>.</p></body></html>
"""
stats = {"requests": 0, "connections": 0, "errors": 0}


def log(*a):
    print("[%+6dms]" % (now() - T0), *a, flush=True)


def respond(s, status, reason, ctype, body, keep_alive, deadline):
    h = http_attach(s)
    http_sendstatus(h, status, reason, deadline)
    http_sendfield(h, "Content-Type", ctype, deadline)
    http_sendfield(h, "Content-Length", str(len(body)), deadline)
    http_sendfield(h, "Connection", "keep-alive" if keep_alive else "close", deadline)
    s = http_detach(h, deadline)
    bsend(s, body, deadline)
    return s


def connection(s, stop):
    stats["connections"] += 1
    try:
        while True:
            # wait for the next request, polling the shutdown broadcast
            h = http_attach(s)
            while True:
                try:
                    dill.chrecv(stop, 0)
                except Done:
                    s = http_detach(h)
                    return                   # shutting down: no new request
                except TimedOut:
                    pass
                try:
                    method, resource = http_recvrequest(h, now() + 100)
                    break
                except TimedOut:
                    continue
            deadline = now() + 5000           # the rest of this request
            fields = {}
            while True:
                try:
                    name, value = http_recvfield(h, deadline)
                except Done:
                    break
                fields[name] = value
            s = http_detach(h, deadline)
            if int(fields.get("content-length", "0") or 0):
                brecv(s, int(fields["content-length"]), deadline)   # ignore request bodies
            stats["requests"] += 1
            keep = fields.get("connection", "").lower() != "close"
            log("%s %s" % (method, resource))
            if method != "GET":
                s = respond(s, 405, "Method Not Allowed", "text/plain", b"GET only\n", keep, deadline)
            elif resource == "/":
                s = respond(s, 200, "OK", "text/html; charset=utf-8", PAGE, keep, deadline)
            elif resource == "/api/stats":
                body = json.dumps(dict(stats, uptime_ms=now() - T0)).encode()
                s = respond(s, 200, "OK", "application/json", body, keep, deadline)
            else:
                s = respond(s, 404, "Not Found", "text/plain", b"not found\n", keep, deadline)
            if not keep:
                return
    except Done:
        pass                                   # the client went away between requests
    except (OSError, TimedOut) as e:
        stats["errors"] += 1
        log("connection failed:", e)
    finally:
        try:
            tcp_close(s, now() + 500)
        except (OSError, TimedOut):
            pass


def demo_get(port, resource):
    s = tcp_connect(ipaddr_local("127.0.0.1", port), now() + 1000)
    try:
        for r in (resource, "/api/stats"):        # two requests on one connection
            h = http_attach(s)
            http_sendrequest(h, "GET", r)
            http_sendfield(h, "Host", "127.0.0.1:%d" % port)
            http_done(h, now() + 1000)
            status, reason = http_recvstatus(h, now() + 1000)
            fields = {}
            while True:
                try:
                    n, v = http_recvfield(h, now() + 1000)
                except Done:
                    break
                fields[n] = v
            s = http_detach(h)
            body = brecv(s, int(fields["content-length"]), now() + 1000)
            log("  client got %d %s for %s: %r" % (status, reason, r, body[:60]))
    finally:
        tcp_close(s, now() + 1000)


def main(argv=None):
    args = server_args(__doc__).parse_args(argv)
    server = Server(args.port, lambda conns, s, stop: conns.go(connection, s, stop), log)
    log("HTTP server on http://127.0.0.1:%d/" % server.port)
    demos = dill.bundle()
    if not args.no_demo:
        for r in ("/", "/nope"):
            demos.go(demo_get, server.port, r)
    server.run(args.seconds, args.grace)
    hclose(demos)
    log("served %(requests)d requests on %(connections)d connections, %(errors)d errors" % stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
