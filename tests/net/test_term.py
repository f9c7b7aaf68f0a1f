"""TERM: libdill's tests/term.c scenario and the terminal-message rules."""

import pytest

import dill
from dill import BadHandle, Canceled, Done, NotSupported
from dill.net import (
    bsend,
    brecv,
    ipc_pair,
    mrecv,
    msend,
    prefix_attach,
    prefix_detach,
    suffix_attach,
    term_attach,
    term_detach,
    term_done,
)


def test_libdill_term_scenario():
    h0, h1 = ipc_pair()

    def client(u):
        s = term_attach(suffix_attach(u, b"\r\n"), b"STOP")
        msend(s, b"ABC", -1)
        assert mrecv(s, -1) == b"DEF"
        u = term_detach(s, -1)
        u.close()

    cr = dill.go(client, h0)
    s = term_attach(suffix_attach(h1, b"\r\n"), b"STOP")
    assert mrecv(s, -1) == b"ABC"
    msend(s, b"DEF", -1)
    with pytest.raises(Done):
        mrecv(s, -1)
    with pytest.raises(Done):
        mrecv(s, -1)       # sticky
    u = term_detach(s, -1)  # already got the peer's STOP: only sends its own
    u.close()
    dill.bundle_wait(cr, -1)
    cr.close()


def test_empty_terminal_and_done_rules():
    a, b = ipc_pair()
    ta = term_attach(prefix_attach(a))
    tb = term_attach(prefix_attach(b))
    msend(ta, b"x")
    with pytest.raises(ValueError):
        msend(ta, b"")               # equals the terminal message
    term_done(ta)
    with pytest.raises(Done):
        msend(ta, b"y")
    with pytest.raises(Done):
        term_done(ta)
    assert mrecv(tb) == b"x"
    with pytest.raises(Done):
        mrecv(tb)
    msend(tb, b"reply")               # the other direction still works
    assert mrecv(ta) == b"reply"
    ta.close(), tb.close()


def test_detach_drains_to_terminal_and_keeps_the_rest():
    a, b = ipc_pair()
    ta = term_attach(prefix_attach(a), b"END")
    tb = term_attach(prefix_attach(b), b"END")
    for m in (b"1", b"2", b"3"):
        msend(ta, m)
    cr = dill.go(term_detach, ta, -1)   # sends END, waits for tb's END
    msend(tb, b"ignored")
    pb = term_detach(tb)                # drops 1,2,3 up to END
    pa = cr.wait()
    cr.close()
    # what follows the terminal messages is plain prefix traffic again
    msend(pa, b"after")
    assert mrecv(pb) == b"after"
    bsend(prefix_detach(pb), b"raw")
    assert brecv(prefix_detach(pa), 3) == b"raw"


def test_term_needs_message_socket():
    a, b = ipc_pair()
    with pytest.raises(NotSupported):
        term_attach(a)
    with pytest.raises(TypeError):
        term_done(a)
    a.close(), b.close()


def test_cancel_blocked_and_hclose_stack():
    a, b = ipc_pair()
    tb = term_attach(suffix_attach(b))
    seen = []

    def rx():
        try:
            mrecv(tb)
        except Canceled:
            seen.append(1)
            raise

    cr = dill.go(rx)
    dill.yield_()
    cr.close()
    assert seen == [1]
    tb.close()
    assert b.closed
    with pytest.raises(BadHandle):
        mrecv(tb)
    a.close()


def test_detach_failure_closes_stack():
    a, b = ipc_pair()
    tb = term_attach(suffix_attach(b))
    a.close()
    with pytest.raises(OSError):
        term_detach(tb, dill.now() + 1000)
    assert b.closed
