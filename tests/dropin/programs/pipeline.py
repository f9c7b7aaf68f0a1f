"""Producer/consumer over queue.Queue and a Condition-guarded result list."""
import queue
import threading
import time

q = queue.Queue(maxsize=4)
cond = threading.Condition()
results = []
N_CONSUMERS = 3


def producer():
    for i in range(40):
        q.put(i)
        if i % 10 == 0:
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
with cond:
    ok = cond.wait_for(lambda: len(results) == 40, timeout=10)
q.join()
for t in threads:
    t.join()
print("complete", ok, len(results), sum(results), sorted(results)[:5])
print("alive", [t.is_alive() for t in threads])
