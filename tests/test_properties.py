"""Property tests: random schedules of senders, receivers, choosers, timeouts
and cancellations on one channel lose and duplicate nothing."""

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dill
from dill import CHRECV, CHSEND, Canceled, TimedOut, chmake, choose, coroutine, go, hclose, now

deadlines = st.one_of(st.just(-1), st.just(0), st.integers(min_value=1, max_value=3))
op = st.tuples(deadlines, st.booleans())  # (deadline, yield before the op)

actor = st.one_of(
    st.tuples(st.just("send"), st.lists(op, min_size=1, max_size=6)),
    st.tuples(st.just("recv"), st.lists(op, min_size=1, max_size=6)),
    st.tuples(st.just("choose"), st.lists(op, min_size=1, max_size=6)),
)
step = st.one_of(
    st.just(("yield",)),
    st.just(("sleep",)),
    st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=11)),
)


def _deadline(d):
    return d if d <= 0 else now() + d


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(capacity=st.integers(min_value=0, max_value=3),
       actors=st.lists(actor, min_size=1, max_size=12),
       schedule=st.lists(step, max_size=15))
def test_nothing_lost_nothing_duplicated(capacity, actors, schedule):
    a, b = chmake(capacity)     # values flow a -> b
    xa, xb = chmake()           # a channel nobody uses: choose's decoy clauses
    sent, failed, received = [], [], []

    @coroutine
    def sender(i, ops):
        for k, (d, y) in enumerate(ops):
            if y:
                dill.yield_()
            v = (i, k)
            try:
                dill.chsend(a, v, _deadline(d))
            except (TimedOut, Canceled):
                failed.append(v)
                continue
            sent.append(v)

    @coroutine
    def receiver(i, ops):
        for d, y in ops:
            if y:
                dill.yield_()
            try:
                received.append(dill.chrecv(b, _deadline(d)))
            except (TimedOut, Canceled):
                pass

    @coroutine
    def chooser(i, ops):
        for k, (d, y) in enumerate(ops):
            v = (i, k)
            # alternate: receive from b, or send on a; decoys receive on an idle channel
            if k % 2:
                clauses = [(CHRECV, xb), (CHSEND, a, v), (CHRECV, xa)]
            else:
                clauses = [(CHRECV, xa), (CHRECV, b), (CHRECV, xb)]
            try:
                idx, got = choose(clauses, _deadline(d) if not y else now() + 1)
            except (TimedOut, Canceled):
                if k % 2:
                    failed.append(v)
                continue
            if k % 2:
                assert idx == 1 and got is None
                sent.append(v)
            else:
                assert idx == 1
                received.append(got)

    kinds = {"send": sender, "recv": receiver, "choose": chooser}
    handles = [go(kinds[kind](i, ops)) for i, (kind, ops) in enumerate(actors)]
    for s in schedule:
        if s[0] == "yield":
            dill.yield_()
        elif s[0] == "sleep":
            dill.msleep(now() + 1)
        elif s[1] < len(handles):
            hclose(handles[s[1]])
    dill.msleep(now() + 4)  # let every pending timeout fire
    for h in handles:
        hclose(h)
    # whatever is still buffered was delivered to the channel: drain it
    while True:
        try:
            received.append(dill.chrecv(b, 0))
        except TimedOut:
            break
    assert len(received) <= len(sent)
    counts = Counter(received)
    assert all(c == 1 for c in counts.values()), "a value was received twice"
    assert set(received) == set(sent), "a sent value was lost or an unsent one received"
    assert not set(failed) & set(received), "a failed send was delivered"
    assert len(set(sent)) == len(sent)
    for h in (a, b, xa, xb):
        hclose(h)


@settings(max_examples=30, deadline=None)
@given(capacity=st.integers(min_value=0, max_value=4),
       nvalues=st.integers(min_value=0, max_value=30),
       nreceivers=st.integers(min_value=1, max_value=6))
def test_chdone_broadcast_after_drain(capacity, nvalues, nreceivers):
    # every value sent before chdone is received exactly once, then every
    # receiver sees Done
    a, b = chmake(capacity)
    got, dones = [], []

    @coroutine
    def rcv():
        while True:
            try:
                got.append(dill.chrecv(b))
            except dill.Done:
                dones.append(1)
                return

    with dill.bundle() as bund:
        for _ in range(nreceivers):
            bund.go(rcv())
        for v in range(nvalues):
            dill.chsend(a, v)
        dill.chdone(a)
        dill.bundle_wait(bund, now() + 10_000)
    assert sorted(got) == list(range(nvalues))
    assert len(dones) == nreceivers
    hclose(a)
    hclose(b)


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(list(range(6))))
def test_sleep_sort_property(order):
    a, b = chmake()

    @coroutine
    def delay(n):
        dill.msleep(start + 3 * n)
        dill.chsend(a, n)

    start = now() + 50  # every timer is armed before the first one is due
    crs = [go(delay(n)) for n in order]
    got = [dill.chrecv(b) for _ in order]
    assert got == sorted(order)
    for cr in crs:
        hclose(cr)
    hclose(a)
    hclose(b)
