"""asyncio (and, with ``setup("uvloop")``, asyncio on uvloop's event loop)."""

import asyncio
import time

from bench.common import (PARK_SECONDS, clock, late_since, rss_bytes,
                          timer_delays_ms)

_loop_factory = None


def setup(variant):
    """Select the event loop: ``"uvloop"`` or the default asyncio loop."""
    global _loop_factory
    if variant == "uvloop":
        import uvloop
        _loop_factory = uvloop.new_event_loop


def run(coro):
    """Run ``coro`` to completion on the selected event loop."""
    if hasattr(asyncio, "Runner"):                       # Python 3.11+
        with asyncio.Runner(loop_factory=_loop_factory) as runner:
            return runner.run(coro)
    if _loop_factory is not None:
        asyncio.set_event_loop_policy(__import__("uvloop").EventLoopPolicy())
    return asyncio.run(coro)


async def _gather(coros, then=None):
    """Run the coroutines as tasks, await ``then()`` if given, and wait for
    all the tasks (in a TaskGroup when there is one)."""
    if hasattr(asyncio, "TaskGroup"):
        async with asyncio.TaskGroup() as tg:
            for c in coros:
                tg.create_task(c)
            if then is not None:
                await then()
    else:
        tasks = [asyncio.ensure_future(c) for c in coros]
        if then is not None:
            await then()
        await asyncio.gather(*tasks)


async def _noop():
    pass


async def _wait_own_event():
    await asyncio.Event().wait()


async def _sleep_long():
    await asyncio.sleep(PARK_SECONDS)


PARK = {"wait": _wait_own_event, "sleep": _sleep_long}


async def _start_parked(n, park):
    tasks = [asyncio.create_task(park()) for _ in range(n)]
    await asyncio.sleep(0)        # let every one of them start and park
    return tasks


def bench_spawn(n):
    async def main():
        t0 = time.perf_counter()
        await _gather(_noop() for _ in range(n))
        return time.perf_counter() - t0
    return run(main())


def bench_spawn_handles(n):
    async def main():
        t0 = time.perf_counter()
        for task in [asyncio.create_task(_noop()) for _ in range(n)]:
            await task
        return time.perf_counter() - t0
    return run(main())


def bench_spawn_alive(n):
    async def main():
        gate = asyncio.Event()

        async def open_gate():
            await asyncio.sleep(0)    # let every one of them start and wait
            gate.set()
        t0 = time.perf_counter()
        await _gather((gate.wait() for _ in range(n)), then=open_gate)
        return time.perf_counter() - t0
    return run(main())


def bench_pingpong(n):
    async def pong(a, b):
        while True:
            await b.put(await a.get())

    async def main():
        a, b = asyncio.Queue(1), asyncio.Queue(1)
        task = asyncio.create_task(pong(a, b))
        t0 = time.perf_counter()
        for i in range(n):
            await a.put(i)
            await b.get()
        elapsed = time.perf_counter() - t0
        task.cancel()
        return elapsed
    return run(main())


async def _yielder(n):
    for _ in range(n):
        await asyncio.sleep(0)


def bench_yield(n):
    async def main():
        t0 = time.perf_counter()
        await _gather(_yielder(n) for _ in range(10))
        return time.perf_counter() - t0
    return run(main())


def bench_timers(n):
    lateness = []

    async def sleeper(ms):
        t0 = clock()
        await asyncio.sleep(ms / 1e3)
        lateness.append(late_since(t0, ms / 1e3))

    async def main():
        t0 = time.perf_counter()
        await _gather(sleeper(ms) for ms in timer_delays_ms(n))
        return time.perf_counter() - t0, sum(lateness) / n
    return run(main())


def bench_cancel(n, shape):
    async def main():
        tasks = await _start_parked(n, PARK[shape])
        t0 = time.perf_counter()
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks)
        return time.perf_counter() - t0
    return run(main())


def bench_idle(n, shape):
    async def main():
        before = rss_bytes()
        tasks = await _start_parked(n, PARK[shape])
        delta = rss_bytes() - before
        del tasks                     # held until measured
        return delta
    return run(main())


def bench_choose(n):
    """Select with ``asyncio.wait(FIRST_COMPLETED)`` over one pending
    ``get()`` task per queue; a finished getter is replaced, the others stay."""
    async def feeder(queues):
        for i in range(n):
            await queues[i & 7].put(i)

    async def main():
        queues = [asyncio.Queue(1) for _ in range(8)]
        feed = asyncio.create_task(feeder(queues))
        t0 = time.perf_counter()
        getters = {asyncio.create_task(q.get()): i for i, q in enumerate(queues)}
        received = 0
        while received < n:
            done, _ = await asyncio.wait(getters,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                i = getters.pop(task)
                task.result()
                received += 1
                getters[asyncio.create_task(queues[i].get())] = i
        elapsed = time.perf_counter() - t0
        for task in getters:
            task.cancel()
        await feed
        return elapsed
    return run(main())


async def _echo_conn(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


def bench_echo(ready):
    """Serve TCP echo forever (streams); call ``ready(port)`` once listening."""
    async def main():
        server = await asyncio.start_server(_echo_conn, "127.0.0.1", 0)
        ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()
    run(main())
