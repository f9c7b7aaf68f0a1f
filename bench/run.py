"""Run every workload on every runtime, each in its own subprocess.

    python -m bench [--quick] [--only dill,gevent] [--workloads pingpong,spawn]
                    [--reps N] [--timeout S] [--out bench/results]
    python -m bench --readme [RUN.json] [--check]

Repetitions are interleaved (rep 1 of every runtime, then rep 2, ...) so that
the noise of a shared machine spreads over all runtimes alike.  Prints a
table, writes ``latest.json`` and ``latest.png`` into ``--out``.

``--readme`` runs nothing: it rewrites the README's benchmark tables from the
recorded run, ``bench/recorded/latest.json`` (tracked in git), after first
recording RUN.json there if given (e.g. ``bench/results/latest.json``);
with ``--check`` it only says whether the README is up to date.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):                 # python bench/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (DROPIN_MAX_SECONDS, DROPIN_MODES, DROPIN_REQUESTS,
                          DROPIN_SERVER, ECHO_CLIENTS, ECHO_SIZE, REQUIRES,
                          RUNTIMES, WORKLOADS, fmt)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATIO_LEGEND = ("dill x = how many times better dill is than that runtime: "
                "peer/dill for times and memory, dill/peer for rates (round "
                "trips/s, requests/s) "
                "(2.00 = dill twice as good, 0.50 = half as good)")


def _cmd(module, *args):
    return [sys.executable, "-m", module, *map(str, args)]


def _last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


_EXC_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Group|Interrupt|"
                       r"Canceled|Done|TimedOut|Handle|Supported)\b")


def _failure(rc, stderr):
    """A one-line note: the last exception line of a traceback, if any."""
    lines = [l.strip(" |+-\t") for l in stderr.splitlines()]
    lines = [l for l in lines if l]
    exc = [l for l in lines if _EXC_LINE.match(l)]
    why = (exc or lines or ["no output"])[-1][:120]
    return f"crashed (exit {rc}): {why}"


def run_worker(runtime, workload, n, timeout):
    """Run one measurement; return ``{"metrics"}``, ``{"skip"}`` or ``{"error"}``."""
    try:
        p = subprocess.run(_cmd("bench.worker", runtime, workload, n), cwd=ROOT,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g}s"}
    out = _last_json(p.stdout)
    if p.returncode or out is None:
        return {"error": _failure(p.returncode, p.stderr)}
    return out


def run_echo(runtime, rounds, timeout):
    """Start the runtime's echo server, load it from a separate process."""
    with tempfile.TemporaryFile("w+") as err:
        server = subprocess.Popen(_cmd("bench.worker", runtime, "echo", rounds),
                                  cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=err, text=True)
        try:
            if not select.select([server.stdout], [], [], timeout)[0]:
                return {"error": f"server not listening after {timeout:g}s"}
            hello = _last_json(server.stdout.readline())
            if hello is None:
                server.wait(5)
                err.seek(0)
                return {"error": _failure(server.returncode, err.read())}
            if "port" not in hello:
                return hello                                  # a skip
            try:
                p = subprocess.run(
                    _cmd("bench.loadgen", hello["port"], ECHO_CLIENTS, rounds,
                         ECHO_SIZE),
                    cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return {"error": f"load generator timed out after {timeout:g}s"}
            out = _last_json(p.stdout)
            if p.returncode or out is None:
                return {"error": "load generator " + _failure(p.returncode, p.stderr)}
            return {"metrics": {"echo": out["rt_per_s"]}}
        finally:
            server.kill()
            server.wait()


def peak_rss_mb(pid):
    """A live process's peak resident set size (VmHWM), in MB; None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_dropin(runtime, clients, timeout):
    """Run the unmodified HTTP server the runtime's drop-in way; load it.

    The server is ``bench/dropin_server.py`` as is (threads), under
    ``python -m gevent.monkey`` or under ``python -m dill.patch``; the load
    generator is a separate process.  Reports requests/s over the request
    phase and the server's peak RSS.
    """
    if runtime not in DROPIN_MODES:
        return {"skip": "drop-in modes: " + ", ".join(DROPIN_MODES)}
    cmd = [sys.executable, *DROPIN_MODES[runtime], DROPIN_SERVER]
    with tempfile.TemporaryFile("w+") as err:
        server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=err, text=True)
        try:
            if not select.select([server.stdout], [], [], timeout)[0]:
                return {"error": f"server not listening after {timeout:g}s"}
            hello = _last_json(server.stdout.readline())
            if hello is None:
                server.wait(5)
                err.seek(0)
                return {"error": _failure(server.returncode, err.read())}
            try:
                p = subprocess.run(
                    _cmd("bench.http_loadgen", hello["port"], clients,
                         DROPIN_REQUESTS, "--max-seconds", DROPIN_MAX_SECONDS),
                    cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return {"error": f"load generator timed out after {timeout:g}s"}
            out = _last_json(p.stdout)
            if p.returncode or out is None:
                return {"error": "load generator " + _failure(p.returncode, p.stderr)}
            rss = peak_rss_mb(server.pid)
            if rss is None:
                return {"error": "server exited during the load"}
            return {"metrics": {"dropin": out["req_per_s"], "dropin_rss": rss}}
        finally:
            server.kill()
            server.wait()


def installed(runtime):
    mod = REQUIRES.get(runtime)
    return mod is None or importlib.util.find_spec(mod) is not None


def version(runtime):
    dist = RUNTIMES[runtime][2]
    if dist is None:
        return "Python " + platform.python_version()
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f
                       if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(),
            "python": f"{platform.python_implementation()} "
                      f"{platform.python_version()}",
            "platform": platform.platform()}


def summarize(results, runtimes, workloads):
    """Per metric and runtime: median, min, max and the ratio to dill."""
    summary = {}
    for wname in workloads:
        for m in WORKLOADS[wname].metrics:
            rows = summary[m.name] = {}
            for rt in runtimes:
                samples = results[rt].get(wname, {}).get("samples", {}).get(m.name)
                if samples:
                    rows[rt] = {"median": statistics.median(samples),
                                "min": min(samples), "max": max(samples),
                                "n": len(samples)}
            base = rows.get("dill", {}).get("median")
            for rt, row in rows.items():
                med = row["median"]
                if base and base > 0 and med > 0:
                    row["dill_x"] = base / med if m.higher_is_better else med / base
    return summary


def table(summary, results, runtimes, workloads, versions, mach):
    out = [f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['python']}, "
           f"{mach['platform']}",
           "Versions: " + ", ".join(f"{rt} {versions[rt]}" for rt in runtimes),
           RATIO_LEGEND, ""]
    for wname in workloads:
        w = WORKLOADS[wname]
        for m in w.metrics:
            better = "higher" if m.higher_is_better else "lower"
            out.append(f"{m.name}: {m.unit} ({better} is better) -- {w.doc}")
            out.append(f"  {'runtime':<10}{'median':>12}{'min - max':>24}"
                       f"{'dill x':>9}")
            for rt in runtimes:
                row = summary[m.name].get(rt)
                cell = results[rt].get(wname, {})
                if row:
                    rng = f"{fmt(row['min'])} - {fmt(row['max'])}"
                    ratio = f"{row['dill_x']:.2f}" if "dill_x" in row else "-"
                    line = f"  {rt:<10}{fmt(row['median']):>12}{rng:>24}{ratio:>9}"
                    if cell.get("note"):
                        line += f"  ({cell['note']})"
                else:
                    line = f"  {rt:<10}  {cell.get('note', 'not run')}"
                out.append(line)
            out.append("")
    return "\n".join(out)


def chart(summary, runtimes, workloads, path, title):
    """Grouped bars: per metric, each peer's 'dill x' ratio, log scale."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no chart"
    metrics = [m.name for w in workloads for m in WORKLOADS[w].metrics]
    peers = [rt for rt in runtimes if rt != "dill"]
    if "dill" not in runtimes or not peers:
        return "no chart: it needs dill and at least one peer"
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(metrics)), 5))
    width = 0.8 / len(peers)
    for k, rt in enumerate(peers):
        xs, ys = [], []
        for i, m in enumerate(metrics):
            r = summary[m].get(rt, {}).get("dill_x")
            if r:
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(r)
        ax.bar(xs, ys, width, label=rt)
    for i, m in enumerate(metrics):
        if "dill" not in summary[m]:
            ax.annotate("no dill result", (i, 1), ha="center", va="bottom",
                        fontsize=8, rotation=90, color="gray")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(metrics)), metrics, rotation=30, ha="right")
    ax.set_ylabel("dill x  (>1: dill better; peer/dill, or dill/peer for rates)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small N, 1 rep, no idle100k_*: a few minutes")
    ap.add_argument("--only", help="comma-separated runtimes: " + ",".join(RUNTIMES))
    ap.add_argument("--workloads", help="comma-separated workloads: "
                    + ",".join(WORKLOADS) + " (idle1m_* are opt-in only)")
    ap.add_argument("--reps", type=int, help="repetitions (default 5; quick 1)")
    ap.add_argument("--timeout", type=float,
                    help="seconds per subprocess (default 300; quick 60)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"),
                    help="directory for latest.json and latest.png")
    ap.add_argument("--readme", nargs="?", const="", metavar="RUN.json",
                    help="run nothing; record RUN.json (if given) as "
                    "bench/recorded/latest.json and rewrite the README's "
                    "benchmark tables from the record")
    ap.add_argument("--check", action="store_true",
                    help="with --readme: change nothing, exit 1 if the "
                    "README's tables differ from the record's")
    args = ap.parse_args(argv)
    if args.check and args.readme is None:
        ap.error("--check goes with --readme")

    def pick(text, known, what):
        names = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in names if s not in known]
        if bad:
            ap.error(f"unknown {what}: {', '.join(bad)}")
        return names

    only = pick(args.only, RUNTIMES, "runtime") if args.only else RUNTIMES
    args.runtimes = [rt for rt in RUNTIMES if rt in only]     # table order
    if args.workloads:
        args.workload_list = pick(args.workloads, WORKLOADS, "workload")
    else:
        args.workload_list = [w.name for w in WORKLOADS.values()
                              if w.default and (w.in_quick or not args.quick)]
    args.reps = args.reps or (1 if args.quick else 5)
    args.timeout = args.timeout or (60 if args.quick else 300)
    return args


def code_version():
    """The git commit measured, marked if dill/ or bench/ has changes."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "dill", "bench")
    except OSError:
        return "?"
    return (commit or "?") + (" + uncommitted changes" if dirty else "")


def libraries():
    """Python and every installed distribution a runtime uses."""
    out = {"Python": platform.python_version()}
    for dist in ["greendill", "greenlet", *(d for _, _, d in RUNTIMES.values())]:
        if dist and dist not in out:
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.readme is not None:
        from bench.readme import update_readme
        return update_readme(args.readme or None, check=args.check)
    runtimes, workloads = args.runtimes, args.workload_list
    mach, versions = machine(), {rt: version(rt) for rt in runtimes}
    results = {rt: {} for rt in runtimes}
    for rt in runtimes:
        if not installed(rt):
            for w in workloads:
                results[rt][w] = {"note": f"skipped: {REQUIRES[rt]} not installed"}
    t_start = time.time()
    loads = []       # the 1-minute load average after each repetition
    for wname in workloads:
        w = WORKLOADS[wname]
        n = w.n_for(args.quick)
        for rep in range(args.reps):
            progress = []
            for rt in runtimes:
                cell = results[rt].setdefault(wname, {"n": n})
                if "note" in cell and not cell.get("samples"):
                    continue                 # skipped, failed: don't repeat
                t0 = time.perf_counter()
                if wname == "echo":
                    res = run_echo(rt, n, args.timeout)
                elif wname == "dropin":
                    res = run_dropin(rt, n, args.timeout)
                else:
                    res = run_worker(rt, wname, n, args.timeout)
                wall = time.perf_counter() - t0
                if "metrics" in res:
                    if "note" in res:
                        cell["note"] = res["note"]
                    for k, v in res["metrics"].items():
                        cell.setdefault("samples", {}).setdefault(k, []).append(v)
                    progress.append(f"{rt} " + "/".join(
                        fmt(v) for v in res["metrics"].values())
                        + f" ({wall:.1f}s)")
                else:
                    cell["note"] = (f"skipped: {res['skip']}" if "skip" in res
                                    else res["error"])
                    progress.append(f"{rt} - ({wall:.1f}s)")
            loads.append(os.getloadavg()[0])
            print(f"[{wname} n={n} rep {rep + 1}/{args.reps}] "
                  + "  ".join(progress) + f"  (load {loads[-1]:.1f})",
                  file=sys.stderr, flush=True)
    summary = summarize(results, runtimes, workloads)
    text = table(summary, results, runtimes, workloads, versions, mach)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": " ".join(["python -m bench", *argv]),
           "code": code_version(), "libraries": libraries(),
           "seconds": round(time.time() - t_start, 1),
           "load": {"median": statistics.median(loads), "min": min(loads),
                    "max": max(loads)} if loads else None,
           "machine": mach, "versions": versions,
           "config": {"quick": args.quick, "reps": args.reps,
                      "runtimes": runtimes, "workloads": workloads},
           "workloads": {w: WORKLOADS[w].describe(args.quick)
                         for w in workloads},
           "ratio": RATIO_LEGEND,
           "units": {m.name: {"unit": m.unit,
                              "higher_is_better": m.higher_is_better}
                     for w in workloads for m in WORKLOADS[w].metrics},
           "results": results, "summary": summary}
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1)
    title = (f"dill vs peers, {mach['cpu']} x{mach['cores']}, {mach['python']}"
             f"{' (quick)' if args.quick else ''}: bar = how many times better "
             f"dill is")
    note = chart(summary, runtimes, workloads,
                 os.path.join(args.out, "latest.png"), title)
    print(f"wrote {os.path.join(args.out, 'latest.json')}"
          + (f"; {note}" if note else " and latest.png")
          + f" ({time.time() - t_start:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
