"""Provisioning: the no-op re-run of the whole site.yml and of single tags, this checkout against a baseline commit.

The baseline (BENCH_PROVISIONING_BASELINE, default 1c3b42d: main before the AWS and database roles were cut to fewer,
wider tasks) is
exported with `git archive` into a temporary directory. Each side gets its own platform: its own moto server on a free
loopback port and a copy of its own local inventory with its own PostgreSQL clusters, ports and service directories
(scripts/harness/local_platform.py), so neither side's launchers or AWS state are the other's, and a `make up`
platform on the same machine is never touched. Both are provisioned once from scratch (fresh run), then the no-op
re-runs alternate between the two sides, pair after pair, so load on the machine falls on both alike: in each round,
one pair per scope (each tag of BENCH_PROVISIONING_TAGS, then the whole site.yml), this code first in odd rounds and
the baseline first in even ones, so an interrupted run still has complete pairs of every scope (its record,
bench/results/provisioning.json, gives the section again with BENCH_PROVISIONING_FROM_RECORD=<that file>). Each
run's output, with ansible.posix.profile_tasks' per-task times, is kept in
bench/results/provisioning-<side>-<scope>-<round>.log.

The baseline is checked to be a real one: the same inventory (the local inventory's files compared byte for byte),
the same kind of platform, and no-op re-runs that report changed=0 as this code's must.

Seconds on a loaded machine move with the load; two figures per run do not: the tasks executed and the module runs
(each a Python start-up on the target, an AWS one also a boto3 client), counted by the task_ledger callback
(scripts/harness/callback_plugins, read by scripts/harness/task_ledger.py) from each task's action, and the CPU
seconds the run cost (ansible-playbook with
every process it waited for, plus the side's emulator), which move much less with the load than wall time does.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.harness.local_platform import local_platform  # noqa: E402
from scripts.harness.moto import MotoServer  # noqa: E402
from scripts.harness.procs import cpu_seconds  # noqa: E402
from scripts.harness.task_ledger import ledger_counts, ledger_env  # noqa: E402

BASELINE = os.environ.get("BENCH_PROVISIONING_BASELINE", "1c3b42d")
# The tags timed alone, each with the preflight that every tag pays: the ETL play (lookups, CA, package, function,
# schedule, local scheduler) and a cheap one (the storage play's buckets).
TAGS = [t for t in os.environ.get("BENCH_PROVISIONING_TAGS", "etl,storage").split(",") if t]
TARGETS = {"tag": 20, "full": 45}
# BENCH_PROVISIONING_PARALLEL_FRESH=1: provision the two sides from scratch at the same time (no fresh-run figure).
PARALLEL_FRESH = os.environ.get("BENCH_PROVISIONING_PARALLEL_FRESH", "0") == "1"


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


def timed(platform, moto: MotoServer, log: Path, *args: str) -> tuple[float, object, dict]:
    """One site.yml run; its output, with profile_tasks' per-task times, goes to log (bench/results), its task
    ledger beside it (.jsonl). Returns the wall seconds, the run, and its counts with the CPU seconds."""
    ledger = log.with_suffix(".jsonl")
    ledger.unlink(missing_ok=True)
    env = {**moto.env(), **ledger_env(ledger)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    moto_before = cpu_seconds(moto.proc.pid)
    t0 = time.perf_counter()
    run = platform.site(env, *args)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = ledger_counts(ledger)
    counts["cpu"] = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                     + cpu_seconds(moto.proc.pid) - moto_before)
    log.write_text(run.output)
    if run.rc != 0:
        raise RuntimeError(f"site.yml {' '.join(args)} failed in {platform.repo}:\n" + run.output[-4000:])
    return elapsed, run, counts


def start_up(platform, moto: MotoServer) -> dict:
    """What every run of one side pays before its first real task: ``parse``, site.yml with nothing selected
    (--skip-tags always and a tag no task has: the playbooks, roles and inventory parsed, no task run), and ``tag``,
    the same without --skip-tags always (the parse plus the preflight every single tag pays)."""
    from scripts.harness.ansible import run_playbook

    def seconds(*args: str) -> float:
        t0 = time.perf_counter()
        run = run_playbook("site.yml", *args, inventory=str(platform.inventory), env=moto.env(), repo=platform.repo)
        if run.rc != 0:
            raise RuntimeError(f"site.yml {' '.join(args)} failed in {platform.repo}:\n" + run.output[-2000:])
        return time.perf_counter() - t0

    return {"parse": seconds("--tags", "bench-no-such-tag", "--skip-tags", "always"),
            "tag": seconds("--tags", "bench-no-such-tag"), "load": os.getloadavg()[0]}


def module_cost(platform, moto: MotoServer, runs: int = 10) -> dict:
    """Seconds of one trivial module run (ping) and one trivial AWS module run (aws_caller_info against the
    emulator): (time of N runs - time of none) / N, with bench/provisioning/module_cost.yml; and ``fixed``, the
    start-up every site.yml run pays before its first task (parsing the playbooks, roles and inventory): site.yml
    with --skip-tags always and a tag no task has, so that nothing runs."""
    from scripts.harness.ansible import run_playbook

    book = str(Path(__file__).resolve().parent / "module_cost.yml")

    def seconds(*args: str, playbook: str = book) -> float:
        t0 = time.perf_counter()
        run = run_playbook(playbook, *args, inventory=str(platform.inventory), env=moto.env(), repo=platform.repo)
        if run.rc != 0:
            raise RuntimeError(f"{playbook} {' '.join(args)} failed:\n" + run.output[-2000:])
        return time.perf_counter() - t0

    cost = {}
    for kind in ("ping", "aws"):
        none = seconds("-e", f"module_cost_kind={kind} module_cost_runs=0")
        some = seconds("-e", f"module_cost_kind={kind} module_cost_runs={runs}")
        cost[kind] = max(some - none, 0.0) / runs
    cost["fixed"] = seconds("--tags", "bench-no-such-tag", "--skip-tags", "always", playbook="site.yml")
    cost["load"] = os.getloadavg()[0]
    return cost


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
        record.setdefault("module_costs", []).append(module_cost(platforms["new"], motos["new"]))
        record["module_cost"] = {k: statistics.median(c[k] for c in record["module_costs"])
                                 for k in ("ping", "aws", "fixed")}
        sides = SIDES if i % 2 == 0 else SIDES[::-1]
        record.setdefault("start_ups", []).append({side: start_up(platforms[side], motos[side]) for side in sides})
        for scope, args in scopes(tags):
            for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                log = log_dir / f"provisioning-{side}-{scope}-{i + 1}.log"
                load = os.getloadavg()[0]
                elapsed, result, counts = timed(platforms[side], motos[side], log, *args)
                record.setdefault("runs", []).append({"side": side, "scope": scope, "pair": i + 1, "seconds": elapsed,
                                                      "changed": result.changed, "tasks": counts["tasks"],
                                                      "modules": counts["modules"], "cpu": counts["cpu"],
                                                      "plays": counts["plays"], "load": load,
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
    table += ["| scope | round | order | this code (s) | baseline (s) | ratio | tasks executed (this / baseline) "
              "| module runs (this / baseline) | CPU s (this / baseline) | load 1 min |",
              "|---|---:|---|---:|---:|---:|---|---|---|---|"]
    for scope, _ in scopes(record.get("tags", TAGS)):
        pairs = sorted({r["pair"] for r in runs if r["scope"] == scope
                        and ("new", scope, r["pair"]) in by and ("old", scope, r["pair"]) in by})
        for i in pairs:
            new, old = by[("new", scope, i)], by[("old", scope, i)]
            order = "this code first" if (i - 1) % 2 == 0 else "baseline first"
            table.append(f"| {label(scope)} | {i} | {order} | {new['seconds']:.1f} | {old['seconds']:.1f} | "
                         f"{new['seconds'] / old['seconds']:.2f} | {new.get('tasks', '?')} / {old.get('tasks', '?')} | "
                         f"{new.get('modules', '?')} / {old.get('modules', '?')} | "
                         f"{new.get('cpu', 0):.0f} / {old.get('cpu', 0):.0f} | "
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
        first = (by[("new", scope, pairs[0])], by[("old", scope, pairs[0])])
        if all("modules" in r for r in first):
            rows.append({"metric": f"{label(scope)}, module runs", "value": first[0]["modules"], "unit": "runs",
                         "baseline": baseline, "baseline_value": first[1]["modules"],
                         "ratio": first[0]["modules"] / max(first[1]["modules"], 1)})
            cpu = [statistics.median(by[(side, scope, i)]["cpu"] for i in pairs) for side in SIDES]
            rows.append({"metric": f"{label(scope)}, CPU seconds (median)", "value": cpu[0], "unit": "s",
                         "baseline": f"{baseline}, same run", "baseline_value": cpu[1], "ratio": cpu[0] / cpu[1]})
    cost = record.get("module_cost")
    if cost:
        rows.append({"metric": "one trivial module run (ping), this machine, same run", "value": cost["ping"],
                     "unit": "s"})
        rows.append({"metric": "one trivial AWS module run (aws_caller_info), same run", "value": cost["aws"],
                     "unit": "s"})
        for scope, _ in scopes(record.get("tags", TAGS)):
            mine = [r for r in runs if r["side"] == "new" and r["scope"] == scope and "modules" in r]
            if mine:
                target = TARGETS["tag" if scope.startswith("tag-") else "full"]
                floor = cost["fixed"] + mine[0]["modules"] * cost["ping"]
                rows.append({"metric": f"{label(scope)}, floor: start-up + module runs x one trivial module run",
                             "value": floor, "unit": "s", "target": f"< {target} s", "met": floor < target})
    starts = [s for s in record.get("start_ups", []) if set(SIDES) <= s.keys()]
    if starts:
        for key, what in (("parse", "start-up of every run (parse, nothing selected), median"),
                          ("tag", "a single tag's fixed cost (parse + preflight, no tag matched), median")):
            new_s = statistics.median(s["new"][key] for s in starts)
            old_s = statistics.median(s["old"][key] for s in starts)
            rows.append({"metric": what, "value": new_s, "unit": "s", "baseline": f"{baseline}, same run",
                         "baseline_value": old_s, "ratio": new_s / old_s})
    per_play = [(by[("new", "full", i)], by[("old", "full", i)]) for i in sorted({r["pair"] for r in runs})
                if ("new", "full", i) in by and ("old", "full", i) in by and "plays" in by[("new", "full", i)]]
    if per_play:
        new_run, old_run = per_play[0]
        table += ["", "Per play, whole no-op site.yml (pair 1, task_ledger): module runs, tasks executed, seconds.", "",
                  "| play | module runs (this / baseline) | tasks executed (this / baseline) | s (this / baseline) |",
                  "|---|---|---|---|"]

        def cell(run: dict, name: str, key: str, fmt: str = "{}") -> str:
            p = run["plays"].get(name)
            return fmt.format(p[key]) if p else "-"
        for name in dict.fromkeys([*old_run["plays"], *new_run["plays"]]):
            table.append(f"| {name} | {cell(new_run, name, 'modules')} / {cell(old_run, name, 'modules')} | "
                         f"{cell(new_run, name, 'tasks')} / {cell(old_run, name, 'tasks')} | "
                         f"{cell(new_run, name, 'seconds', '{:.0f}')} / {cell(old_run, name, 'seconds', '{:.0f}')} |")
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
    if record.get("fresh_parallel"):
        notes.append("Both sides were provisioned from scratch at the same time (BENCH_PROVISIONING_PARALLEL_FRESH=1), "
                     "so no fresh-run comparison: "
                     + ", ".join(f"{side} {sec:.0f} s" for side, sec in record["fresh_parallel"].items()) + ".")
    notes.append("Tasks executed: task results ok or changed (skipped ones cost no module run); module runs: executed "
                 "tasks whose action starts a module (not set_fact, debug, assert, include_*, ...), each loop item "
                 "one; both from the task_ledger callback. CPU s: ansible-playbook and every process it waited for "
                 "(the modules), plus the side's emulator.")
    full = [(by[("new", "full", i)], by[("old", "full", i)]) for i in sorted({r["pair"] for r in runs})
            if ("new", "full", i) in by and ("old", "full", i) in by and "plays" in by[("new", "full", i)]]
    if full:
        new_run, old_run = full[0]
        names = list(dict.fromkeys([*old_run["plays"], *new_run["plays"]]))

        def play(run: dict, name: str) -> str:
            p = run["plays"].get(name)
            return f"{p['seconds']:.0f} s, {p['modules']} runs" if p else "-"
        notes.append("Where the whole no-op run's time went, per play, this code / baseline (pair 1, task_ledger): "
                     + "; ".join(f"{n[:40]} {play(new_run, n)} / {play(old_run, n)}" for n in names) + ".")
    cost = record.get("module_cost")
    if cost:
        notes.append(f"Floor: one site.yml run parses the playbooks, roles and inventory before its first task "
                     f"({cost['fixed']:.1f} s here: site.yml with nothing selected), then each module run costs a "
                     f"Python start-up ({cost['ping']:.2f} s for ping) and an AWS one a boto3 session too "
                     f"({cost['aws']:.2f} s for aws_caller_info), medians over the rounds, measured in the same run "
                     "at the same load; the floor rows add this code's module runs times the trivial module's cost "
                     "(a lower bound: an AWS module costs more) to the start-up. Below that floor only fewer "
                     "module runs go, not faster tasks.")
    # Remarks added to a saved record by whoever ran it (what the figures cannot say themselves), then rendered again
    # with BENCH_PROVISIONING_FROM_RECORD.
    notes += record.get("remarks", [])
    return {"title": "Provisioning", "rows": rows, "markdown": "\n".join(table), "notes": notes}


def run(quick: bool = False) -> dict:
    pairs = 1 if quick else int(os.environ.get("BENCH_PROVISIONING_PAIRS", "3"))
    log_dir = REPO / "bench/results"
    saved = os.environ.get("BENCH_PROVISIONING_FROM_RECORD")
    if saved:  # the section again from a saved record (e.g. a run stopped after some pairs), nothing measured
        return report(json.loads(Path(saved).read_text()))
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
        if PARALLEL_FRESH:
            # Both sides provisioned at once (a loaded machine: half the waiting); their times are not compared.
            with ThreadPoolExecutor(2) as pool:
                done = {side: pool.submit(timed, platforms[side], motos[side],
                                          log_dir / f"provisioning-{side}-fresh.log") for side in SIDES}
                record["fresh_parallel"] = {side: done[side].result()[0] for side in SIDES}
        else:
            for side in SIDES:
                fresh_log = log_dir / f"provisioning-{side}-fresh.log"
                record["fresh"][side], _, _ = timed(platforms[side], motos[side], fresh_log)
        measure(platforms, motos, pairs, log_dir, record, TAGS)
    return report(record)


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
