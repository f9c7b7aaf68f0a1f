"""Helpers shared by the dill.net transport tests (imported as a plain module)."""

import socket

import pytest

import dill
from dill.net import ipaddr_local, tcp_accept, tcp_connect, tcp_listen


def _has_ipv6():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


HAS_IPV6 = _has_ipv6()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="IPv6 loopback unavailable")


def local4(port=0):
    return ipaddr_local("127.0.0.1", port)


def tcp_pair():
    """A connected (client, server) pair of TcpSockets on 127.0.0.1."""
    ls = tcp_listen(local4())
    try:
        c = tcp_connect(ls.addr, dill.now() + 2000)
        s, _ = tcp_accept(ls, dill.now() + 2000)
    finally:
        ls.close()
    return c, s


class Elapsed:
    """with Elapsed() as t: ...; t.ms"""

    def __enter__(self):
        self.start = dill.now()
        return self

    def __exit__(self, *a):
        self.ms = dill.now() - self.start




def raise_fd_limit(n):
    """Raise the soft RLIMIT_NOFILE to at least n (skip the test if impossible)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, n))
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
