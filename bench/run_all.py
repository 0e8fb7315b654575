#!/usr/bin/env python3
"""Run the benchmarks in bench/ in one process and rewrite BENCHMARKS.md with the figures of this run.

Each benchmark module exposes ``run(quick: bool = False) -> dict`` returning
``{"title": str, "rows": [{"metric", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met"}],
"notes": [str]}`` (a ``"markdown"`` string may replace or complement ``rows``). Baselines are measured in the same
run as the figure they compare with, so ratios stay meaningful on a noisy machine.

BENCHMARKS.md: an introduction naming the run that wrote the file (command, date, commit, machine), then one
section per benchmark, each opening with the run that measured it. With --only, the selected sections are
measured again and replaced; the others are kept as they stand in the file (with their own run line).

Usage: python bench/run_all.py [--quick] [--only ingest,etl,...] [--output BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHES = {
    "ingest": "ingest.bench_ingest",
    "etl": "etl.bench_etl",
    "dashboards": "dashboards.bench_dashboards",
    "provisioning": "provisioning.bench_provisioning",
    "fuzz": "fuzz.bench_fuzz",
    "backups": "backups.bench_backups",
    "lake": "lake.bench_lake",
    "makeup": "makeup.bench_makeup",
}


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg or "n/a",
    }


def fmt(v: object) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:,.2f}"
        return f"{v:.3g}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return "" if v is None else str(v)


SECTION_MARK = "<!-- bench: {name} -->"
SECTION_RE = re.compile(r"^<!-- bench: ([a-z_]+) -->$", re.MULTILINE)


def commit() -> str:
    """Short commit of the working tree, with "+ local changes" when it differs from that commit."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + (" + local changes" if dirty else "")


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run_line(command: str, day: str, code: str, m: dict[str, str], load: float | None = None) -> str:
    """The line under a section's title: the run that measured it, and how busy the machine was when it began
    (other processes on the same cores move the absolute figures, much less the same-run ratios)."""
    busy = "" if load is None else f"; load average {load:.1f} when it began"
    return (f"Measured by `{command}` on {day}, code at {code}, on {m['cpu']} ({m['cores']} cores, "
            f"{m['memory']}){busy}.")


def kept_sections(path: Path) -> dict[str, str]:
    """name -> text of each marked section of an existing BENCHMARKS.md (empty when there is none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    marks = list(SECTION_RE.finditer(text))
    return {m.group(1): text[m.start():marks[i + 1].start() if i + 1 < len(marks) else len(text)].rstrip() + "\n"
            for i, m in enumerate(marks)}


def section(result: dict, name: str = "", provenance: str = "") -> str:
    out = [SECTION_MARK.format(name=name)] if name else []
    out += [f"## {result.get('title', 'Benchmark')}", ""]
    if provenance:
        out += [provenance, ""]
    rows = result.get("rows") or []
    if rows:
        out.append("| metric | value | unit | baseline (same run) | baseline value | ratio | target | met |")
        out.append("|---|---:|---|---|---:|---:|---|---|")
        for r in rows:
            out.append("| " + " | ".join(fmt(r.get(k)) for k in (
                "metric", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met")) + " |")
        out.append("")
    if result.get("markdown"):
        out += [result["markdown"].strip(), ""]
    for note in result.get("notes") or []:
        out.append(f"- {note}")
    if result.get("notes"):
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller data sets (for a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(BENCHES))
    ap.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    args = ap.parse_args(argv)
    sys.path[:0] = [str(REPO / "bench"), str(REPO), str(REPO / "lambdas/ingest/src"), str(REPO / "lambdas/etl/src"),
                    str(REPO / "lambdas/local_runtime"), str(REPO / "collections")]
    selected = [b.strip() for b in args.only.split(",") if b.strip()] or list(BENCHES)
    unknown = [b for b in selected if b not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    started = dt.datetime.now(dt.UTC)
    m = machine()
    command = "python bench/run_all.py" + (" --quick" if args.quick else "") + (
        f" --only {','.join(selected)}" if args.only else "")
    code = commit()
    output = Path(args.output)
    kept = kept_sections(output) if args.only else {}
    sections: dict[str, str] = {}
    failures, raw = [], {}
    for name in selected:
        print(f"[bench] {name} ...", flush=True)
        provenance = run_line(command, f"{started:%Y-%m-%d}", code, m, load_average())
        t0 = time.monotonic()
        try:
            result = importlib.import_module(BENCHES[name]).run(quick=args.quick)
        except Exception:  # a failing benchmark is reported, the others still run
            failures.append(name)
            result = {"title": name, "notes": ["FAILED:\n\n```\n" + traceback.format_exc() + "```"]}
        raw[name] = result
        sections[name] = section(result, name, provenance)
        print(f"[bench] {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    missing = [b for b in BENCHES if b not in sections and b not in kept]
    head = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {started:%Y-%m-%d}, code at {code}, on this machine:",
        "",
        *(f"- {k}: {v}" for k, v in m.items()),
        "",
        "Each section opens with the run that measured it (`--only` measures the sections it names and keeps",
        "the others). Within a section, every figure and its baseline come from that one run. Ratios compare each",
        "figure with a baseline measured side by side in the same process; absolute numbers move with the",
        "machine's load, ratios much less. No test asserts a time: these figures live here only.",
        "",
    ]
    if missing:
        head += [f"Not measured yet: {', '.join(missing)} (`python bench/run_all.py --only {','.join(missing)}`).",
                 ""]
    body = [sections.get(b) or kept[b] for b in BENCHES if b in sections or b in kept]
    output.write_text("\n".join(head) + "\n" + "\n".join(body), encoding="utf-8")
    results_dir = REPO / "bench/results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "all.json").write_text(json.dumps({"machine": m, "results": raw}, indent=2, default=str))
    print(f"[bench] wrote {output}")
    if failures:
        print(f"[bench] FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
