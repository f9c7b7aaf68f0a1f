"""What the blocking detector costs: channel ping-pong with it off vs on.

    /tmp/v/bin/python -m pytest bench/test_detector_cost.py --benchmark-group-by=group

Off, nothing is added to the scheduler (no hook in ``Hub.suspend``); on, every
greenlet switch calls one trace function (a time stamp), and a watchdog
thread wakes every quarter threshold.  A round trip is two switches.
"""

import pytest

import dill
from dill._detector import disable_blocking_detector, enable_blocking_detector

ROUNDS = 10_000


def pingpong(n=ROUNDS):
    a, b = dill.chmake()

    def echo():
        for _ in range(n):
            b.send(b.recv())

    cr = dill.go(echo)
    for i in range(n):
        a.send(i)
        a.recv()
    cr.wait()
    a.close()
    b.close()


@pytest.fixture(params=["off", "on"])
def detector(request):
    if request.param == "on":
        enable_blocking_detector(threshold_ms=100)
    yield request.param
    disable_blocking_detector()


@pytest.mark.benchmark(group="detector: ping-pong 10k round trips")
def test_pingpong(benchmark, detector):
    benchmark.extra_info["detector"] = detector
    benchmark.pedantic(pingpong, rounds=10, iterations=1, warmup_rounds=1)
