"""Deadlock reports name a green-lock cycle between two green threads (SPEC-TOOLS 3)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_lock_cycle_between_two_green_threads_is_reported_in_the_root():
    program = textwrap.dedent("""
        import dill
        dill.patch()
        import threading, time
        a, b = threading.Lock(), threading.Lock()
        def one():
            with a:
                time.sleep(0.01)
                with b:
                    pass
        def two():
            with b:
                time.sleep(0.01)
                with a:
                    pass
        t1 = threading.Thread(target=one, name="one")
        t2 = threading.Thread(target=two, name="two")
        t1.start(); t2.start()
        try:
            t1.join()
        except dill.Deadlock as e:
            print("DEADLOCK")
            print(e)
            print("CYCLE", sorted(i.name for i in e.cycle), [i.op for i in e.cycle])
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                       timeout=60, env=env)
    out = r.stdout
    assert "DEADLOCK" in out, (out, r.stderr)
    assert "Cycle: " in out
    assert "lock(" in out and "<string>" in out  # what each waits on, and where
    assert "CYCLE ['one', 'two'] ['lock', 'lock']" in out, out
