"""trio: nurseries, memory channels, checkpoints."""

import functools
import time

import trio
import trio.testing

from bench.common import rss_bytes, timer_delays_ms


async def _noop():
    pass


def bench_spawn(n):
    async def main():
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(_noop)
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
        t = time.perf_counter()
        await trio.sleep(ms / 1e3)
        lateness.append(time.perf_counter() - t - ms / 1e3)

    async def main():
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for ms in timer_delays_ms(n):
                nursery.start_soon(sleeper, ms)
        return time.perf_counter() - t0, sum(lateness) / n
    return trio.run(main)


async def _park_all(nursery, n):
    for _ in range(n):
        nursery.start_soon(trio.sleep_forever)
    await trio.testing.wait_all_tasks_blocked()


def bench_cancel(n):
    async def main():
        async with trio.open_nursery() as nursery:
            await _park_all(nursery, n)
            t0 = time.perf_counter()
            nursery.cancel_scope.cancel()
        return time.perf_counter() - t0
    return trio.run(main)


def bench_idle(n):
    async def main():
        before = rss_bytes()
        async with trio.open_nursery() as nursery:
            await _park_all(nursery, n)
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
