"""A concurrent.futures.ThreadPoolExecutor workload.

``executor.py [N]`` (or ``PROGRAM_N``; default 20): N tasks on N // 10 (at
least 4) workers, each sleeping 0-20 ms and bumping a locked counter; then
``map``, ``wait`` and an exception through a future.
"""
import concurrent.futures as cf
import os
import sys
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PROGRAM_N", 20))
WORKERS = max(4, N // 10)
lock = threading.Lock()
counter = 0


def work(n):
    global counter
    time.sleep(0.01 * (n % 3))
    with lock:
        counter += 1
    return n * n


with cf.ThreadPoolExecutor(max_workers=WORKERS) as ex:
    futs = [ex.submit(work, n) for n in range(N)]
    results = [f.result() for f in futs]
    print("results", len(results), sum(results), results[:20])
    print("map", list(ex.map(work, range(5))))
    done, _ = cf.wait(futs, timeout=5)
    print("done", len(done))
    try:
        ex.submit(lambda: 1 / 0).result()
    except ZeroDivisionError as e:
        print("raised", type(e).__name__)
    print(f"peak threads={threading.active_count()} "
          f"os_threads={len(os.listdir('/proc/self/task'))}", file=sys.stderr)
print("counter", counter)
