"""Non-daemon threads are waited for at exit, daemon ones are not; exit status kept."""
import sys
import threading
import time


def slow():
    time.sleep(0.05)
    print("non-daemon finished", flush=True)


def forever():
    try:
        while True:
            time.sleep(0.01)
    finally:
        pass  # a daemon green thread is canceled (its finally runs); an OS one just dies


threading.Thread(target=slow).start()
threading.Thread(target=forever, daemon=True).start()
print("main done", flush=True)
sys.exit(7)
