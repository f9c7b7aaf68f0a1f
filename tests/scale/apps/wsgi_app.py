"""A plain WSGI app for the gunicorn tests and ``bench/scale.py``.

``/``: the worker's pid.  ``/sleep?S``: ``time.sleep(S)`` (0.5 by default; patched
by the dill and gevent workers, a real sleep under gthread), then the pid.
"""

import os
import time


def app(environ, start_response):
    """Answer with the worker's pid, after a sleep on ``/sleep``."""
    if environ["PATH_INFO"] == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or 0.5))
    body = b"%d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
