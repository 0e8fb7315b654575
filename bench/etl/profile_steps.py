"""Where the ETL's SQL time goes, per statement, in three real runs on one warehouse: a big load, then a small
scheduled run (a few thousand events of the next day, from the same clients), then a late run (a few thousand more
events of the big load's day).

Every run is the real ``run_etl``; the server counts each statement (``pg_stat_statements``: time, calls, rows,
buffers; every connection, so the apply's second lane too) and logs the plan of each one slower than
``--explain-ms`` (``auto_explain`` with ANALYZE and BUFFERS, without per-node timing) to
``bench/results/profile_steps-<run>.log``. Prints, per run, the run's seconds and the top statements.
Usage: python bench/etl/profile_steps.py [--events 300000] [--small 3000] [--late 3000] [--top 30] [--keep-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for p in (REPO, REPO / "bench", REPO / "lambdas/etl/src", REPO / "collections"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import psycopg2  # noqa: E402
from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import (  # noqa: E402
    apply_migrations,
)
from clickstream_etl.config import Settings  # noqa: E402
from clickstream_etl.runner import run_etl  # noqa: E402

from etl import synth  # noqa: E402
from scripts.harness.moto import MotoServer  # noqa: E402
from scripts.harness.postgres import PG_BIN, PostgresServer, _as_postgres  # noqa: E402

BUCKET = "bench-etl-steps"
RESULTS = REPO / "bench/results"


def _put(s3, pairs) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        for f in [pool.submit(s3.put_object, Bucket=BUCKET, Key=k, Body=b) for k, b in pairs]:
            f.result()


def _restart_with_stats(pg: PostgresServer, explain_ms: int) -> None:
    conn = psycopg2.connect(pg.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ALTER SYSTEM SET shared_preload_libraries = pg_stat_statements, auto_explain")
    conn.close()
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg.datadir), "-l", str(pg.dir / "log"), "-w", "restart"])
    conn = psycopg2.connect(pg.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name, value in (("pg_stat_statements.track", "all"), ("auto_explain.log_min_duration", f"{explain_ms}ms"),
                            ("auto_explain.log_analyze", "on"), ("auto_explain.log_buffers", "on"),
                            ("auto_explain.log_timing", "off"), ("auto_explain.log_nested_statements", "on")):
            cur.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        cur.execute("SELECT pg_reload_conf()")
    conn.close()


def _profile(name: str, dsn: str, s3, pg: PostgresServer, top: int) -> dict:
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CHECKPOINT")
        cur.execute("SELECT pg_stat_statements_reset()")
    log = pg.dir / "log"
    offset = log.stat().st_size
    conn = psycopg2.connect(dsn)
    settings = Settings(raw_bucket=BUCKET, dw_host="unused", listing_lookback_hours=0)
    t0 = time.perf_counter()
    result = run_etl(conn, s3, settings, trigger="profile")
    seconds = time.perf_counter() - t0
    conn.close()
    with admin.cursor() as cur:
        cur.execute("""SELECT total_exec_time / 1000, calls, rows, shared_blks_hit + shared_blks_read,
                              regexp_replace(query, '\\s+', ' ', 'g')
                         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
                                                                WHERE datname = current_database())
                        ORDER BY total_exec_time DESC""")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM dw.events")
        held = cur.fetchone()[0]
    admin.close()
    with log.open("rb") as f:
        f.seek(offset)
        (RESULTS / f"profile_steps-{name}.log").write_bytes(f.read())
    sql_s = sum(r[0] for r in rows)
    print(f"\n== {name}: {result.events_loaded:,} events loaded in {seconds:.1f} s (warehouse now {held:,}); "
          f"server time in statements {sql_s:.1f} s")
    for secs, calls, nrows, blocks, query in rows[:top]:
        print(f"{secs:8.3f} s x{calls:<5d} rows {nrows:<8d} buf {blocks:<9d} {query[:150]}")
    return {"seconds": seconds, "loaded": result.events_loaded, "statements": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--small", type=int, default=3_000)
    ap.add_argument("--late", type=int, default=3_000)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--explain-ms", type=int, default=200)
    ap.add_argument("--keep-dir", type=Path, help="keep the PostgreSQL cluster there (database steps_dw)")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    pg, moto = PostgresServer(keep_dir=args.keep_dir), MotoServer(RESULTS)
    try:
        _restart_with_stats(pg, args.explain_ms)
        s3 = moto.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        dsn = pg.create_database("steps_dw")
        conn = psycopg2.connect(dsn)
        apply_migrations(conn, str(REPO / "sql/dw"))
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION pg_stat_statements")
        conn.commit()
        conn.close()
        clients = max(1, args.events // 40)
        _put(s3, synth.objects(args.events))
        _profile("big", dsn, s3, pg, args.top)
        # the next day's first stretch, from the same clients: the scheduled case
        _put(s3, synth.objects(args.small, seed=9, clients=clients, day=synth.DAY + timedelta(days=1), span=3_600,
                               prefix="small-events"))
        _profile("small", dsn, s3, pg, args.top)
        # late events of the big load's day, from the same clients
        _put(s3, synth.objects(args.late, seed=8, clients=clients, prefix="late-events"))
        _profile("late", dsn, s3, pg, args.top)
    finally:
        moto.close()
        pg.close()


if __name__ == "__main__":
    main()
