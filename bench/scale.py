"""Scale-out benchmark: gunicorn workers and Celery pools, dill against the others.

    python -m bench.scale [--quick] [--reps N] [--readme] [--from-record]

gunicorn (2 workers on this 2-core machine, ``--worker-connections 1000``): a
hello-world WSGI app (``/``) and an endpoint sleeping 50 ms (``/sleep?0.05``),
1,000 keep-alive clients in a separate load-generator process
(``bench.scale_loadgen``), each doing ``R`` sequential requests after a
warm-up one.  Reported: requests/s, p50 and p99 latency, peak RSS per worker
(VmHWM), for ``-k dill.gunicorn.Worker``, ``-k gevent``, ``-k eventlet`` (when
the installed gunicorn still has it) and ``-k gthread --threads 100``; plus
dill with 1 worker against 2 on hello-world (the scaling ratio).

Celery (one worker, ``-c 1000``, Redis broker and result backend): N tasks that
sleep 10 ms are queued first, then the worker starts; tasks/s is counted from
the first task's completion to the last's (``date_done`` in the results), for
dill's pool, ``-P gevent`` and ``-P threads``.

Repetitions are interleaved (rep 1 of every runtime, then rep 2...) and the
medians reported.  Results go to ``bench/recorded/scale.json``; ``--readme``
writes the table into README.md between the ``bench:scale`` markers.  The
servers and workers are the tests' (``tests/scale``), so the engines and apps
measured are exactly the ones tested.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "scale"))
from scale_engines import APPS, Engine, Gunicorn, free_port, wait_until  # noqa: E402

RECORD = REPO / "bench" / "recorded" / "scale.json"
README = REPO / "README.md"
MARKERS = ("<!-- bench:scale:start -->", "<!-- bench:scale:end -->")

GUNICORN_WORKERS = {
    "dill": ["-k", "dill.gunicorn.Worker"],
    "gevent": ["-k", "gevent"],
    "eventlet": ["-k", "eventlet"],
    "gthread": ["-k", "gthread", "--threads", "100"],
}
HTTP_WORKLOADS = {"hello": "/", "sleep50": "/sleep?0.05"}
CELERY_POOLS = ("dill", "gevent", "threads")


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_ms(pids: list[int]) -> float:
    """User + system CPU the processes have used so far, in ms."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total * _TICK_MS


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def gunicorn_unavailable(kind: str) -> str | None:
    """Why the gunicorn worker ``kind`` cannot run here, or None."""
    if kind == "eventlet" and not _importable("gunicorn.workers.geventlet"):
        return f"gunicorn {metadata.version('gunicorn')} has no eventlet worker"
    if kind in ("gevent", "eventlet") and not _importable(kind):
        return f"{kind} is not installed"
    return None


def _importable(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"],
                          capture_output=True).returncode == 0


def run_http(kind: str, path: str, clients: int, requests: int, workers: int,
             tmp: Path) -> dict:
    """One gunicorn run: start, load, read the workers' peak RSS, stop."""
    g = Gunicorn("wsgi_app:app", tmp / f"gunicorn-{kind}.log", *GUNICORN_WORKERS[kind][2:],
                 "--worker-connections", str(clients), "--keep-alive", "120",
                 "--backlog", "4096", workers=workers, worker=GUNICORN_WORKERS[kind][1])
    try:
        g.ready()
        workers = g.worker_pids()
        cpu0 = _cpu_ms(workers)
        out = subprocess.run([sys.executable, "-m", "bench.scale_loadgen", str(g.port),
                              "--clients", str(clients), "--requests", str(requests),
                              "--path", path, "--max-seconds", "60"],
                             cwd=REPO, capture_output=True, text=True, timeout=180)
        if out.returncode:
            return {"error": out.stderr.strip().splitlines()[-1:]}
        result = json.loads(out.stdout)
        # Every request, the warm-up ones included, on the workers that served them.
        result["cpu_us"] = (_cpu_ms(workers) - cpu0) * 1000 / (result["answered"] + clients)
        rss = [_peak_rss_mb(pid) for pid in g.worker_pids()]
        result["rss_mb"] = statistics.mean(rss) if rss else float("nan")
        return result
    finally:
        g.stop()


def run_celery(pool: str, n: int, redis_url: str, tmp: Path) -> dict:
    """One Celery run: queue ``n`` tasks, start the worker, time the completions."""
    import celery_app

    queue = f"bench-{pool}-{time.monotonic_ns()}"
    ids = celery_app.enqueue_many(celery_app.nap, [(i, 0.01) for i in range(n)], queue)
    pool_args = ["-P", "custom"] if pool == "dill" else ["-P", pool]
    worker = Engine([sys.executable, "-m", "celery", "-A", "celery_app", "worker", *pool_args,
                     "-c", "1000", "-Q", queue, "-n", f"{queue}@%h", "-l", "warning",
                     "--without-mingle", "--without-gossip"], tmp / f"celery-{pool}.log",
                    env={"DILL_TEST_REDIS_URL": redis_url,
                         "CELERY_CUSTOM_WORKER_POOL": "dill.celery:TaskPool"})
    try:
        cpu = _celery_cpu_per_task(worker, celery_app, ids)
        metas = celery_app.results(ids)
    finally:
        worker.signal(signal.SIGKILL)  # measured already; its queue is its own
        worker.stop()
    if [m["result"] for m in metas] != [2 * i for i in range(n)]:
        return {"error": "wrong results"}
    done = sorted(datetime.fromisoformat(m["date_done"]).timestamp() for m in metas)
    span = done[-1] - done[0]
    return {"tasks_per_s": (n - 1) / span if span > 0 else float("nan"), "span_s": span,
            "cpu_us": cpu}


def _celery_cpu_per_task(worker: Engine, celery_app, ids: list) -> float:
    """Wait for every result; the worker's CPU per task (µs) from the first result
    on (start-up excluded)."""
    start = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = sum(1 for m in celery_app.results(ids) if m)
        cpu = _cpu_ms([worker.pid])
        if done and start is None:
            start = (done, cpu)
        if done == len(ids):
            return (cpu - start[1]) * 1000 / max(1, done - start[0])
        time.sleep(0.2)
    raise TimeoutError(f"{len(ids)} Celery results")


def _redis(tmp: Path):
    """(url, engine we started or None) for the Celery runs."""
    url = os.environ.get("DILL_TEST_REDIS_URL")
    if url:
        return url, None
    exe = shutil.which("redis-server")
    if exe is None:
        return None, None
    port = free_port()
    server = Engine([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no"], tmp / "redis.log")
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0", server


def _median(runs: list, key: str) -> float | None:
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def measure(reps: int, quick: bool) -> dict:
    """Every workload ``reps`` times, interleaved; raw runs and medians."""
    clients = 200 if quick else 1000
    requests = 3 if quick else 10
    tasks = 1000 if quick else 10_000
    skipped = {k: why for k in GUNICORN_WORKERS if (why := gunicorn_unavailable(k))}
    kinds = [k for k in GUNICORN_WORKERS if k not in skipped]
    raw: dict = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        redis_url, redis = _redis(tmp)
        if redis_url:
            os.environ["DILL_TEST_REDIS_URL"] = redis_url
            sys.path.insert(0, str(APPS))
        else:
            skipped["celery"] = "no redis-server and no DILL_TEST_REDIS_URL"
        try:
            for rep in range(reps):
                for workload, path in HTTP_WORKLOADS.items():
                    for kind in kinds:
                        r = run_http(kind, path, clients, requests, 2, tmp)
                        raw.setdefault(f"gunicorn/{workload}/{kind}", []).append(r)
                        print(f"rep {rep + 1} gunicorn {workload} {kind}: {_brief(r)}", flush=True)
                r = run_http("dill", "/", clients, requests, 1, tmp)
                raw.setdefault("gunicorn/hello/dill-1worker", []).append(r)
                print(f"rep {rep + 1} gunicorn hello dill, 1 worker: {_brief(r)}", flush=True)
                if redis_url:
                    for pool in CELERY_POOLS:
                        r = run_celery(pool, tasks, redis_url, tmp)
                        raw.setdefault(f"celery/{pool}", []).append(r)
                        print(f"rep {rep + 1} celery {pool}: {_brief(r)}", flush=True)
        finally:
            if redis is not None:
                redis.stop()
    medians = {name: {k: _median(runs, k) for k in ("req_per_s", "p50_ms", "p99_ms", "rss_mb",
                                                      "errors", "tasks_per_s", "cpu_us")
                      if _median(runs, k) is not None}
               for name, runs in raw.items()}
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": _machine(), "versions": _versions(), "reps": reps, "quick": quick,
            "load_average": [load_before, os.getloadavg()[0]],
            "clients": clients, "requests_per_client": requests, "celery_tasks": tasks,
            "skipped": skipped, "medians": medians, "runs": raw}


def _brief(r: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in r.items() if k in ("req_per_s", "p50_ms", "p99_ms", "rss_mb",
                                                    "tasks_per_s", "errors", "error"))


def _machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("greendill", "gunicorn", "gevent", "eventlet", "celery", "redis", "greenlet"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def table(result: dict) -> str:
    """The README's Markdown: one table per engine, ratios to dill beside each peer."""
    m = result["medians"]
    lines = ["| workload | worker | requests/s | p50 ms | p99 ms | worker CPU µs/request | "
             "RSS/worker MB | failed clients | dill x (req/s) | dill x (CPU) |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for workload in HTTP_WORKLOADS:
        base = m.get(f"gunicorn/{workload}/dill", {})
        for kind in GUNICORN_WORKERS:
            row = m.get(f"gunicorn/{workload}/{kind}")
            if not row:
                continue
            peer = kind != "dill" and base
            lines.append(f"| {workload} | {kind} | {row['req_per_s']:,.0f} | "
                         f"{row['p50_ms']:.0f} | {row['p99_ms']:.0f} | "
                         f"{row.get('cpu_us', float('nan')):.0f} | {row['rss_mb']:.0f} | "
                         f"{row.get('errors', 0):.0f} | "
                         f"{_ratio(base.get('req_per_s'), row['req_per_s']) if peer else ''} | "
                         f"{_ratio(row.get('cpu_us'), base.get('cpu_us')) if peer else ''} |")
    one = m.get("gunicorn/hello/dill-1worker", {}).get("req_per_s")
    two = m.get("gunicorn/hello/dill", {}).get("req_per_s")
    out = "\n".join(lines)
    if one and two:
        out += (f"\n\nScaling (hello, dill): 1 worker {one:,.0f} requests/s, 2 workers "
                f"{two:,.0f}: x{two / one:.2f}.")
    celery = [(p, m[f"celery/{p}"]) for p in CELERY_POOLS
              if "tasks_per_s" in m.get(f"celery/{p}", {})]
    if celery:
        base = dict(celery).get("dill", {})
        rows = []
        for p, r in celery:
            peer = p != "dill"
            rows.append(f"| {p} | {r['tasks_per_s']:,.0f} | {r.get('cpu_us', float('nan')):,.0f} | "
                        f"{_ratio(base.get('tasks_per_s'), r['tasks_per_s']) if peer else ''} | "
                        f"{_ratio(r.get('cpu_us'), base.get('cpu_us')) if peer else ''} |")
        out += ("\n\n| Celery pool (-c 1000) | tasks/s | worker CPU µs/task | dill x (tasks/s) | "
                "dill x (CPU) |\n|---|--:|--:|--:|--:|\n" + "\n".join(rows))
    skipped = "; ".join(f"{k}: {v}" for k, v in result["skipped"].items())
    v = result["versions"]
    load = result.get("load_average")
    load_note = f"; load average {load[0]:.1f} before, {load[1]:.1f} after" if load else ""
    out += (f"\n\n{result['date']}; {result['machine']}{load_note}; {result['reps']} interleaved "
            f"repetitions, medians; {result['clients']} clients x "
            f"{result['requests_per_client']} requests; {result['celery_tasks']:,} tasks. "
            f"Python {v.get('python')}, gunicorn {v.get('gunicorn')}, gevent "
            f"{v.get('gevent')}, celery {v.get('celery')}, greenlet {v.get('greenlet')}."
            + (f" Skipped: {skipped}." if skipped else ""))
    return out


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else ""


def write_readme(text: str) -> None:
    """Replace what is between the ``bench:scale`` markers in README.md."""
    readme = README.read_text()
    start, end = MARKERS
    if start not in readme or end not in readme:
        raise SystemExit(f"README.md has no {start} ... {end} markers")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main(argv: list | None = None) -> None:
    """Command line: see the module's docstring."""
    ap = argparse.ArgumentParser(prog="python -m bench.scale")
    ap.add_argument("--quick", action="store_true", help="200 clients, 1,000 tasks, 1 rep")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3; quick 1)")
    ap.add_argument("--readme", action="store_true",
                    help="write the table into README.md (from this run)")
    ap.add_argument("--from-record", action="store_true",
                    help="no run: print (and with --readme write) the recorded run's table")
    args = ap.parse_args(argv)
    if args.from_record:
        result = json.loads(RECORD.read_text())
        print(table(result))
        if args.readme:
            write_readme(table(result))
        return
    reps = args.reps or (1 if args.quick else 3)
    result = measure(reps, args.quick)
    text = table(result)
    print(text)
    if not args.quick:
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"recorded in {RECORD.relative_to(REPO)}")
    if args.readme:
        write_readme(text)


if __name__ == "__main__":
    main()
