"""``wsgi_app`` for ``gunicorn --preload``: the app patches the stdlib itself, in the
master, before anything binds a blocking name (the workers then fork a patched
process, and dill's state is reset in each)."""

import dill

dill.patch()

from wsgi_app import app  # noqa: E402,F401
