"""gunicorn with dill workers under many concurrent clients (real master, real workers)."""

import pytest

from scale_engines import loadgen

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("app", ["wsgi_app:app", "flask_app:app"])
def test_thousand_sleeping_clients_are_served_concurrently(gunicorn, app):
    """1,000 keep-alive clients on an endpoint sleeping 0.5 s: about 0.5 s, not 500 s."""
    g = gunicorn(app, "--worker-connections", "1000", "--keep-alive", "30")
    got = loadgen(g.port, clients=1000, path="/sleep?0.5", max_seconds=40)
    assert got["errors"] == 0 and got["answered"] == 1000, got
    assert got["elapsed"] < 5.0, got          # serialized it would take 500 s
    assert got["p50_ms"] >= 500, got          # each request did sleep


def test_preload_with_an_app_that_patches_the_master(gunicorn):
    """``--preload``: the master imports (and patches) once, the forked workers serve."""
    g = gunicorn("preload_app:app", "--preload", "--keep-alive", "30")
    got = loadgen(g.port, clients=200, path="/sleep?0.5", max_seconds=30)
    assert got["errors"] == 0 and got["answered"] == 200, got
    assert got["elapsed"] < 5.0, got          # serialized it would take 100 s
