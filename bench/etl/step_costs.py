"""What each aggregate step of the apply costs, per run: the five newest (acquisition_dims, product_dims, users_dims,
journeys, retention_dims) against the rest of the same apply, and one version of the code against another.

On a loaded warehouse (``--keep-dir``: ``profile_steps.py``'s, database ``steps_dw``, or a new one loaded here with
``--events``), a child process with one tree's ``lambdas/etl/src`` on its path runs the real apply
(``aggregates._facts`` and the statements of ``aggregates._PARTS``, part by part as ``apply_pending`` does, on one
connection) for a pending set, times every statement and sums them per step, then rolls everything back, so that
every round sees the same warehouse. Two pending sets:

- ``scheduled``: the clients of the warehouse's newest day (a small scheduled run onto the big warehouse), each from
  its first event of that day, as the run left them pending;
- ``bulk``: every client from its first visit (a bulk load's apply; here the kept facts and members are the ones
  already in, so the steps read as much as a first load and more, and write only what differs).

Before the rounds, etl.delta_clients is given the statistics a big run leaves (every client pending when it was
analyzed, autovacuum off on it for the bench), which the ETL's role cannot refresh: the plans are the ones a
scheduled run gets after a bulk load. The versions alternate (old, new, old, new, ...) so that the machine's load
falls on both alike; the baseline of each round is the same apply's other steps ("the run with the steps'
registration removed"), so a step's ratio is its share of the same round's work.

Usage: python bench/etl/step_costs.py OLD_TREE [NEW_TREE=.] [--pairs 3] [--sets scheduled,bulk] [--keep-dir DIR]
       [--events 1000000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for p in (REPO, REPO / "bench", REPO / "collections"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

NEWEST = ("acquisition_dims", "product_dims", "users_dims", "journeys", "retention_dims")

# The child: one tree's apply for one pending set, timed per step, rolled back; prints JSON.
_CHILD = r"""
import json, sys, time
import psycopg2
from clickstream_etl import aggregates, sql
from clickstream_etl import acquisition_daily, acquisition_dims, attribution, dims, journeys, product_dims
from clickstream_etl import retention, retention_dims
dsn, pending = sys.argv[1], sys.argv[2]
PENDING = {
    "scheduled": '''INSERT INTO etl.delta_clients
                    SELECT client_id, min(event_timestamp) FROM dw.events
                     WHERE event_timestamp >= (SELECT date_trunc('day', max(event_timestamp)) FROM dw.events)
                     GROUP BY client_id''',
    "bulk": "INSERT INTO etl.delta_clients SELECT client_id, first_seen_at FROM dw.clients",
}
STEPS = [("journeys", journeys.APPLY), ("retention_dims", retention_dims.APPLY),
         ("product_dims", product_dims.APPLY), ("acquisition_dims", acquisition_dims.APPLY),
         ("dims", dims.APPLY), ("attribution", attribution.APPLY), ("retention", retention.APPLY),
         ("acquisition_daily", acquisition_daily.APPLY)]
def step_of(statement):
    for name, statements in STEPS:
        if statement in statements:
            if name == "acquisition_dims" and "etl_usrd" in statement:
                return "users_dims"
            return name
    return "sessions_core"
conn = psycopg2.connect(dsn)
out, clients = {}, None
for part in aggregates._PARTS:
    with conn.cursor() as cur:
        for s in sql.SESSION_SETUP:
            cur.execute(s)
        cur.execute("DELETE FROM etl.delta_clients")
        cur.execute(PENDING[pending])
        cur.execute("SELECT count(*) FROM etl.delta_clients")
        clients = cur.fetchone()[0]
        t0 = time.perf_counter()
        aggregates._facts(cur, part)
        key = part if part != "sessions" else "sessions_facts"
        out[key] = out.get(key, 0) + time.perf_counter() - t0
        for statement in aggregates._PARTS[part]:
            t0 = time.perf_counter()
            cur.execute(statement)
            key = part if part != "sessions" else step_of(statement)
            out[key] = out.get(key, 0) + time.perf_counter() - t0
    conn.rollback()
conn.close()
print(json.dumps({"clients": clients, "steps": out}))
"""


def _round(tree: Path, dsn: str, pending: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "lambdas/etl/src")}
    out = subprocess.run([sys.executable, "-c", _CHILD, dsn, pending], env=env, check=True, capture_output=True,
                         text=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> float:
    return os.getloadavg()[0]


def summarize(rounds: list[dict]) -> dict:
    """Per step, the median seconds of each version's rounds; the newest steps' ratio to the same round's other
    steps (the baseline), median over the rounds."""
    out = {}
    for version in ("old", "new"):
        mine = [r for r in rounds if r["version"] == version]
        if not mine:
            continue
        steps = sorted({s for r in mine for s in r["steps"]})
        med = {s: statistics.median(r["steps"].get(s, 0.0) for r in mine) for s in steps}
        base = [sum(v for s, v in r["steps"].items() if s not in NEWEST) for r in mine]
        ratio = {s: statistics.median(r["steps"].get(s, 0.0) / b for r, b in zip(mine, base, strict=True))
                 for s in NEWEST}
        out[version] = {"median_s": med, "baseline_s": statistics.median(base), "ratio": ratio,
                        "clients": mine[0]["clients"]}
    return out


LABELS = {"acquisition_dims": "acquisition_dims (acquisition by device and segment)",
          "product_dims": "product_dims (products by channel, device, segment)",
          "users_dims": "users_dims (distinct users under the filters)",
          "journeys": "journeys (session_journeys, journey_paths, transitions by dimension)",
          "retention_dims": "retention_dims (cohorts by dimension)"}
SETS = {"scheduled": "scheduled small run onto the large warehouse", "bulk": "bulk load (every client pending)"}


def section(report: dict) -> list[str]:
    """The BENCHMARKS.md lines of ``report`` (``main``'s JSON): per pending set, each newest step's median seconds and
    its ratio to the same rounds' other steps, old and new, and the rounds' loads."""
    lines = []
    for name, data in report["sets"].items():
        summ, rounds = data["summary"], data["rounds"]
        loads = [r["load"] for r in rounds]
        lines += ["", f"{SETS.get(name, name)}: {summ['new']['clients']:,} clients pending, "
                      f"{len(rounds) // 2} pairs, load average {min(loads):.1f}-{max(loads):.1f} after the rounds", "",
                  "| step | old (s) | old / rest of apply | new (s) | new / rest of apply | new / old |",
                  "|---|---:|---:|---:|---:|---:|"]
        for step in NEWEST:
            o, n = summ["old"]["median_s"].get(step, 0.0), summ["new"]["median_s"].get(step, 0.0)
            lines.append(f"| {LABELS[step]} | {o:.2f} | {summ['old']['ratio'][step]:.3f} | {n:.2f} | "
                         f"{summ['new']['ratio'][step]:.3f} | {n / o if o else float('nan'):.2f} |")
        o_all = sum(summ["old"]["median_s"].get(s, 0.0) for s in NEWEST)
        n_all = sum(summ["new"]["median_s"].get(s, 0.0) for s in NEWEST)
        lines.append(f"| the five together | {o_all:.2f} | {o_all / summ['old']['baseline_s']:.3f} | {n_all:.2f} | "
                     f"{n_all / summ['new']['baseline_s']:.3f} | {n_all / o_all:.2f} |")
        ob, nb = summ["old"]["baseline_s"], summ["new"]["baseline_s"]
        lines.append(f"| rest of the apply (baseline) | {ob:.2f} | 1 | {nb:.2f} | 1 | {nb / ob:.2f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old_tree", type=Path)
    ap.add_argument("new_tree", type=Path, nargs="?", default=REPO)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--sets", default="scheduled,bulk")
    ap.add_argument("--keep-dir", type=Path, required=True, help="the warehouse's cluster (database steps_dw)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--render", type=Path, help="print the BENCHMARKS.md lines of a --json file, and stop")
    args = ap.parse_args()
    if args.render:
        print("\n".join(section(json.loads(args.render.read_text()))))
        return
    import psycopg2

    from scripts.harness.postgres import PostgresServer

    pg = PostgresServer(keep_dir=args.keep_dir)
    results: dict[str, list[dict]] = {}
    try:
        dsn = pg.dsn.replace("dbname=postgres", "dbname=steps_dw")
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM SET auto_explain.log_min_duration = -1")
            cur.execute("SELECT pg_reload_conf()")
            # the statistics a big run leaves on etl.delta_clients, kept for the whole bench
            cur.execute("ALTER TABLE etl.delta_clients SET (autovacuum_enabled = false)")
            cur.execute("DELETE FROM etl.delta_clients")
            cur.execute("INSERT INTO etl.delta_clients SELECT client_id, first_seen_at FROM dw.clients")
            cur.execute("ANALYZE etl.delta_clients")
            cur.execute("DELETE FROM etl.delta_clients")
            cur.execute("SELECT count(*) FROM dw.events")
            held = cur.fetchone()[0]
        conn.close()
        for pending in args.sets.split(","):
            rounds = results.setdefault(pending, [])
            for tree in (args.old_tree, args.new_tree):  # a round of each first, not counted: the caches warm
                _round(tree, dsn, pending)
            for pair in range(args.pairs):
                for version, tree in (("old", args.old_tree), ("new", args.new_tree)):
                    r = _round(tree, dsn, pending)
                    r.update(version=version, pair=pair + 1, load=_load())
                    rounds.append(r)
                    newest = sum(r["steps"].get(s, 0.0) for s in NEWEST)
                    print(f"{pending} pair {pair + 1} {version}: {r['clients']} clients, newest steps {newest:.2f} s, "
                          f"the rest {sum(r['steps'].values()) - newest:.2f} s, load {r['load']:.1f}; "
                          + ", ".join(f"{s} {v:.2f}" for s, v in sorted(r["steps"].items())), flush=True)
    finally:
        pg.close()
    report = {"events": held, "sets": {k: {"rounds": v, "summary": summarize(v)} for k, v in results.items()}}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v["summary"] for k, v in report["sets"].items()}, indent=1))


if __name__ == "__main__":
    main()
