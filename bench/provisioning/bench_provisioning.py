"""Provisioning: the no-op re-run of the whole site.yml and of one tag, this checkout against a baseline commit.

The baseline (BENCH_PROVISIONING_BASELINE, default c3acb20: the code before the re-run work) is exported with
`git archive` into a temporary directory. Each side gets its own platform: its own moto server on a free loopback
port and a copy of its own local inventory with its own PostgreSQL clusters, ports and service directories
(scripts/harness/local_platform.py), so neither side's launchers or AWS state are the other's, and a `make up`
platform on the same machine is never touched. Both are provisioned once from scratch (fresh run), then the no-op
re-runs alternate between the two sides, pair after pair, so load on the machine falls on both alike. Each run's
output, with ansible.posix.profile_tasks' slowest tasks, is kept in bench/results/provisioning-<side>-<run>.log.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.harness.local_platform import local_platform  # noqa: E402
from scripts.harness.moto import MotoServer  # noqa: E402

BASELINE = os.environ.get("BENCH_PROVISIONING_BASELINE", "c3acb20")
# The tag timed alone: the ETL play with the preflight that every tag pays.
TAG = os.environ.get("BENCH_PROVISIONING_TAG", "etl")


def export_tree(ref: str, dest: Path) -> Path:
    """`git archive ref` unpacked into dest, with this checkout's Lambda wheel cache (so no pip download)."""
    dest.mkdir(parents=True)
    with tempfile.TemporaryFile() as tar:
        subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref], stdout=tar, check=True)
        tar.seek(0)
        subprocess.run(["tar", "-x", "-C", str(dest)], stdin=tar, check=True)
    cache = REPO / "build/cache"
    if cache.is_dir():
        shutil.copytree(cache, dest / "build/cache", symlinks=True)
    return dest


def timed(platform, moto: MotoServer, log: Path, *args: str) -> tuple[float, object]:
    """One site.yml run; its output, with profile_tasks' per-task times, goes to log (bench/results)."""
    env = {**moto.env(), "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
           "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "40"}
    t0 = time.perf_counter()
    run = platform.site(env, *args)
    elapsed = time.perf_counter() - t0
    log.write_text(run.output)
    if run.rc != 0:
        raise RuntimeError(f"site.yml {' '.join(args)} failed in {platform.repo}:\n" + run.output[-4000:])
    return elapsed, run


SIDES = ("new", "old")
SCOPES = (("tag", ("--tags", TAG)), ("full", ()))


def measure(platforms: dict, motos: dict, pairs: int, log_dir: Path, record: dict) -> dict:
    """Alternating no-op re-runs, one scope after the other (the short tag first): pair i runs this code first
    when i is even, the baseline first when odd. Each result is added to ``record`` (and to
    bench/results/provisioning.json) as it comes, so an interrupted run keeps what it measured."""
    for scope, args in SCOPES:
        for i in range(pairs):
            for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                log = log_dir / f"provisioning-{side}-{scope}-{i + 1}.log"
                elapsed, result = timed(platforms[side], motos[side], log, *args)
                record.setdefault("runs", []).append({"side": side, "scope": scope, "pair": i + 1, "seconds": elapsed,
                                                      "changed": result.changed,
                                                      "changed_tasks": result.changed_tasks()})
                (log_dir / "provisioning.json").write_text(json.dumps(record, indent=2))
    return record


def report(record: dict) -> dict:
    """The BENCHMARKS.md section from a record: fresh runs, then each scope's pairs (complete pairs only)."""
    fresh = record.get("fresh", {})
    runs = record.get("runs", [])
    by = {(r["side"], r["scope"], r["pair"]): r for r in runs}
    rows, table = [], []
    if {"new", "old"} <= fresh.keys():
        rows.append({"metric": "full site.yml, fresh emulator (this code)", "value": fresh["new"], "unit": "s",
                     "baseline": f"{BASELINE}, fresh", "baseline_value": fresh["old"],
                     "ratio": fresh["new"] / fresh["old"]})
    table += ["| scope | pair | order | this code (s) | baseline (s) | ratio |", "|---|---:|---|---:|---:|---:|"]
    for scope, args in SCOPES:
        label = f"--tags {TAG}" if args else "full site.yml"
        pairs = sorted({r["pair"] for r in runs if r["scope"] == scope
                        and ("new", scope, r["pair"]) in by and ("old", scope, r["pair"]) in by})
        for i in pairs:
            new, old = by[("new", scope, i)]["seconds"], by[("old", scope, i)]["seconds"]
            order = "this code first" if (i - 1) % 2 == 0 else "baseline first"
            table.append(f"| {label} | {i} | {order} | {new:.1f} | {old:.1f} | {new / old:.2f} |")
        if not pairs:
            continue
        new = statistics.median(by[("new", scope, i)]["seconds"] for i in pairs)
        old = statistics.median(by[("old", scope, i)]["seconds"] for i in pairs)
        ratios = [by[("new", scope, i)]["seconds"] / by[("old", scope, i)]["seconds"] for i in pairs]
        target = 20 if args else 45
        changed = sum(by[("new", scope, i)]["changed"] for i in pairs)
        rows.append({"metric": f"{label}, no-op re-run (median of {len(pairs)})", "value": new, "unit": "s",
                     "baseline": f"{BASELINE}, same run", "baseline_value": old, "ratio": new / old,
                     "target": f"< {target} s, changed=0", "met": new < target and changed == 0})
        rows.append({"metric": f"{label}, ratio per pair (median, min-max)", "value": statistics.median(ratios),
                     "unit": f"{min(ratios):.2f}-{max(ratios):.2f}"})
    changed = {side: sorted({t for r in runs if r["side"] == side for t in r["changed_tasks"]}) for side in SIDES}
    notes = [
        f"Baseline: commit {BASELINE} exported with git archive, on a platform of its own (own moto server, "
        "clusters, ports, run directory); the re-runs alternate between the two sides, pair after pair.",
        f"Re-runs of this code reported changed={sum(r['changed'] for r in runs if r['side'] == 'new')} in total "
        f"(tasks: {', '.join(changed['new']) or 'none'}); the baseline's: "
        f"{sum(r['changed'] for r in runs if r['side'] == 'old')} (tasks: {', '.join(changed['old']) or 'none'}).",
        f"Machine: {os.cpu_count()} cores; load average (1, 5, 15 min) at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
    ]
    return {"title": "Provisioning", "rows": rows, "markdown": "\n".join(table), "notes": notes}


def run(quick: bool = False) -> dict:
    pairs = 1 if quick else int(os.environ.get("BENCH_PROVISIONING_PAIRS", "3"))
    log_dir = REPO / "bench/results"
    log_dir.mkdir(parents=True, exist_ok=True)
    record: dict = {"baseline": BASELINE, "tag": TAG, "fresh": {}, "runs": []}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clickstream-baseline-", dir="/var/tmp")))
        trees = {"new": REPO, "old": export_tree(BASELINE, tmp / "tree")}
        platforms, motos = {}, {}
        for side in SIDES:
            motos[side] = MotoServer(log_dir)
            stack.callback(motos[side].close)
            platforms[side] = stack.enter_context(local_platform(f"clickstream-bench-{side}-", repo=trees[side]))
        for side in SIDES:
            record["fresh"][side], _ = timed(platforms[side], motos[side], log_dir / f"provisioning-{side}-fresh.log")
        measure(platforms, motos, pairs, log_dir, record)
    return report(record)


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
