"""Several OS threads, one hub each, side by side, talking only through portals.

A test-only check wraps the hub's methods and records every call made from a
thread other than the hub's own (``call_threadsafe`` excepted: it is the one
entry point meant for other threads).
"""

import functools
import threading

import pytest

import dill
from dill import msleep, now
from dill._hub import Hub, get_hub
from dill._threads import Portal, to_thread

pytestmark = pytest.mark.timeout(10)

CHECKED = [
    "suspend", "block", "block_uncancelable", "wake", "cancel", "interrupt_root",
    "yield_", "spawn", "_lone_exited", "_tick", "_poll", "_fire_timers", "_dispatch",
    "_set_mask", "wait_fd", "fdclean", "enable_threadsafe", "_run_threadsafe",
    "_sleep_timeout",
]


@pytest.fixture
def wrong_thread_calls(monkeypatch):
    violations = []
    for name in CHECKED:
        orig = getattr(Hub, name)

        def make(orig, name):
            @functools.wraps(orig)
            def checked(self, *args, **kwargs):
                me = threading.get_ident()
                if me != self.thread_id:
                    violations.append((name, self.thread_id, me))
                return orig(self, *args, **kwargs)
            return checked

        monkeypatch.setattr(Hub, name, make(orig, name))
    return violations


def test_the_check_catches_a_wrong_thread_call(wrong_thread_calls):
    hub = get_hub()
    t = threading.Thread(target=hub.wake, args=(hub.root,))  # root is not waiting
    t.start()
    t.join()
    assert [v[0] for v in wrong_thread_calls] == ["wake"]


def test_hubs_talk_only_through_portals(wrong_thread_calls):
    n_hubs, n_coroutines, n_calls = 4, 5, 20
    portals = [None] * n_hubs
    ready = threading.Barrier(n_hubs)
    finished = threading.Barrier(n_hubs)
    owners = [None] * n_hubs
    received = [[] for _ in range(n_hubs)]
    errors = []

    def deliver(target, value):
        # runs as a coroutine in the target's hub, in the target's thread
        assert threading.get_ident() == owners[target]
        assert get_hub().thread_id == owners[target]
        msleep(now() + (value % 2))  # sometimes block: the target's hub goes on
        received[target].append(value)
        return value

    def hub_main(i):
        try:
            owners[i] = threading.get_ident()
            portal = portals[i] = Portal()
            to_thread(ready.wait, 5)  # every portal exists
            right = portals[(i + 1) % n_hubs]

            def client(k):
                for j in range(n_calls):
                    v = (i * 1000) + k * 100 + j
                    assert right.call(deliver, (i + 1) % n_hubs, v) == v

            with dill.bundle() as b:
                for k in range(n_coroutines):
                    b.go(client, k)
                b.wait()  # our own portal is served meanwhile
            to_thread(finished.wait, 5)  # keep serving until every hub is done
            portal.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            ready.abort()
            finished.abort()

    threads = [threading.Thread(target=hub_main, args=(i,)) for i in range(n_hubs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(8)
    assert errors == []
    for i in range(n_hubs):
        src = (i - 1) % n_hubs
        expect = {src * 1000 + k * 100 + j for k in range(n_coroutines) for j in range(n_calls)}
        assert sorted(received[i]) == sorted(expect)
    assert wrong_thread_calls == []


def test_plain_threads_and_hub_threads_mix(wrong_thread_calls):
    # The main thread's hub serves a portal to plain threads and to a thread
    # that runs its own hub, at the same time.
    hits = []

    def plain(p):
        for k in range(50):
            p.call(hits.append, ("plain", k))

    def hubbed(p):
        with dill.bundle() as b:
            for c in range(3):
                b.go(lambda c=c: [p.call(hits.append, ("hub", c, k)) for k in range(20)])
            b.wait()

    with Portal() as p:
        ts = [threading.Thread(target=plain, args=(p,)) for _ in range(2)]
        ts.append(threading.Thread(target=hubbed, args=(p,)))
        for t in ts:
            t.start()
        for t in ts:
            to_thread(t.join)
    assert len(hits) == 2 * 50 + 3 * 20
    assert wrong_thread_calls == []
