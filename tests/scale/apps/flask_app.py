"""The same endpoints as ``wsgi_app``, as a Flask app."""

import os
import time

from flask import Flask, request

app = Flask(__name__)


@app.route("/")
def pid():
    """The worker's pid."""
    return f"{os.getpid()}\n"


@app.route("/sleep")
def sleep():
    """``time.sleep(S)`` (``/sleep?S``, 0.5 by default), then the worker's pid."""
    time.sleep(float(request.query_string or 0.5))
    return f"{os.getpid()}\n"
