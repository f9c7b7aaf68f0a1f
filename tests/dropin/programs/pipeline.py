"""Producer/consumer over queue.Queue and a Condition-guarded result list.

``pipeline.py [N]`` (or ``PROGRAM_N``; default 40): one producer puts N items
through a 4-slot queue to N // 1000 (at least 3) consumers, which append
squares to a list under a Condition; the main thread waits for all N.
"""
import os
import queue
import sys
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PROGRAM_N", 40))
N_CONSUMERS = max(3, N // 1000)
q = queue.Queue(maxsize=4)
cond = threading.Condition()
results = []


def producer():
    for i in range(N):
        q.put(i)
        if i % max(10, N // 4) == 0:
            time.sleep(0.005)
    for _ in range(N_CONSUMERS):
        q.put(None)


def consumer():
    while True:
        item = q.get()
        if item is None:
            q.task_done()
            return
        with cond:
            results.append(item * item)
            cond.notify_all()
        q.task_done()


threads = [threading.Thread(target=consumer) for _ in range(N_CONSUMERS)]
threads.append(threading.Thread(target=producer))
for t in threads:
    t.start()
print(f"peak threads={threading.active_count()} "
      f"os_threads={len(os.listdir('/proc/self/task'))}", file=sys.stderr)
with cond:
    ok = cond.wait_for(lambda: len(results) == N, timeout=120)
q.join()
for t in threads:
    t.join()
print("complete", ok, len(results), sum(results), sorted(results)[:5])
print("alive", [t.is_alive() for t in threads][:5], sum(t.is_alive() for t in threads))
