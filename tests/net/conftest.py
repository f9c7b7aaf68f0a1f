"""Shared fixtures for the dill.net tests."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from nethelpers import local4, tcp_pair  # noqa: E402
from dill.net import tcp_listen  # noqa: E402


@pytest.fixture
def listener():
    ls = tcp_listen(local4())
    yield ls
    ls.close()


@pytest.fixture
def pair():
    c, s = tcp_pair()
    yield c, s
    c.close()
    s.close()
