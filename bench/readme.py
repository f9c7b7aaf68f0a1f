"""The README's benchmark tables, written from one recorded run.

    python -m bench --readme [RUN.json] [--check]

The recorded run is ``bench/recorded/latest.json`` (tracked in git; a run's
own output, ``bench/results/``, is not).  Each generated part of the README
sits between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``;
everything outside the markers is prose and is left alone.  Every table
comes from the same record, so one workload never shows two figures.
"""

import json
import os
import re
import shutil
import sys

from bench.common import DROPIN_MODES, fmt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = os.path.join(ROOT, "bench", "recorded", "latest.json")
README = os.path.join(ROOT, "README.md")

#: Workloads with a table of their own; the main table leaves them out.
OWN_TABLE = {"dropin": ("dropin", "dropin_rss")}
#: How the drop-in table names each mode.
DROPIN_LABELS = {"dill": "`python -m dill.patch`",
                 "gevent": "`python -m gevent.monkey`", "threads": "OS threads"}
assert set(DROPIN_LABELS) == set(DROPIN_MODES)


def load_record(path=RECORD):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def provenance(rec):
    """The line beside each table: when, by what command, where, versions."""
    m, libs = rec["machine"], dict(rec["libraries"])
    libs.pop("Python", None)
    versions = ", ".join([m["python"]] + [f"{k} {v}" for k, v in libs.items()])
    quick = " (`--quick`: small N)" if rec["config"]["quick"] else ""
    reps = rec["config"]["reps"]
    return (f"Recorded {rec['date']} by `{rec['command']}`{quick} at commit "
            f"{rec['code']}, kept in `bench/recorded/latest.json`. Machine: "
            f"{m['cpu']}, {m['cores']} cores, {m['platform']}. Versions: "
            f"{versions}. " + (f"{reps} interleaved repetitions; medians."
                               if reps > 1 else "1 repetition.") + _load(rec))


def _load(rec):
    """How busy the shared machine was, when the record says."""
    load = rec.get("load")
    if not load:
        return ""
    return (f" 1-minute load average after each repetition: median "
            f"{load['median']:.1f}, {load['min']:.1f} - {load['max']:.1f} on "
            f"{rec['machine']['cores']} cores (the threads runtime's own "
            f"thousands of threads count too).")


def _cell_note(rec, rt, workload):
    return rec["results"].get(rt, {}).get(workload, {}).get("note")


def _dill_x(rt, row):
    """A peer's dill x ratio as text; empty for dill itself."""
    return f"{row['dill_x']:.2f}" if rt != "dill" and "dill_x" in row else ""


def _notes(rec, workloads):
    """Bullet lines: why a cell is n/a, failed or ran a smaller N."""
    by_note = {}
    for w in workloads:
        for rt in rec["config"]["runtimes"]:
            note = _cell_note(rec, rt, w)
            if note:
                note = note.removeprefix("skipped: ")
                by_note.setdefault((rt, note), []).append(f"`{w}`")
    return [f"- {rt}, {', '.join(ws)}: {note}"
            for (rt, note), ws in by_note.items()]


def _main_cell(rec, rt, workload, row):
    """The median and, for a peer, its dill x; or why there is none."""
    if row:
        ratio = _dill_x(rt, row)
        return fmt(row["median"]) + (f" ({ratio})" if ratio else "")
    note = _cell_note(rec, rt, workload) or ""
    return ("n/a" if note.startswith("skipped") else
            "failed" if note else "not run")


def workloads_table(rec):
    lines = ["| workload | N | reported |", "|---|--:|---|"]
    for name, info in rec["workloads"].items():
        lines.append(f"| `{name}` | {info['size']} | {info['doc']} |")
    return lines


def main_table(rec):
    runtimes = rec["config"]["runtimes"]
    workloads = [w for w in rec["config"]["workloads"] if w not in OWN_TABLE]
    lines = [provenance(rec) + " Each cell: the median, and in parentheses "
             "the peer's **dill x** (above 1: dill did better).", "",
             "| workload (unit) | " + " | ".join(runtimes) + " |",
             "|---|" + "--:|" * len(runtimes)]
    for w in workloads:
        for metric in rec["workloads"][w]["metrics"]:
            unit = rec["units"][metric]
            label = unit["unit"] + (", higher is better"
                                    if unit["higher_is_better"] else "")
            rows = rec["summary"].get(metric, {})
            cells = [_main_cell(rec, rt, w, rows.get(rt)) for rt in runtimes]
            lines.append(f"| {metric} ({label}) | " + " | ".join(cells) + " |")
    notes = _notes(rec, workloads)
    return lines + ([""] + notes if notes else [])


def dropin_table(rec):
    rate_m, rss_m = OWN_TABLE["dropin"]
    if "dropin" not in rec["workloads"]:
        return [provenance(rec), "", "The drop-in workload is not in this "
                "recorded run."]
    rate, rss = rec["summary"].get(rate_m, {}), rec["summary"].get(rss_m, {})
    lines = [provenance(rec) + " Load generator on the same machine.", "",
             "| mode | requests/s (median, min - max) | dill x | "
             "peak server RSS, MB | dill x |", "|---|--:|--:|--:|--:|"]
    for rt, label in DROPIN_LABELS.items():
        r, m = rate.get(rt), rss.get(rt)
        if r is None or m is None:
            note = _cell_note(rec, rt, "dropin") or "not run"
            lines.append(f"| {label} | {note} | | | |")
            continue
        lines.append(f"| {label} | {fmt(r['median'])} ({fmt(r['min'])} - "
                     f"{fmt(r['max'])}) | {_dill_x(rt, r)} | "
                     f"{m['median']:.1f} | {_dill_x(rt, m)} |")
    return lines


SECTIONS = {"workloads": workloads_table, "main": main_table,
            "dropin": dropin_table}


def render_sections(rec):
    """``{section name: its text}``, as written between its markers."""
    return {name: "\n".join(render(rec)) for name, render in SECTIONS.items()}


def _pattern(name):
    return re.compile(rf"(<!-- bench:{name}:start -->\n)(.*?)(\n?<!-- "
                      rf"bench:{name}:end -->)", re.S)


def sections_in(text):
    """``{section name: its text}`` as the README has it now."""
    found = {}
    for name in SECTIONS:
        m = _pattern(name).search(text)
        if m:
            found[name] = m.group(2)
    return found


def splice(text, sections):
    """``text`` with each section's markers enclosing its new text."""
    for name, body in sections.items():
        text, count = _pattern(name).subn(
            lambda m: m.group(1) + body + "\n" + m.group(3).lstrip("\n"), text)
        if count != 1:
            raise ValueError(f"README needs exactly one <!-- bench:{name}:start"
                             f" --> ... <!-- bench:{name}:end --> pair, has "
                             f"{count}")
    return text


def update_readme(run_path=None, check=False):
    """Record ``run_path`` (unless checking), then rewrite or check README."""
    if run_path and not check and os.path.abspath(run_path) != RECORD:
        os.makedirs(os.path.dirname(RECORD), exist_ok=True)
        shutil.copyfile(run_path, RECORD)
        print(f"recorded {run_path} as {os.path.relpath(RECORD, ROOT)}")
    with open(README, encoding="utf-8") as f:
        text = f.read()
    new = splice(text, render_sections(load_record(run_path or RECORD)))
    if check:
        stale = [n for n, body in sections_in(new).items()
                 if sections_in(text).get(n) != body]
        print("README benchmark tables: " + (
            "stale: " + ", ".join(stale) + " (run python -m bench --readme)"
            if stale else "up to date"), file=sys.stderr if stale else sys.stdout)
        return 1 if stale else 0
    if new != text:
        with open(README, "w", encoding="utf-8") as f:
            f.write(new)
    print(f"README benchmark tables written from "
          f"{os.path.relpath(RECORD, ROOT)}" + ("" if new != text else
                                                " (no change)"))
    return 0
