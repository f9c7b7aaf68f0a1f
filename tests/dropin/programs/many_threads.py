"""Start N threads (default 10,000) that each sleep 1 s; report the OS threads used."""
import os
import sys
import threading
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
done = []


def sleeper(i):
    time.sleep(1)
    done.append(i)


t0 = time.monotonic()
threads = [threading.Thread(target=sleeper, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
try:
    os_threads = len(os.listdir("/proc/self/task"))
except OSError:  # pragma: no cover - not Linux
    os_threads = -1
active = threading.active_count()
for t in threads:
    t.join()
print("finished", len(done), sorted(done) == list(range(n)))
print(f"elapsed {time.monotonic() - t0:.2f} os_threads {os_threads}", file=sys.stderr)
print(f"peak threads={active} os_threads={os_threads}", file=sys.stderr)
