"""Provisioning: the no-op re-run of the whole site.yml and of single tags, this checkout against a baseline commit.

The baseline (BENCH_PROVISIONING_BASELINE, default 65fbe08: the code before the fewer-wider-tasks work) is exported with
`git archive` into a temporary directory. Each side gets its own platform: its own moto server on a free loopback
port and a copy of its own local inventory with its own PostgreSQL clusters, ports and service directories
(scripts/harness/local_platform.py), so neither side's launchers or AWS state are the other's, and a `make up`
platform on the same machine is never touched. Both are provisioned once from scratch (fresh run), then the no-op
re-runs alternate between the two sides, pair after pair, so load on the machine falls on both alike: in each round,
one pair per scope (each tag of BENCH_PROVISIONING_TAGS, then the whole site.yml), this code first in odd rounds and
the baseline first in even ones, so an interrupted run still has complete pairs of every scope. Each run's output,
with ansible.posix.profile_tasks' per-task times, is kept in bench/results/provisioning-<side>-<scope>-<round>.log.

The baseline is checked to be a real one: the same inventory (the local inventory's files compared byte for byte),
the same kind of platform, and no-op re-runs that report changed=0 as this code's must.
"""

from __future__ import annotations

import hashlib
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

BASELINE = os.environ.get("BENCH_PROVISIONING_BASELINE", "65fbe08")
# The tags timed alone, each with the preflight that every tag pays: the ETL play (lookups, CA, package, function,
# schedule, local scheduler) and a cheap one (the storage play's buckets).
TAGS = [t for t in os.environ.get("BENCH_PROVISIONING_TAGS", "etl,storage").split(",") if t]
TARGETS = {"tag": 20, "full": 45}


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


def inventory_digest(tree: Path) -> str:
    """A digest of inventories/local's files (names and contents): equal digests, same inventory."""
    h = hashlib.sha256()
    root = tree / "inventories/local"
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def timed(platform, moto: MotoServer, log: Path, *args: str) -> tuple[float, object]:
    """One site.yml run; its output, with profile_tasks' per-task times, goes to log (bench/results)."""
    env = {**moto.env(), "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
           "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all"}
    t0 = time.perf_counter()
    run = platform.site(env, *args)
    elapsed = time.perf_counter() - t0
    log.write_text(run.output)
    if run.rc != 0:
        raise RuntimeError(f"site.yml {' '.join(args)} failed in {platform.repo}:\n" + run.output[-4000:])
    return elapsed, run


SIDES = ("new", "old")


def scopes(tags: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(scope name, ansible-playbook arguments): each tag alone, then the whole site.yml."""
    return [(f"tag-{t}", ("--tags", t)) for t in tags] + [("full", ())]


def label(scope: str) -> str:
    return f"--tags {scope[4:]}" if scope.startswith("tag-") else "full site.yml"


def measure(platforms: dict, motos: dict, pairs: int, log_dir: Path, record: dict, tags: list[str]) -> dict:
    """Alternating no-op re-runs: in round i, one pair per scope, this code first when i is even, the baseline
    first when odd. Each result is added to ``record`` (and to bench/results/provisioning.json) as it comes, so an
    interrupted run keeps what it measured."""
    for i in range(pairs):
        for scope, args in scopes(tags):
            for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                log = log_dir / f"provisioning-{side}-{scope}-{i + 1}.log"
                load = os.getloadavg()[0]
                elapsed, result = timed(platforms[side], motos[side], log, *args)
                tasks = sum(h["ok"] + h["changed"] + h["skipped"] for h in result.recap.values())
                record.setdefault("runs", []).append({"side": side, "scope": scope, "pair": i + 1, "seconds": elapsed,
                                                      "changed": result.changed, "tasks": tasks, "load": load,
                                                      "changed_tasks": result.changed_tasks()})
                (log_dir / "provisioning.json").write_text(json.dumps(record, indent=2))
    return record


def report(record: dict) -> dict:
    """The BENCHMARKS.md section from a record: fresh runs, then each scope's pairs (complete pairs only)."""
    baseline = record.get("baseline", BASELINE)
    fresh = record.get("fresh", {})
    runs = record.get("runs", [])
    by = {(r["side"], r["scope"], r["pair"]): r for r in runs}
    rows, table = [], []
    if {"new", "old"} <= fresh.keys():
        rows.append({"metric": "full site.yml, fresh emulator (this code)", "value": fresh["new"], "unit": "s",
                     "baseline": f"{baseline}, fresh", "baseline_value": fresh["old"],
                     "ratio": fresh["new"] / fresh["old"]})
    table += ["| scope | round | order | this code (s) | baseline (s) | ratio | tasks (this / baseline) | load 1 min |",
              "|---|---:|---|---:|---:|---:|---|---|"]
    for scope, _ in scopes(record.get("tags", TAGS)):
        pairs = sorted({r["pair"] for r in runs if r["scope"] == scope
                        and ("new", scope, r["pair"]) in by and ("old", scope, r["pair"]) in by})
        for i in pairs:
            new, old = by[("new", scope, i)], by[("old", scope, i)]
            order = "this code first" if (i - 1) % 2 == 0 else "baseline first"
            table.append(f"| {label(scope)} | {i} | {order} | {new['seconds']:.1f} | {old['seconds']:.1f} | "
                         f"{new['seconds'] / old['seconds']:.2f} | {new.get('tasks', '?')} / {old.get('tasks', '?')} | "
                         f"{new.get('load', 0):.1f} / {old.get('load', 0):.1f} |")
        if not pairs:
            continue
        new = statistics.median(by[("new", scope, i)]["seconds"] for i in pairs)
        old = statistics.median(by[("old", scope, i)]["seconds"] for i in pairs)
        ratios = [by[("new", scope, i)]["seconds"] / by[("old", scope, i)]["seconds"] for i in pairs]
        target = TARGETS["tag" if scope.startswith("tag-") else "full"]
        changed = sum(by[("new", scope, i)]["changed"] for i in pairs)
        rows.append({"metric": f"{label(scope)}, no-op re-run (median of {len(pairs)})", "value": new, "unit": "s",
                     "baseline": f"{baseline}, same run", "baseline_value": old, "ratio": new / old,
                     "target": f"< {target} s, changed=0", "met": new < target and changed == 0})
        rows.append({"metric": f"{label(scope)}, ratio per pair (median, min-max)", "value": statistics.median(ratios),
                     "unit": f"{min(ratios):.2f}-{max(ratios):.2f}"})
    changed = {side: sorted({t for r in runs if r["side"] == side for t in r["changed_tasks"]}) for side in SIDES}
    old_changed = sum(r["changed"] for r in runs if r["side"] == "old")
    digests = record.get("inventory", {})
    same_inventory = len(set(digests.values())) == 1 and len(digests) == 2
    loads = [r["load"] for r in runs if "load" in r]
    notes = [
        f"Baseline: commit {baseline} exported with git archive, on a platform of its own (own moto server, "
        "clusters, ports, run directory, made the same way as this code's); the re-runs alternate between the two "
        "sides, pair after pair.",
        "Baseline check: local inventory " + ("identical on both sides" if same_inventory else
                                              f"DIFFERS between the sides ({digests})")
        + "; its no-op re-runs reported " + ("changed=0 like this code's." if old_changed == 0 else
                                             f"changed={old_changed}: not a clean baseline."),
        f"Re-runs of this code reported changed={sum(r['changed'] for r in runs if r['side'] == 'new')} in total "
        f"(tasks: {', '.join(changed['new']) or 'none'}); the baseline's: {old_changed} "
        f"(tasks: {', '.join(changed['old']) or 'none'}).",
        f"Machine: {os.cpu_count()} cores; 1-minute load average at the start of the runs "
        + (f"{min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f}); " if loads else "")
        + f"at the end (1, 5, 15 min) {', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
    ]
    return {"title": "Provisioning", "rows": rows, "markdown": "\n".join(table), "notes": notes}


def run(quick: bool = False) -> dict:
    pairs = 1 if quick else int(os.environ.get("BENCH_PROVISIONING_PAIRS", "3"))
    log_dir = REPO / "bench/results"
    log_dir.mkdir(parents=True, exist_ok=True)
    record: dict = {"baseline": BASELINE, "tags": TAGS, "fresh": {}, "runs": [], "inventory": {}}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clickstream-baseline-", dir="/var/tmp")))
        trees = {"new": REPO, "old": export_tree(BASELINE, tmp / "tree")}
        record["inventory"] = {side: inventory_digest(tree) for side, tree in trees.items()}
        platforms, motos = {}, {}
        for side in SIDES:
            motos[side] = MotoServer(log_dir)
            stack.callback(motos[side].close)
            platforms[side] = stack.enter_context(local_platform(f"clickstream-bench-{side}-", repo=trees[side]))
        for side in SIDES:
            record["fresh"][side], _ = timed(platforms[side], motos[side], log_dir / f"provisioning-{side}-fresh.log")
        measure(platforms, motos, pairs, log_dir, record, TAGS)
    return report(record)


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
