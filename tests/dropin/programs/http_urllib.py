"""urllib.request fetching N pages concurrently from a ThreadingHTTPServer.

``http_urllib.py [N]`` (or ``PROGRAM_N``; default 200): N threads each
``urlopen`` one page.  The server answers none until all N requests are in
(so the N fetches are truly concurrent), then all.  Prints a digest of the
pages; the peak thread counts go to stderr.
"""
import hashlib
import http.server
import os
import sys
import threading
import urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PROGRAM_N", 200))
gate = threading.Condition()
arrived = 0


def peak():
    print(f"peak threads={threading.active_count()} "
          f"os_threads={len(os.listdir('/proc/self/task'))}", file=sys.stderr)


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global arrived
        with gate:
            arrived += 1
            if arrived == N:
                peak()
                gate.notify_all()
            gate.wait_for(lambda: arrived >= N, timeout=120)
        body = f"path={self.path} {hashlib.md5(self.path.encode()).hexdigest()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = max(N, 128)


def fetch(i, port, pages):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/p{i}?x={i % 7}", timeout=120) as r:
        pages[i] = (r.status, r.read().decode())


srv = Server(("127.0.0.1", 0), H)
t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
t.start()
pages = [None] * N
fetchers = [threading.Thread(target=fetch, args=(i, srv.server_address[1], pages))
            for i in range(N)]
for f in fetchers:
    f.start()
for f in fetchers:
    f.join()
srv.shutdown()
t.join()
srv.server_close()
print("pages", N, "all 200", all(p and p[0] == 200 for p in pages), "concurrent", arrived)
print("digest", hashlib.sha256(repr(pages).encode()).hexdigest()[:16])
print("first", pages[:2])
