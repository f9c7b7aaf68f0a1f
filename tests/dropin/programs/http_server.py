"""http.server.ThreadingHTTPServer serving N concurrent keep-alive clients.

``http_server.py [N]`` (or ``PROGRAM_N``; default 200): N client threads each
open an ``http.client`` connection and GET a page, wait at a barrier until all
N have (so the server holds N connections and N handler threads at once), then
GET two more pages on the same connection.  Prints a digest of the bodies;
the peak thread counts go to stderr.
"""
import hashlib
import http.client
import http.server
import os
import sys
import threading

N = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PROGRAM_N", 200))
PAGES = 3


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"page {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = max(N, 128)


def peak():
    print(f"peak threads={threading.active_count()} "
          f"os_threads={len(os.listdir('/proc/self/task'))}", file=sys.stderr)


def client(i, port, barrier, bodies):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    got = []
    for k in range(PAGES):
        if k == 1:
            barrier.wait()
        conn.request("GET", f"/{i}/{k}")
        r = conn.getresponse()
        got.append(f"{r.status} {r.read().decode()}")
    conn.close()
    bodies[i] = "|".join(got)


srv = Server(("127.0.0.1", 0), H)
t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
t.start()
bodies = [None] * N
barrier = threading.Barrier(N, action=peak, timeout=120)
clients = [threading.Thread(target=client, args=(i, srv.server_address[1], barrier, bodies))
           for i in range(N)]
for c in clients:
    c.start()
for c in clients:
    c.join()
srv.shutdown()
t.join()
srv.server_close()
ok = all(b == "|".join(f"200 page /{i}/{k}" for k in range(PAGES))
         for i, b in enumerate(bodies))
print("clients", N, "all answered", ok)
print("digest", hashlib.sha256("\n".join(b or "-" for b in bodies).encode()).hexdigest()[:16])
print("first", bodies[:2])
