#!/usr/bin/env python3
"""Run every benchmark in bench/ in one process and rewrite BENCHMARKS.md with the figures of this run.

Each benchmark module exposes ``run(quick: bool = False) -> dict`` returning
``{"title": str, "rows": [{"metric", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met"}],
"notes": [str]}`` (a ``"markdown"`` string may replace or complement ``rows``). Baselines are measured in the same
run as the figure they compare with, so ratios stay meaningful on a noisy machine.

Usage: python bench/run_all.py [--quick] [--only ingest,etl,...] [--output BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
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


def section(result: dict) -> str:
    out = [f"## {result.get('title', 'Benchmark')}", ""]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller data sets (for a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(BENCHES))
    ap.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    args = ap.parse_args()
    sys.path[:0] = [str(REPO / "bench"), str(REPO), str(REPO / "lambdas/ingest/src"), str(REPO / "lambdas/etl/src"),
                    str(REPO / "lambdas/local_runtime"), str(REPO / "collections")]
    selected = [b.strip() for b in args.only.split(",") if b.strip()] or list(BENCHES)
    started = dt.datetime.now(dt.UTC)
    sections, failures, raw = [], [], {}
    for name in selected:
        print(f"[bench] {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            result = importlib.import_module(BENCHES[name]).run(quick=args.quick)
        except Exception:  # a failing benchmark is reported, the others still run
            failures.append(name)
            result = {"title": name, "notes": ["FAILED:\n\n```\n" + traceback.format_exc() + "```"]}
        raw[name] = result
        sections.append(section(result))
        print(f"[bench] {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    m = machine()
    head = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python bench/run_all.py{' --quick' if args.quick else ''}`) on "
        f"{started:%Y-%m-%d %H:%M} UTC. Every figure below and its baseline come from this one run, on this machine:",
        "",
        *(f"- {k}: {v}" for k, v in m.items()),
        "",
        "Ratios compare each figure with a baseline measured side by side in the same process; absolute numbers",
        "move with the machine's load, ratios much less. No test asserts a time: these figures live here only.",
        "",
    ]
    Path(args.output).write_text("\n".join(head + sections), encoding="utf-8")
    results_dir = REPO / "bench/results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "all.json").write_text(json.dumps({"machine": m, "results": raw}, indent=2, default=str))
    print(f"[bench] wrote {args.output}")
    if failures:
        print(f"[bench] FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
