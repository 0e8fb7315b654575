"""Two versions of the ETL, the same events, the same machine, in alternating rounds: is one slower than the other?

Each round loads the same synthetic objects (``bench/etl/synth.py``, uploaded once to the emulator's S3) into a
freshly migrated warehouse with one version's real ETL (``run_etl``), in a subprocess whose import path holds only
that version's ``lambdas/etl/src``; the versions alternate (A, B, A, B, ...), so that the machine's moment moves
both alike. Each round is timed from the run's start to its end (listing, S3 GETs, parse, load, aggregates), after a
``CHECKPOINT`` and an OS sync, and its CPU is measured (the ETL's process and parse worker, the PostgreSQL server,
the emulator: ``scripts.harness.cpu_meter``), which moves less with the machine's other work than the wall time;
its warehouse is migrated with that version's own ``sql/dw``.

Usage: python bench/etl/compare.py OLD_TREE NEW_TREE [--pairs 3] [--events 1000000] [--json OUT]
(a tree is a checkout of the repository, or the part of it a round uses: ``lambdas/etl``, ``lambdas/shared`` and
``sql/dw``, e.g. ``git archive <commit> lambdas/etl lambdas/shared sql/dw | tar -x -C /tmp/etl-old``). Prints one
line per round and the pairs' ratios; writes the figures to ``--json``. ``bench_etl.run`` calls ``compare`` when
``BENCH_ETL_OLD_TREE`` names an old tree, and puts the pairs in its section of BENCHMARKS.md.
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

BUCKET = "bench-etl-compare"

# The child: one run of the tree's ETL, timed; prints its result as JSON.
_CHILD = """
import json, sys, time
import boto3, psycopg2
from clickstream_etl.config import Settings
from clickstream_etl.runner import run_etl
dsn, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3")
conn = psycopg2.connect(dsn)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("CHECKPOINT")
conn.autocommit = False
import os; os.sync()
settings = Settings(raw_bucket=bucket, dw_host="unused", listing_lookback_hours=0)
t0 = time.perf_counter()
result = run_etl(conn, s3, settings, trigger="bench")
seconds = time.perf_counter() - t0
conn.close()
print(json.dumps({"seconds": seconds, **result.as_dict()}, default=str))
"""


def _round(tree: Path, dsn: str, env: dict[str, str]) -> dict:
    child_env = {**env, "PYTHONPATH": str(tree / "lambdas/etl/src")}
    out = subprocess.run([sys.executable, "-c", _CHILD, dsn, BUCKET], env=child_env, check=True,
                         capture_output=True, text=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(old_tree: Path, new_tree: Path, pairs: int = 3, events: int = 1_000_000) -> dict:
    """``pairs`` alternating rounds of each version (old first) on ``events`` synthetic events; the figures."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg2
    from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations

    from etl.synth import objects
    from scripts.harness.cpu_meter import CpuMeter, reaped
    from scripts.harness.moto import MotoServer
    from scripts.harness.postgres import PostgresServer

    results_dir = REPO / "bench/results"
    results_dir.mkdir(parents=True, exist_ok=True)
    pg = PostgresServer()
    moto = MotoServer(results_dir)
    rounds: list[dict] = []
    try:
        s3 = moto.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for f in [pool.submit(s3.put_object, Bucket=BUCKET, Key=key, Body=body)
                      for key, body in objects(events)]:
                f.result()
        env = {**os.environ, **moto.env()}
        cpu = CpuMeter(pg, moto.proc.pid)
        for n in range(2 * pairs):
            which, tree = ("old", old_tree) if n % 2 == 0 else ("new", new_tree)
            dsn = pg.create_database("bench_compare")  # drops the previous round's warehouse
            conn = psycopg2.connect(dsn)
            apply_migrations(conn, str(tree / "sql/dw"))
            conn.close()
            cpu.start()
            r = _round(tree.resolve(), dsn, env)
            reaped(pg)  # the round's backends have exited: their CPU is the server's
            used = cpu.stop()
            rounds.append({"version": which, **r, "cpu": used, "load_average": os.getloadavg()[0]})
            print(f"round {n + 1} {which}: {r['seconds']:.2f} s, CPU {sum(used.values()):.1f} s, "
                  f"{r['events_loaded']:,} events, {r['status']}", flush=True)
    finally:
        moto.close()
        pg.close()
    old = [r["seconds"] for r in rounds if r["version"] == "old"]
    new = [r["seconds"] for r in rounds if r["version"] == "new"]
    ratios = [b / a for a, b in zip(old, new, strict=True)]
    old_cpu = [sum(r["cpu"].values()) for r in rounds if r["version"] == "old"]
    new_cpu = [sum(r["cpu"].values()) for r in rounds if r["version"] == "new"]
    return {"events": events, "rounds": rounds, "old_seconds": old, "new_seconds": new,
            "new_over_old": ratios, "median_new_over_old": statistics.median(ratios),
            "old_spread": (max(old) - min(old)) / statistics.median(old),
            "new_spread": (max(new) - min(new)) / statistics.median(new),
            "old_cpu_seconds": old_cpu, "new_cpu_seconds": new_cpu,
            "cpu_new_over_old": [b / a for a, b in zip(old_cpu, new_cpu, strict=True)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    summary = compare(args.old, args.new, args.pairs, args.events)
    print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
