"""choose: exactly one clause, list-order priority, errors (libdill tests/choose.c)."""

import pytest

import dill
from dill import (
    CHRECV, CHSEND, Canceled, Done, TimedOut, chdone, chmake, choose, chrecv, chsend, coroutine,
    go, hclose, msleep, now, yield_,
)


@coroutine
def sender(ch, doyield, val):
    if doyield:
        yield_()
    chsend(ch, val)


@coroutine
def receiver(ch, expected):
    assert chrecv(ch) == expected


def test_nonblocking_receive(ch):
    a, b = ch
    cr = go(sender(a, False, 555))
    assert choose([(CHRECV, b)], -1) == (0, 555)
    hclose(cr)


def test_blocking_receive(ch):
    a, b = ch
    cr = go(sender(a, True, 666))
    assert choose([(CHRECV, b)], -1) == (0, 666)
    hclose(cr)


def test_nonblocking_send(ch):
    a, b = ch
    cr = go(receiver(a, 777))
    assert choose([(CHSEND, b, 777)], -1) == (0, None)
    cr.wait()
    hclose(cr)


def test_blocking_send(ch):
    a, b = ch

    @coroutine
    def yielding_receiver():
        yield_()
        assert chrecv(a) == 888

    cr = go(yielding_receiver())
    assert choose([(CHSEND, b, 888)], -1) == (0, None)
    cr.wait()
    hclose(cr)


def test_two_channels():
    a5, b5 = chmake()
    a6, b6 = chmake()
    cr = go(sender(a6, False, 555))
    assert choose([(CHRECV, b5), (CHRECV, b6)], -1) == (1, 555)
    hclose(cr)
    cr = go(sender(a5, True, 666))
    assert choose([(CHRECV, b5), (CHRECV, b6)], -1) == (0, 666)
    hclose(cr)
    for h in (a5, b5, a6, b6):
        hclose(h)


def test_immediate_timeout(ch):
    a, b = ch
    with pytest.raises(TimedOut):
        choose([(CHRECV, a)], 0)


def test_empty_clause_list_deadline_zero():
    with pytest.raises(TimedOut):
        choose([], 0)
    with pytest.raises(TimedOut):
        choose((), now() + 5)


def test_two_blocked_senders_fifo(ch):
    a, b = ch
    c1 = go(sender(a, False, 888))
    c2 = go(sender(a, False, 999))
    assert choose([(CHRECV, b)]) == (0, 888)
    assert choose([(CHRECV, b)]) == (0, 999)
    hclose(c1)
    hclose(c2)


def test_two_blocked_receivers_fifo(ch):
    a, b = ch
    c1 = go(receiver(a, 333))
    c2 = go(receiver(a, 444))
    assert choose([(CHSEND, b, 333)]) == (0, None)
    assert choose([(CHSEND, b, 444)]) == (0, None)
    c1.wait()
    c2.wait()
    hclose(c1)
    hclose(c2)


def test_choose_vs_choose(ch):
    a, b = ch

    @coroutine
    def chooser():
        assert choose([(CHSEND, a, 111)], -1) == (0, None)

    cr = go(chooser())
    assert choose([(CHRECV, b)]) == (0, 111)
    cr.wait()
    hclose(cr)


def test_done_channel_raises_done_with_index(ch):
    a, b = ch
    chdone(a)
    with pytest.raises(Done) as ei:
        choose([(CHRECV, b)], -1)
    assert ei.value.index == 0


def test_done_while_waiting_sets_index():
    a1, b1 = chmake()
    a2, b2 = chmake()
    errs = []

    @coroutine
    def waiter():
        try:
            choose([(CHRECV, b1), (CHRECV, b2)])
        except Done as e:
            errs.append(e.index)

    cr = go(waiter())
    chdone(a2)
    hclose(cr)
    assert errs == [1]
    for h in (a1, b1, a2, b2):
        hclose(h)


def test_deadline_expiry():
    a, b = chmake()
    start = now()
    with pytest.raises(TimedOut):
        choose([(CHRECV, a)], start + 20)
    assert now() - start >= 20
    hclose(a)
    hclose(b)


def test_deadline_not_reached():
    a, b = chmake()
    start = now()

    @coroutine
    def late_sender():
        msleep(start + 10)
        chsend(a, 4444)

    cr = go(late_sender())
    assert choose([(CHRECV, b)], start + 5000) == (0, 4444)
    assert now() - start < 2500
    hclose(cr)
    hclose(a)
    hclose(b)


def test_first_ready_clause_in_list_order_wins():
    a23, b23 = chmake()
    a24, b24 = chmake()
    c23 = go(sender(a23, False, 23))
    c24 = go(sender(a24, False, 24))
    assert choose([(CHRECV, b24), (CHRECV, b23)]) == (0, 24)
    assert chrecv(b23) == 23
    hclose(c23)
    hclose(c24)
    for h in (a23, b23, a24, b24):
        hclose(h)


def test_send_and_recv_clauses_priority():
    a1, b1 = chmake(1)
    a2, b2 = chmake(1)
    chsend(a2, "buffered")
    # both clauses can proceed at once: the first (a send) wins
    assert choose([(CHSEND, a1, "s"), (CHRECV, b2)], 0) == (0, None)
    # now the send cannot (buffer full): the recv wins
    assert choose([(CHSEND, a1, "t"), (CHRECV, b2)], 0) == (1, "buffered")
    assert chrecv(b1, 0) == "s"
    for h in (a1, b1, a2, b2):
        hclose(h)


def test_error_clause_earlier_wins_over_ready_clause():
    a1, b1 = chmake()
    a2, b2 = chmake(1)
    chsend(a2, "ready")
    chdone(a1)
    with pytest.raises(Done) as ei:
        choose([(CHRECV, b1), (CHRECV, b2)])
    assert ei.value.index == 0
    # ready clause earlier wins over error clause later
    assert choose([(CHRECV, b2), (CHRECV, b1)]) == (0, "ready")
    # send to a done direction
    with pytest.raises(Done) as ei:
        choose([(CHRECV, b2), (CHSEND, a1, 1)], 0)
    assert ei.value.index == 1
    # a closed handle in any position is reported with its index,
    # and nothing is performed
    chsend(a2, "stays")
    hclose(b1)
    with pytest.raises(dill.BadHandle) as ei:
        choose([(CHRECV, b2), (CHRECV, b1)])
    assert ei.value.index == 1
    assert chrecv(b2, 0) == "stays"
    for h in (a1, a2, b2):
        hclose(h)


def test_same_channel_twice():
    a, b = chmake()
    with pytest.raises(TimedOut):
        choose([(CHRECV, b), (CHRECV, b)], now() + 5)
    cr = go(sender(a, True, "once"))
    assert choose([(CHRECV, b), (CHRECV, b)]) == (0, "once")
    hclose(cr)
    # the stale second entry does not swallow a later value
    cr = go(sender(a, True, "again"))
    assert chrecv(b) == "again"
    hclose(cr)
    # a send and a receive on the same end are two directions
    cr = go(receiver(b, "x"))
    assert choose([(CHRECV, a), (CHSEND, a, "x")]) == (1, None)
    cr.wait()
    hclose(cr)
    hclose(a)
    hclose(b)


def test_choose_performs_exactly_one():
    a1, b1 = chmake()
    a2, b2 = chmake()
    got = []

    @coroutine
    def rcv(ch):
        got.append(chrecv(ch, now() + 20))

    c1 = go(rcv(b1))
    c2 = go(rcv(b2))
    assert choose([(CHSEND, a1, 1), (CHSEND, a2, 2)]) == (0, None)
    with pytest.raises(TimedOut):
        c2.wait()
    c1.wait()
    assert got == [1]
    hclose(c1)
    hclose(c2)
    for h in (a1, b1, a2, b2):
        hclose(h)


def test_blocked_choose_first_clause_to_become_ready_wins():
    a1, b1 = chmake()
    a2, b2 = chmake()
    cr = go(sender(a2, True, "second clause"))
    assert choose([(CHRECV, b1), (CHRECV, b2)], now() + 5000) == (1, "second clause")
    hclose(cr)
    # the abandoned registration on b1 does not take a later value
    cr = go(sender(a1, True, "later"))
    assert chrecv(b1) == "later"
    hclose(cr)
    for h in (a1, b1, a2, b2):
        hclose(h)


def test_timed_out_choose_send_delivers_nothing(ch):
    a, b = ch
    with pytest.raises(TimedOut):
        choose([(CHSEND, a, "lost")], now() + 5)
    with pytest.raises(TimedOut):
        chrecv(b, 0)


def test_choose_canceled(ch):
    a, b = ch
    log = []

    @coroutine
    def w():
        for _ in range(2):
            try:
                choose([(CHRECV, a)])
            except Canceled:
                log.append("c")

    hclose(go(w()))
    assert log == ["c", "c"]


def test_choose_with_closed_end_while_waiting():
    a, b = chmake()
    errs = []

    @coroutine
    def w():
        try:
            choose([(CHRECV, a), (CHSEND, a, 1)])
        except dill.BadHandle as e:
            errs.append(("bad", e.index))
        except Done as e:  # pragma: no cover
            errs.append(("done", e.index))

    cr = go(w())
    hclose(a)
    hclose(cr)
    assert errs in ([("bad", 0)], [("bad", 1)])
    hclose(b)


def test_choose_peer_closed_while_waiting_gives_done_with_index():
    a, b = chmake()
    x, y = chmake()
    errs = []

    @coroutine
    def w():
        try:
            choose([(CHRECV, y), (CHRECV, b)])
        except Done as e:
            errs.append(e.index)

    cr = go(w())
    hclose(a)
    hclose(cr)
    assert errs == [1]
    for h in (b, x, y):
        hclose(h)


@pytest.mark.parametrize("bad", [
    [(3, "ch")],
    [(0, None)],
    [("recv", None)],
])
def test_bad_clause_op_is_value_error(bad, ch):
    a, b = ch
    bad = [(op, a) for (op, _) in bad]
    with pytest.raises(ValueError, match="operation"):
        choose(bad, 0)


@pytest.mark.parametrize("bad", [
    "not clauses",
    [None],
    [()],
    [(CHRECV,)],
    [(CHSEND, None)],
])
def test_malformed_clauses_are_type_errors(bad):
    with pytest.raises(TypeError):
        choose(bad, 0)


def test_clause_with_non_handle_is_type_error():
    with pytest.raises(TypeError):
        choose([(CHRECV, 42)], 0)
    with pytest.raises(TypeError):
        choose(42, 0)
    b = dill.bundle()
    with pytest.raises(dill.NotSupported):
        choose([(CHRECV, b)], 0)
    hclose(b)


def test_invalid_clause_anywhere_performs_nothing(ch):
    a, b = ch
    cr = go(sender(a, False, "keep"))
    with pytest.raises(ValueError):
        choose([(CHRECV, b), (99, b)], 0)
    # the sender was not consumed by the first (valid, ready) clause
    assert chrecv(b, 0) == "keep"
    hclose(cr)


def test_clauses_as_lists_and_generators(ch):
    a, b = ch
    cr = go(sender(a, False, 1))
    assert choose([[CHRECV, b]]) == (0, 1)
    hclose(cr)
    cr = go(sender(a, False, 2))
    assert choose(c for c in [(CHRECV, b)]) == (0, 2)
    hclose(cr)
