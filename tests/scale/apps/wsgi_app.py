"""A plain WSGI app for the gunicorn tests and ``bench/scale.py``.

``/``: the worker's pid.  ``/sleep?S``: ``time.sleep(S)`` (0.5 by default; patched
by the dill and gevent workers, a real sleep under gthread), then the pid.
``/spin?S``: hold the CPU for S seconds without blocking (a stuck worker).
"""

import os
import time


def app(environ, start_response):
    """Answer with the worker's pid, after a sleep on ``/sleep``."""
    path, arg = environ["PATH_INFO"], environ.get("QUERY_STRING")
    if path == "/sleep":
        time.sleep(float(arg or 0.5))
    elif path == "/spin":
        end = time.monotonic() + float(arg or 5)
        while time.monotonic() < end:
            pass
    body = b"%d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
