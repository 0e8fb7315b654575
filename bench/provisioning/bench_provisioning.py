"""Provisioning: the no-op re-run of the whole site.yml and of one tag, this checkout against a baseline commit.

The baseline (BENCH_PROVISIONING_BASELINE, default c3acb20: the code before the re-run work) is exported with
`git archive` into a temporary directory. Each side gets its own platform: its own moto server on a free loopback
port and a copy of its own local inventory with its own PostgreSQL clusters, ports and service directories
(tests/support/local_platform.py), so neither side's launchers or AWS state are the other's, and a `make up`
platform on the same machine is never touched. Both are provisioned once from scratch (fresh run), then the no-op
re-runs alternate between the two sides, pair after pair, so load on the machine falls on both alike. Each run's
output, with ansible.posix.profile_tasks' slowest tasks, is kept in bench/results/provisioning-<side>-<run>.log.
"""

from __future__ import annotations

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

from tests.support.local_platform import local_platform  # noqa: E402
from tests.support.moto import MotoServer  # noqa: E402

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


def run(quick: bool = False) -> dict:
    pairs = 1 if quick else int(os.environ.get("BENCH_PROVISIONING_PAIRS", "3"))
    log_dir = REPO / "bench/results"
    log_dir.mkdir(parents=True, exist_ok=True)
    sides = ("new", "old")
    times: dict[str, dict[str, list[float]]] = {s: {"full": [], "tag": []} for s in sides}
    changed: dict[str, list[int]] = {s: [] for s in sides}
    changed_tasks: dict[str, set[str]] = {s: set() for s in sides}
    fresh: dict[str, float] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clickstream-baseline-", dir="/var/tmp")))
        trees = {"new": REPO, "old": export_tree(BASELINE, tmp / "tree")}
        platforms, motos = {}, {}
        for side in sides:
            motos[side] = MotoServer(log_dir)
            stack.callback(motos[side].close)
            platforms[side] = stack.enter_context(local_platform(f"clickstream-bench-{side}-", repo=trees[side]))
        for side in sides:
            fresh[side], _ = timed(platforms[side], motos[side], log_dir / f"provisioning-{side}-fresh.log")
        for i in range(pairs):
            order = sides if i % 2 == 0 else sides[::-1]
            for scope, args in (("full", ()), ("tag", ("--tags", TAG))):
                for side in order:
                    log = log_dir / f"provisioning-{side}-{scope}-{i + 1}.log"
                    elapsed, result = timed(platforms[side], motos[side], log, *args)
                    times[side][scope].append(elapsed)
                    changed[side].append(result.changed)
                    changed_tasks[side].update(result.changed_tasks())

    def med(side: str, scope: str) -> float:
        return statistics.median(times[side][scope])

    rows = [
        {"metric": "full site.yml, fresh emulator (this code)", "value": fresh["new"], "unit": "s",
         "baseline": f"{BASELINE}, fresh", "baseline_value": fresh["old"], "ratio": fresh["new"] / fresh["old"]},
        {"metric": f"full site.yml, no-op re-run (median of {pairs})", "value": med("new", "full"), "unit": "s",
         "baseline": f"{BASELINE}, same run", "baseline_value": med("old", "full"),
         "ratio": med("new", "full") / med("old", "full"), "target": "< 45 s, changed=0",
         "met": med("new", "full") < 45 and not any(changed["new"])},
        {"metric": f"--tags {TAG}, no-op re-run (median of {pairs})", "value": med("new", "tag"), "unit": "s",
         "baseline": f"{BASELINE}, same run", "baseline_value": med("old", "tag"),
         "ratio": med("new", "tag") / med("old", "tag"), "target": "< 20 s", "met": med("new", "tag") < 20},
    ]
    table = ["| pair | order | full: this code (s) | full: baseline (s) | ratio | "
             f"--tags {TAG}: this code (s) | --tags {TAG}: baseline (s) | ratio |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for i in range(pairs):
        order = "this code first" if i % 2 == 0 else "baseline first"
        nf, of = times["new"]["full"][i], times["old"]["full"][i]
        nt, ot = times["new"]["tag"][i], times["old"]["tag"][i]
        table.append(f"| {i + 1} | {order} | {nf:.1f} | {of:.1f} | {nf / of:.2f} | {nt:.1f} | {ot:.1f} | "
                     f"{nt / ot:.2f} |")
    notes = [
        f"Baseline: commit {BASELINE} exported with git archive, on a platform of its own (own moto server, "
        "clusters, ports, run directory); the re-runs alternate between the two sides.",
        f"Re-runs of this code reported changed={sum(changed['new'])} in total "
        f"(tasks: {', '.join(sorted(changed_tasks['new'])) or 'none'}); the baseline's: {sum(changed['old'])} "
        f"(tasks: {', '.join(sorted(changed_tasks['old'])) or 'none'}).",
        f"Machine load (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"{os.cpu_count()} cores.",
    ]
    return {"title": "Provisioning", "rows": rows, "markdown": "\n".join(table), "notes": notes}


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
