"""Responses of every shape, for the tests of how the dill worker writes them.

``/``: the worker's pid (``Gunicorn.ready`` asks).  ``/hello``: a small body with
Content-Length.  ``/empty``: 204, no body.
``/stream?N``: N chunks, no Content-Length (chunked).  ``/big?N``: one N-byte body.
``/file?N``: an N-byte file through ``wsgi.file_wrapper`` (sendfile).
``/echo``: the request body back (a client may ``Expect: 100-continue``).
``/early``: writes an interim 103 straight to ``gunicorn.socket``, waits 3 s,
then answers.  ``/fail``: fails after its first body chunk.
"""

import os
import tempfile
import time


def _stream(n):
    for i in range(n):
        yield b"chunk %d\n" % i


def _fail():
    yield b"first\n"
    raise RuntimeError("the app fails mid-response")


def app(environ, start_response):
    """Dispatch on the path (see the module's docstring)."""
    path, arg = environ["PATH_INFO"], environ.get("QUERY_STRING") or "0"
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _stream(int(arg))
    if path == "/big":
        body = bytes(range(256)) * (int(arg) // 256) + b"x" * (int(arg) % 256)
    elif path == "/file":
        f = tempfile.TemporaryFile()
        f.write(b"f" * int(arg))
        f.seek(0)
        start_response("200 OK", [("Content-Length", arg)])
        return environ["wsgi.file_wrapper"](f)
    elif path == "/echo":
        body = environ["wsgi.input"].read()
    elif path == "/early":
        environ["gunicorn.socket"].sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        time.sleep(3)
        body = b"late\n"
    elif path == "/fail":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _fail()
    elif path == "/hello":
        body = b"hello\n"
    else:
        body = b"%d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
