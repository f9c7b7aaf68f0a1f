"""A concurrent.futures.ThreadPoolExecutor workload."""
import concurrent.futures as cf
import threading
import time

lock = threading.Lock()
counter = 0


def work(n):
    global counter
    time.sleep(0.01 * (n % 3))
    with lock:
        counter += 1
    return n * n


with cf.ThreadPoolExecutor(max_workers=4) as ex:
    futs = [ex.submit(work, n) for n in range(20)]
    print("results", [f.result() for f in futs])
    print("map", list(ex.map(work, range(5))))
    done, _ = cf.wait(futs, timeout=5)
    print("done", len(done))
    try:
        ex.submit(lambda: 1 / 0).result()
    except ZeroDivisionError as e:
        print("raised", type(e).__name__)
print("counter", counter)
