"""The drop-in program proofs at full scale: plain, then under dill.patch.

    python tests/dropin/run_programs_full.py [--small] [NAME ...]

Runs each program of ``tests/dropin/programs`` at full scale (5,000
concurrent clients, 2,000 concurrent page fetches...) twice, unmodified: on
OS threads (``python prog.py N``) and green (``python -m dill.patch prog.py
N``).  Compares the outputs and prints a table: seconds each way (wall, with
interpreter start), whether stdout and exit status are identical, and the
threads alive / OS threads at the program's peak (each program reports them
on stderr as ``peak threads=A os_threads=B``; the OS threads are also sampled
from /proc during the run, and the larger count is shown).  ``--small`` runs
the pytest sizes instead.  Exits 1 if any program differs or fails.
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")

#: Program -> (full-scale N, what N is).
PROGRAMS = {
    "socketserver_echo.py": (5_000, "concurrent clients of a ThreadingTCPServer echo server"),
    "http_server.py": (5_000, "concurrent keep-alive clients of a ThreadingHTTPServer"),
    "http_urllib.py": (2_000, "pages fetched concurrently with urllib.request"),
    "http_requests.py": (2_000, "pages fetched concurrently with requests"),
    "executor.py": (5_000, "ThreadPoolExecutor tasks (500 workers)"),
    "pipeline.py": (100_000, "items through queue.Queue + Condition (100 consumers)"),
    "many_threads.py": (10_000, "threads sleeping 1 s"),
}
PEAK = re.compile(r"peak threads=(\d+) os_threads=(\d+)")
TIMEOUT = 600


def raise_nofile():
    """Let the programs (which inherit it) open as many files as allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def os_threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def run(path, n, patched):
    """Run one program; return stdout, stderr, exit status, seconds, peak counts."""
    cmd = [sys.executable] + (["-m", "dill.patch"] if patched else []) + [path]
    if n is not None:
        cmd.append(str(n))
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampled = 0
    try:
        while True:
            try:
                out, err = p.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                sampled = max(sampled, os_threads(p.pid))
                if time.perf_counter() - t0 > TIMEOUT:
                    p.kill()
                    out, err = p.communicate()
                    err += f"\n[timed out after {TIMEOUT}s]"
                    break
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    seconds = time.perf_counter() - t0
    m = PEAK.search(err)
    threads, reported = (int(m.group(1)), int(m.group(2))) if m else (None, 0)
    return {"out": out, "err": err, "rc": p.returncode, "seconds": seconds,
            "threads": threads, "os_threads": max(reported, sampled) or None}


def _peak(r):
    t = "?" if r["threads"] is None else f"{r['threads']:,}"
    o = "?" if r["os_threads"] is None else f"{r['os_threads']:,}"
    return f"{t} / {o}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="the pytest sizes")
    ap.add_argument("names", nargs="*", help="programs (default: all)")
    args = ap.parse_args(argv)
    names = args.names or list(PROGRAMS)
    raise_nofile()
    rows, failed = [], False
    for name in names:
        n = None if args.small else PROGRAMS[name][0]
        path = os.path.join(HERE, name)
        plain = run(path, n, patched=False)
        green = run(path, n, patched=True)
        same = (plain["out"] == green["out"] and plain["rc"] == green["rc"]
                and plain["rc"] == 0 and bool(plain["out"]))
        failed |= not same
        rows.append((name, "default" if n is None else f"{n:,}", plain, green, same))
        print(f"{name}: plain {plain['seconds']:.1f}s rc={plain['rc']}, "
              f"patched {green['seconds']:.1f}s rc={green['rc']}, "
              f"identical {'yes' if same else 'NO'}", file=sys.stderr, flush=True)
        if not same:
            for label, r in (("plain", plain), ("patched", green)):
                print(f"--- {label} stdout:\n{r['out'][-2000:]}\n--- {label} stderr:\n"
                      f"{r['err'][-2000:]}", file=sys.stderr)
    print_table(rows)
    return 1 if failed else 0


def print_table(rows):
    head = ("program", "N", "plain s", "patched s", "identical",
            "plain threads / OS", "patched threads / OS")
    lines = [head] + [(name, n, f"{p['seconds']:.2f}", f"{g['seconds']:.2f}",
                       "yes" if same else "NO", _peak(p), _peak(g))
                      for name, n, p, g, same in rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(out))
    for name, _, _, _, _ in rows:
        print(f"  {name}: {PROGRAMS[name][1]}")


if __name__ == "__main__":
    raise SystemExit(main())
