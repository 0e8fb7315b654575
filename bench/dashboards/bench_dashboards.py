#!/usr/bin/env python3
"""Dashboard query latency on a warehouse of 10M events (1M with --quick).

A throwaway PostgreSQL 15 cluster is filled by ``synth.synthesize`` (events and sessions generated in SQL, the
aggregates built by the ETL's own refresh), a real ``dashboard_reader`` role is created with the grants of the
dw_db role, and ``bench_queries.R`` times every query function of the app (files/shiny/app/logic) through
RPostgreSQL exactly as the app calls them: median and p95 per query. Baseline, in the same run: the same numbers
computed from the raw ``dw.events``/``dw.sessions`` tables instead of the aggregates.

Usage: python bench/dashboards/bench_dashboards.py [--quick] [--events N] [--keep-dir DIR]

BENCH_DASHBOARDS_EVENTS and BENCH_DASHBOARDS_KEEP_DIR set the same for a run through bench/run_all.py.

--events N: a warehouse of about N events instead (e.g. where a shared machine cannot build 10M in time); the
section's notes state the size measured.

--keep-dir DIR (for iterating on query plans): build the warehouse into a cluster under DIR and keep it; a later
run with the same DIR and size reuses it (only new migrations are applied, no synthesis), so the timings can be
repeated in seconds. Without it the cluster is thrown away.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET_MS = 300.0


def _paths() -> None:
    for p in (REPO, REPO / "bench", REPO / "collections", REPO / "lambdas/etl/src"):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))


def p95(values: list[float]) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(0.95 * (len(v) - 1))))]


def _grant_reader(conn, dbname: str, create_role: bool = True) -> None:
    with conn.cursor() as cur:
        if create_role:
            cur.execute("CREATE ROLE dashboard_reader LOGIN")
        cur.execute(f"GRANT CONNECT ON DATABASE {dbname} TO dashboard_reader")
        cur.execute("GRANT USAGE ON SCHEMA dw, etl TO dashboard_reader")
        cur.execute("GRANT SELECT ON ALL TABLES IN SCHEMA dw TO dashboard_reader")
        cur.execute("GRANT SELECT ON etl.runs TO dashboard_reader")
    conn.commit()


def _aggregate_sizes(server) -> list[tuple[str, int, float]]:
    """Rows and total size (MB, with indexes) of every dw.agg_* table: what the row multiplication of a key costs."""
    import psycopg2

    conn = psycopg2.connect(server.dsn.replace("dbname=postgres", "dbname=clickstream_dw"))
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT c.oid::regclass::text, pg_total_relation_size(c.oid) / 1048576.0 FROM pg_class c
                             JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = 'dw' AND c.relkind = 'r' AND c.relname LIKE 'agg%' ORDER BY 1""")
            out = []
            for name, mb in cur.fetchall():
                cur.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 - a table name from the catalog
                out.append((name, cur.fetchone()[0], float(mb)))
            return out
    finally:
        conn.close()


def run(quick: bool = False, keep_dir: Path | None = None, events: int | None = None) -> dict:
    _paths()
    import psycopg2
    from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations

    from dashboards.synth import synthesize
    from scripts.harness.postgres import PostgresServer

    events = events or int(os.environ.get("BENCH_DASHBOARDS_EVENTS") or 0) or None
    if keep_dir is None and os.environ.get("BENCH_DASHBOARDS_KEEP_DIR"):
        keep_dir = Path(os.environ["BENCH_DASHBOARDS_KEEP_DIR"])
    n_events = events or (1_000_000 if quick else 10_000_000)
    reps, baseline_reps = (10, 3) if quick else (15, 3)
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    server = PostgresServer(keep_dir=keep_dir)
    marker = keep_dir / f"built-{n_events}.json" if keep_dir else None
    try:
        if marker and marker.exists() and server.database_exists("clickstream_dw"):
            built = json.loads(marker.read_text())
            end, sizes, build_s = dt.datetime.fromisoformat(built["end"]), built["sizes"], built["build_s"]
            conn = psycopg2.connect(server.dsn.replace("dbname=postgres", "dbname=clickstream_dw"))
            if apply_migrations(conn, str(REPO / "sql" / "dw")):
                _grant_reader(conn, "clickstream_dw", create_role=False)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("ANALYZE")
            conn.close()
        else:
            dsn = server.create_database("clickstream_dw")
            conn = psycopg2.connect(dsn)
            apply_migrations(conn, str(REPO / "sql" / "dw"))
            t0 = time.monotonic()
            sizes = synthesize(conn, n_events, days=30, end=end)
            build_s = time.monotonic() - t0
            _grant_reader(conn, "clickstream_dw")
            conn.close()
            if marker:
                marker.write_text(json.dumps({"end": end.isoformat(), "sizes": sizes, "build_s": build_s}))
        agg_sizes = _aggregate_sizes(server)
        env = {**os.environ, "DW_HOST": "127.0.0.1", "DW_PORT": str(server.port), "DW_NAME": "clickstream_dw",
               "DW_USER": "dashboard_reader", "DW_PASSWORD": ""}
        env.pop("CLICKSTREAM_DB_CONFIG", None)
        proc = subprocess.run(
            ["Rscript", str(Path(__file__).with_name("bench_queries.R")), str(REPO / "files/shiny"), str(reps),
             str(baseline_reps), end.date().isoformat()],
            env=env, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"bench_queries.R failed:\n{proc.stderr[-4000:]}")
        queries = json.loads(proc.stdout)["queries"]
        load = os.getloadavg()
    finally:
        server.close()

    rows: list[dict] = []
    table = ["| dashboard | query | median ms | p95 ms | raw-table baseline median ms | target p95 < 300 ms |",
                       "|---|---|---:|---:|---:|---|"]
    for q in queries:
        med, hi = statistics.median(q["ms"]), p95(q["ms"])
        base = q.get("baseline_ms")
        base_p95 = p95(base) if base else None
        rows.append({
            "metric": f"{q['dashboard']}: {q['query']} (p95)", "value": round(hi, 1), "unit": "ms",
            "baseline": "same numbers from raw dw.events/dw.sessions (p95)" if base else "",
            "baseline_value": round(base_p95, 1) if base else None,
            "ratio": round(base_p95 / hi, 1) if base and hi > 0 else None,
            "target": "p95 < 300 ms", "met": hi < TARGET_MS,
        })
        base_med = f"{statistics.median(base):.1f}" if base else ""
        table.append(f"| {q['dashboard']} | {q['query']} | {med:.1f} | {hi:.1f} | {base_med} | "
                     f"{'yes' if hi < TARGET_MS else 'NO'} |")
    missed = [r["metric"] for r in rows if not r["met"]]
    notes = [
        f"Warehouse: {sizes['events']:,} events, {sizes['sessions']:,} sessions over 30 days, "
        f"built in {build_s:.0f} s "
        "(events/sessions synthesized in SQL, aggregates by the ETL's own rebuild, "
        "dw.agg_daily_client_returns included).",
        "Load average (1/5/15 min) when the timing ended: " + " / ".join(f"{x:.1f}" for x in load) + " (2 cores).",
        f"Each query: 1 warm-up, then {reps} timed runs ({baseline_reps} for baselines) from R through RPostgreSQL "
        "with bound parameters, as the app runs them, on a throwaway PostgreSQL 15 cluster (shared_buffers 256MB).",
        "Ratio = raw-table baseline p95 / dashboard query p95 (how much the aggregates save).",
        "All queries meet the 300 ms p95 target." if not missed else "Over target: " + "; ".join(missed),
        "Aggregate sizes (rows, total size with indexes): " + "; ".join(
            f"{name} {rows:,} rows, {mb:.1f} MB" for name, rows, mb in agg_sizes) + ".",
    ]
    return {"title": "Dashboards", "rows": rows, "markdown": "\n".join(table), "notes": notes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1M events instead of 10M")
    ap.add_argument("--keep-dir", type=Path, help="build the DW into a cluster under this dir and keep/reuse it")
    ap.add_argument("--events", type=int, help="about this many events (default 10M, 1M with --quick)")
    args = ap.parse_args()
    result = run(quick=args.quick, keep_dir=args.keep_dir, events=args.events)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
