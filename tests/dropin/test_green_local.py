"""A green thread's ``threading.local`` values die with it (issue 15), patched.

Each case runs in a fresh interpreter: ``dill.patch()`` is process-wide.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

PRELUDE = """
import gc, threading, weakref
import dill
dill.patch()

class Obj:
    pass

local = threading.local()
refs = []

def run(body):
    t = threading.Thread(target=body)
    t.start()
    t.join()
    del t
    gc.collect()
    return refs[-1]() is None
"""


def patched(code: str) -> str:
    src = textwrap.dedent(PRELUDE) + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_plain_value_dies_with_its_thread():
    assert patched("""
        def body():
            obj = local.x = Obj()
            refs.append(weakref.ref(obj))
        print(run(body), hasattr(local, "x"))
    """) == "True False"


def test_value_in_a_cycle_through_the_local_is_collected():
    assert patched("""
        def body():
            obj = local.x = Obj()
            obj.ref = local
            refs.append(weakref.ref(obj))
        print(run(body))
    """) == "True"


def test_value_in_a_cycle_through_the_thread_is_collected():
    assert patched("""
        def body():
            obj = local.x = Obj()
            obj.thread = threading.current_thread()
            obj.thread.obj = obj
            refs.append(weakref.ref(obj))
        print(run(body))
    """) == "True"


def test_values_of_a_running_thread_and_of_the_root_stay():
    assert patched("""
        local.x = "root"
        seen = []
        gate = threading.Event()

        def body():
            local.x = obj = Obj()
            refs.append(weakref.ref(obj))
            del obj
            gate.wait()
            seen.append(type(local.x).__name__)

        t = threading.Thread(target=body)
        t.start()
        gc.collect()
        alive = refs[-1]() is not None
        gate.set()
        t.join()
        gc.collect()
        print(alive, seen, local.x, refs[-1]() is None)
    """) == "True ['Obj'] root True"
