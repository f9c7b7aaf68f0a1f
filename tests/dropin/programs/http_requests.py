"""requests (over urllib3) fetching N pages concurrently from a ThreadingHTTPServer.

``http_requests.py [N]`` (or ``PROGRAM_N``; default 200): a
``ThreadPoolExecutor`` of N workers maps ``requests.get`` over N pages.  The
server answers none until all N requests are in (so the N fetches are truly
concurrent), then all.  Prints a digest of the pages; the peak thread counts
go to stderr.
"""
import hashlib
import http.server
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

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
        body = self.path.encode() * 3
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = max(N, 128)


srv = Server(("127.0.0.1", 0), H)
t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
t.start()
base = f"http://127.0.0.1:{srv.server_address[1]}"


def get(i):
    r = requests.get(f"{base}/{i}", timeout=120)
    return r.status_code, r.text


with ThreadPoolExecutor(N) as ex:
    out = list(ex.map(get, range(N)))
srv.shutdown()
t.join()
srv.server_close()
print("pages", N, "all 200", all(s == 200 for s, _ in out), "concurrent", arrived)
print("digest", hashlib.sha256(repr(out).encode()).hexdigest()[:16])
print("first", out[:2])
