"""The drop-in workload's server: a plain, unmodified stdlib HTTP server.

``python bench/dropin_server.py`` serves on OS threads; the same file runs
under ``python -m gevent.monkey bench/dropin_server.py`` and
``python -m dill.patch bench/dropin_server.py``.  It imports neither gevent
nor dill: whatever runs it decides what ``threading`` and ``socket`` are.

``http.server.ThreadingHTTPServer`` (a thread per connection), HTTP/1.1
keep-alive, a small fixed body with its Content-Length.  Prints
``{"port": P}`` once listening and serves until it is killed.

``DROPIN_PROFILE=out.prof`` profiles the server with cProfile; SIGTERM writes
the stats and exits (a profiling aid only: the benchmark never sets it).
"""

import http.server
import json
import os
import resource
import signal
import sys

BODY = b"Hello, drop-in world!\n" * 4
#: The accept backlog: room for every client of a ramp-up batch at once.
BACKLOG = 8192


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"           # keep the connection open

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass                                # no stderr line per request


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = BACKLOG


def raise_nofile():
    """Allow as many open files as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def profile_until_sigterm(path):
    """Profile from now on; on SIGTERM, write the stats to PATH and exit."""
    import cProfile

    prof = cProfile.Profile()

    def dump(signum, frame):
        prof.disable()
        prof.dump_stats(path)
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)
    prof.enable()


def main():
    raise_nofile()
    if os.environ.get("DROPIN_PROFILE"):
        profile_until_sigterm(os.environ["DROPIN_PROFILE"])
    server = Server(("127.0.0.1", 0), Handler)
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
