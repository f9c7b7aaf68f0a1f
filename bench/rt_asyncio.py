"""asyncio (and, with ``setup("uvloop")``, asyncio on uvloop's event loop)."""

import asyncio
import time

from bench.common import rss_bytes, timer_delays_ms

PARK_SECONDS = 24 * 3600
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


async def _gather(coros):
    """Run the coroutines as tasks and wait for all (TaskGroup when there)."""
    if hasattr(asyncio, "TaskGroup"):
        async with asyncio.TaskGroup() as tg:
            for c in coros:
                tg.create_task(c)
    else:
        await asyncio.gather(*coros)


async def _noop():
    pass


def bench_spawn(n):
    async def main():
        t0 = time.perf_counter()
        await _gather(_noop() for _ in range(n))
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
        t = time.perf_counter()
        await asyncio.sleep(ms / 1e3)
        lateness.append(time.perf_counter() - t - ms / 1e3)

    async def main():
        t0 = time.perf_counter()
        await _gather(sleeper(ms) for ms in timer_delays_ms(n))
        return time.perf_counter() - t0, sum(lateness) / n
    return run(main())


async def _park_all(n):
    tasks = [asyncio.create_task(asyncio.sleep(PARK_SECONDS)) for _ in range(n)]
    await asyncio.sleep(0)        # let every one of them start and park
    return tasks


def bench_cancel(n):
    async def main():
        tasks = await _park_all(n)
        t0 = time.perf_counter()
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks)
        return time.perf_counter() - t0
    return run(main())


def bench_idle(n):
    async def main():
        before = rss_bytes()
        tasks = await _park_all(n)
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
