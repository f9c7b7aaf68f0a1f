"""trio: nurseries, memory channels, checkpoints."""

import functools
import time

import trio
import trio.testing

from bench.common import (PARK_SECONDS, clock, late_since, rss_bytes,
                          timer_delays_ms)


async def _noop():
    pass


async def _wait_own_event():
    await trio.Event().wait()


async def _sleep_long():
    await trio.sleep(PARK_SECONDS)


PARK = {"wait": _wait_own_event, "sleep": _sleep_long}


async def _start_parked(nursery, n, park):
    for _ in range(n):
        nursery.start_soon(park)
    await trio.testing.wait_all_tasks_blocked()


def bench_spawn(n):
    async def main():
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(_noop)
        return time.perf_counter() - t0
    return trio.run(main)


def bench_spawn_handles(n):
    """trio has no task handles; the closest: each task sets its own Event,
    and the parent awaits the events in turn."""
    async def noop_then(done):
        done.set()

    async def main():
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            events = [trio.Event() for _ in range(n)]
            for done in events:
                nursery.start_soon(noop_then, done)
            for done in events:
                await done.wait()
        return time.perf_counter() - t0
    return trio.run(main)


def bench_spawn_alive(n):
    async def main():
        gate = trio.Event()
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            await _start_parked(nursery, n, gate.wait)
            gate.set()
        return time.perf_counter() - t0
    return trio.run(main)


def bench_pingpong(n):
    async def pong(a_recv, b_send):
        async for value in a_recv:
            await b_send.send(value)

    async def main():
        a_send, a_recv = trio.open_memory_channel(0)
        b_send, b_recv = trio.open_memory_channel(0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pong, a_recv, b_send)
            t0 = time.perf_counter()
            for i in range(n):
                await a_send.send(i)
                await b_recv.receive()
            elapsed = time.perf_counter() - t0
            nursery.cancel_scope.cancel()
        return elapsed
    return trio.run(main)


async def _yielder(n):
    for _ in range(n):
        await trio.sleep(0)


def bench_yield(n):
    async def main():
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(_yielder, n)
        return time.perf_counter() - t0
    return trio.run(main)


def bench_timers(n):
    lateness = []

    async def sleeper(ms):
        t0 = clock()
        await trio.sleep(ms / 1e3)
        lateness.append(late_since(t0, ms / 1e3))

    async def main():
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for ms in timer_delays_ms(n):
                nursery.start_soon(sleeper, ms)
        return time.perf_counter() - t0, sum(lateness) / n
    return trio.run(main)


def bench_cancel(n, shape):
    async def main():
        async with trio.open_nursery() as nursery:
            await _start_parked(nursery, n, PARK[shape])
            t0 = time.perf_counter()
            nursery.cancel_scope.cancel()
        return time.perf_counter() - t0
    return trio.run(main)


def bench_idle(n, shape):
    async def main():
        before = rss_bytes()
        async with trio.open_nursery() as nursery:
            await _start_parked(nursery, n, PARK[shape])
            delta = rss_bytes() - before
            nursery.cancel_scope.cancel()
        return delta
    return trio.run(main)


def bench_choose(n):
    """trio has no select: fan the 8 channels in to one (trio's advice)."""
    async def forward(i, recv, out):
        async for value in recv:
            await out.send((i, value))

    async def feeder(sends):
        for i in range(n):
            await sends[i & 7].send(i)

    async def main():
        pairs = [trio.open_memory_channel(0) for _ in range(8)]
        out_send, out_recv = trio.open_memory_channel(0)
        async with trio.open_nursery() as nursery:
            for i, (_, recv) in enumerate(pairs):
                nursery.start_soon(forward, i, recv, out_send)
            nursery.start_soon(feeder, [send for send, _ in pairs])
            t0 = time.perf_counter()
            for _ in range(n):
                await out_recv.receive()
            elapsed = time.perf_counter() - t0
            nursery.cancel_scope.cancel()
        return elapsed
    return trio.run(main)


async def _echo_conn(stream):
    async for data in stream:
        await stream.send_all(data)


def bench_echo(ready):
    """Serve TCP echo forever; call ``ready(port)`` once listening."""
    async def main():
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, _echo_conn, 0,
                                  host="127.0.0.1"))
            ready(listeners[0].socket.getsockname()[1])
    trio.run(main)
