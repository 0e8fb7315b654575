"""The lake against the warehouse, side by side in one run (docs/lake.md; BENCHMARKS.md, section "lake").

1. The hot window's cost on the load: the real ETL (``run_etl``) loading the same synthetic raw objects
   (bench/etl/synth.py, ``--load-events``) from the emulator's S3 into a freshly migrated warehouse with the window
   off (today's schema) and into one converted for the window (sql/dw_hot_window/enable.sql: day partitions, the
   event-id ledger the load writes and the dedup reads), in alternating pairs; the median pair's ratio stands.
2. Lake export throughput: the ETL's own export (``lake.export.export_events``: outbox -> one Iceberg append per
   at most 500,000 events, Parquet to the emulator's S3, Glue commit) of the ``--events`` events of a synthesized
   warehouse, against the warehouse load rate of part 1 (window off).
3. A 30-day funnel over those events: the ``lake_daily_funnel`` view of sql/lake (the '(all)' rows summed) on
   DuckDB over the Iceberg tables the export wrote, against the same SQL (translated by sqlglot) on PostgreSQL's
   raw ``dw.events`` / ``dw.sessions``; both must give the same answer (checked).
4. Bytes per event: the Parquet data files against ``pg_total_relation_size`` of ``dw.events`` (heap, TOAST,
   indexes) after VACUUM, and the ledger's bytes per event (from part 1's converted warehouse).

The ``--events`` warehouse is synthesized in SQL (bench/dashboards/synth.py: realistic sessions and funnel, over
30 days ending 5 days ago so that every session day is closed and exported), not loaded through the ETL.

Own PostgreSQL (scripts.harness.postgres) and moto server on free loopback ports.
Usage: python bench/lake/bench_lake.py [--quick] [--events N] [--load-events N] [--pairs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for p in (REPO, REPO / "bench", REPO / "lambdas/etl/src", REPO / "collections"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

BUCKET = "bench-lake-raw"
EVENTS = 10_000_000  # the size; BENCH_LAKE_EVENTS or --events for a smaller machine
LOAD_EVENTS = 1_000_000
PAIRS = 3


def _migrated(server, name: str, hot_window: bool) -> str:
    import psycopg2
    from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations

    from scripts.harness.etl_world import enable_hot_window

    dsn = server.create_database(name)
    conn = psycopg2.connect(dsn)
    try:
        apply_migrations(conn, str(REPO / "sql" / "dw"))
    finally:
        conn.close()
    if hot_window:
        enable_hot_window(dsn)
    return dsn


def _upload(s3, total: int) -> int:
    from etl.synth import objects

    s3.create_bucket(Bucket=BUCKET)
    n = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for key, body in objects(total):
            futures.append(pool.submit(s3.put_object, Bucket=BUCKET, Key=key, Body=body))
            n += 1
        for f in futures:
            f.result()
    return n


def _load(dsn: str, s3) -> tuple[float, dict]:
    """One run of the real ETL (lake off: the window's cost alone) on ``dsn``; (seconds, run result)."""
    import psycopg2
    from clickstream_etl.config import Settings
    from clickstream_etl.runner import run_etl

    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
        os.sync()
        conn.autocommit = False
        t0 = time.perf_counter()
        result = run_etl(conn, s3, Settings(raw_bucket=BUCKET, dw_host="unused", listing_lookback_hours=0),
                         trigger="bench")
        return time.perf_counter() - t0, result.as_dict()
    finally:
        conn.close()


def _query_one(dsn: str, sql: str):
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()
    finally:
        conn.close()


def _load_pairs(server, s3, pairs: int) -> dict:
    """Window off, then on, ``pairs`` times, each on a fresh warehouse."""
    rounds = []
    ledger_bytes = ledger_rows = 0
    for i in range(pairs):
        off_dsn = _migrated(server, f"load_off_{i}", hot_window=False)
        off_s, off = _load(off_dsn, s3)
        on_dsn = _migrated(server, f"load_on_{i}", hot_window=True)
        on_s, on = _load(on_dsn, s3)
        checks = {
            "off_events": _query_one(off_dsn, "SELECT count(*) FROM dw.events")[0],
            "on_events": _query_one(on_dsn, "SELECT count(*) FROM dw.events")[0],
            "on_ledger": _query_one(on_dsn, "SELECT count(*) FROM dw.event_ids")[0],
            "on_partitioned": _query_one(
                on_dsn, "SELECT relkind::text FROM pg_class WHERE oid = 'dw.events'::regclass")[0] == "p",
            "off_plain": _query_one(
                off_dsn, "SELECT relkind::text FROM pg_class WHERE oid = 'dw.events'::regclass")[0] == "r",
        }
        ledger_bytes = _query_one(on_dsn, "SELECT pg_total_relation_size('dw.event_ids')")[0]
        ledger_rows = checks["on_ledger"]
        rounds.append({"off_s": off_s, "on_s": on_s, "ratio": off_s / on_s, "off": off, "on": on, **checks})
        _drop(server, f"load_off_{i}", f"load_on_{i}")  # the disk of a shared machine
    return {"rounds": rounds, "ledger_bytes": ledger_bytes, "ledger_rows": ledger_rows}


def _drop(server, *names: str) -> None:
    import psycopg2

    conn = psycopg2.connect(server.dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def _fill_outbox(dsn: str) -> int:
    """The synthesized events' objects in the lake's outbox, in load order (what the loads would have recorded),
    and the index on dw.events.source_file that docs/lake.md advises at large volumes."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO etl.lake_outbox (source_file, events)
                           SELECT source_file, count(*) FROM dw.events GROUP BY source_file
                           ORDER BY min(event_timestamp), source_file""")
            cur.execute("CREATE INDEX events_source_file_idx ON dw.events (source_file)")
            cur.execute("SELECT count(*) FROM etl.lake_outbox")
            n = cur.fetchone()[0]
        conn.commit()
        return n
    finally:
        conn.close()


def _funnel_sql(first_day: dt.date, last_day: dt.date) -> tuple[str, str]:
    import sqlglot
    from clickstream_etl.lake import views

    select = views.view_sql("lake_daily_funnel")
    question = (f"SELECT sum(view_item_sessions), sum(add_to_cart_sessions), sum(begin_checkout_sessions), "  # noqa: S608
                f"sum(purchase_sessions) FROM ({select}) f WHERE product_category = '(all)' "
                f"AND product_brand = '(all)' AND activity_date BETWEEN DATE '{first_day}' AND DATE '{last_day}'")
    return (sqlglot.transpile(question, read="trino", write="duckdb")[0],
            sqlglot.transpile(question, read="trino", write="postgres")[0])


def run(quick: bool = False, events: int | None = None, load_events: int | None = None,
        pairs: int | None = None) -> dict:
    import psycopg2
    from clickstream_etl.lake import catalog, export, schema
    from dashboards.synth import synthesize

    from scripts.harness import lake as duck
    from scripts.harness.moto import MotoServer
    from scripts.harness.postgres import PostgresServer

    n_target = events or int(os.environ.get("BENCH_LAKE_EVENTS", 0)) or (200_000 if quick else EVENTS)
    n_load = load_events or int(os.environ.get("BENCH_LAKE_LOAD_EVENTS", 0)) or (50_000 if quick else LOAD_EVENTS)
    n_pairs = pairs or (1 if quick else PAIRS)
    days = 30
    end = (dt.datetime.now(dt.UTC) - dt.timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    server = PostgresServer()
    moto = MotoServer(tmp)
    old_env = {k: os.environ.get(k) for k in moto.env()}
    os.environ.update(moto.env())  # pyiceberg's Glue and S3 clients (lake.catalog) find the emulator here
    t_start = time.monotonic()
    try:
        s3 = moto.client("s3")
        # 1. the window's cost on the load
        n_objects = _upload(s3, n_load)
        loads = _load_pairs(server, s3, n_pairs)

        # 2-4. a synthesized warehouse, exported by the ETL's own export
        dsn = _migrated(server, "clickstream_dw", hot_window=False)
        conn = psycopg2.connect(dsn)
        t0 = time.monotonic()
        synth = synthesize(conn, n_target, days=days, end=end)
        build_s = time.monotonic() - t0
        total = synth["events"]
        outbox_rows = _fill_outbox(dsn)
        s3.create_bucket(Bucket="bench-lake")
        cat = catalog.load(moto.env())
        catalog.ensure_tables(cat, "bench_lake", "s3://bench-lake/iceberg")
        tables = catalog.load_tables(cat, "bench_lake")
        t0 = time.monotonic()
        exported = export.export_events(conn, tables[schema.EVENTS_TABLE], 500_000, dt.timedelta(minutes=30))
        export_s = time.monotonic() - t0
        t0 = time.monotonic()
        closed = export.closed_days(conn, dt.datetime.now(dt.UTC), dt.timedelta(hours=72), dt.timedelta(minutes=30))
        sessions = export.export_sessions(conn, tables[schema.SESSIONS_TABLE], closed)
        sessions_s = time.monotonic() - t0

        ev = tables[schema.EVENTS_TABLE]
        ev.refresh()
        files = ev.inspect.files().to_pylist()
        parquet_bytes = sum(f["file_size_in_bytes"] for f in files)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP INDEX dw.events_source_file_idx")  # the bench's, not the warehouse's own
            cur.execute("VACUUM ANALYZE dw.events")
            cur.execute("SELECT pg_total_relation_size('dw.events'), pg_relation_size('dw.events')")
            pg_bytes, pg_heap = cur.fetchone()
            cur.execute("SELECT (min(event_timestamp) AT TIME ZONE 'UTC')::date, "
                        "(max(event_timestamp) AT TIME ZONE 'UTC')::date FROM dw.events")
            first_day, last_day = cur.fetchone()
        conn.autocommit = False

        duck_sql, pg_sql = _funnel_sql(first_day, last_day)
        con = duck.duckdb_connection(moto.url)
        duck.attach_tables(con, {"events": ev, "sessions": tables[schema.SESSIONS_TABLE]})
        duck_times, pg_times = [], []
        duck_answer = pg_answer = None
        with conn.cursor() as cur:
            cur.execute("SET TimeZone = 'UTC'")
            cur.execute("SET search_path = dw, public")
            cur.execute("SET work_mem = '256MB'")
            cur.execute("SET jit = off")
            for _ in range(3):
                t = time.monotonic()
                duck_answer = tuple(int(x) for x in con.execute(duck_sql).fetchone())
                duck_times.append(time.monotonic() - t)
                t = time.monotonic()
                cur.execute(pg_sql)
                pg_answer = tuple(int(x) for x in cur.fetchone())
                pg_times.append(time.monotonic() - t)
        conn.close()
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        moto.close()
        server.close()
    return _report(locals())


def _report(m: dict) -> dict:
    rounds = m["loads"]["rounds"]
    med = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    n_load = med["off"]["events_loaded"]
    all_loaded = all(r["off"]["status"] == r["on"]["status"] == "succeeded"
                     and r["off_events"] == r["on_events"] == r["on_ledger"] == r["off"]["events_loaded"]
                     and r["on_partitioned"] and r["off_plain"] for r in rounds)
    total, export_s = m["total"], m["export_s"]
    load_rate = n_load / med["off_s"]
    export_rate = m["exported"].events / export_s
    same = m["duck_answer"] == m["pg_answer"]
    duck_med, pg_med = statistics.median(m["duck_times"]), statistics.median(m["pg_times"])
    per_event = m["parquet_bytes"] / total
    pg_per_event = m["pg_bytes"] / total
    ledger_per_event = m["loads"]["ledger_bytes"] / max(1, m["loads"]["ledger_rows"])
    rows = [
        {"metric": f"warehouse load with the hot window on (real ETL, {n_load:,} events, ledger)",
         "value": round(n_load / med["on_s"]), "unit": "events/s",
         "baseline": "the same load with the window off (today's schema), same objects, same run",
         "baseline_value": round(load_rate), "ratio": round(med["off_s"] / med["on_s"], 3),
         "target": "loads equal, ledger = events", "met": all_loaded},
        {"metric": f"lake export: the ETL's export, outbox -> Iceberg ({m['exported'].events:,} events)",
         "value": round(export_rate), "unit": "events/s",
         "baseline": "warehouse load, window off (row above)", "baseline_value": round(load_rate),
         "ratio": round(export_rate / load_rate, 2),
         "target": "every event exported", "met": m["exported"].events == total},
        {"metric": f"30-day funnel, DuckDB over Iceberg ({total:,} events, median of 3)",
         "value": round(duck_med, 2), "unit": "s",
         "baseline": "same SQL on PostgreSQL's raw dw.events / dw.sessions (median of 3)",
         "baseline_value": round(pg_med, 2), "ratio": round(pg_med / duck_med, 2),
         "target": "same answer", "met": same},
        {"metric": "bytes per event, Parquet (the export's data files)", "value": round(per_event, 1), "unit": "B",
         "baseline": "PostgreSQL dw.events: heap + TOAST + indexes, after VACUUM",
         "baseline_value": round(pg_per_event, 1), "ratio": round(pg_per_event / per_event, 1),
         "target": "baseline >= its heap alone", "met": m["pg_bytes"] >= m["pg_heap"] > 0},
    ]
    every = "; ".join(f"off {r['off_s']:.1f} s, on {r['on_s']:.1f} s ({r['ratio']:.3f})" for r in rounds)
    notes = [
        f"Sizes: the load pairs {n_load:,} events ({m['n_objects']} objects, bench/etl/synth.py), the lake "
        f"{total:,} events over 30 days ({m['synth']['sessions']:,} sessions, synthesized in SQL in "
        f"{m['build_s']:.0f} s). The issue asks for 10M; on this shared 2-core machine the sizes are parameters "
        f"and this run took BENCH_LAKE_EVENTS={m['n_target']} BENCH_LAKE_LOAD_EVENTS={m['n_load']} "
        f"(--events, --load-events; default {EVENTS:,} and {LOAD_EVENTS:,}). The whole run took "
        f"{time.monotonic() - m['t_start']:.0f} s.",
        f"Hot window's cost: {len(rounds)} pairs, each a fresh warehouse with the window off then one converted for "
        f"it (day partitions, ledger dw.event_ids written by the load's own COPY), the real run_etl with the lake off "
        f"(the window's cost alone); the table shows the median pair (off time / on time). Every pair: {every}. "
        f"Checked each pair: both succeeded and loaded the same events, the ledger holds one id per event.",
        f"Export: {export_s:.1f} s for {m['exported'].event_commits} Iceberg commits from {m['outbox_rows']:,} "
        f"outbox rows (reading the rows out of PostgreSQL included; an index on dw.events.source_file, as "
        f"docs/lake.md advises at large volumes, made for it); the closed sessions' days: {m['sessions_s']:.1f} s "
        f"({m['sessions'].session_days} days).",
        f"Funnel answer (sessions per step, '(all)' rows over the 30 days): DuckDB {m['duck_answer']}, PostgreSQL "
        f"{m['pg_answer']}: {'equal' if same else 'DIFFERENT'}. DuckDB reads the Iceberg metadata and Parquet "
        "through httpfs from the emulator on the same machine; Athena's times would differ (its engine, S3 latency, "
        "per-query start-up).",
        f"Parquet {m['parquet_bytes'] / 1e6:,.1f} MB in {len(m['files'])} files; PostgreSQL dw.events "
        f"{m['pg_bytes'] / 1e6:,.1f} MB (heap {m['pg_heap'] / 1e6:,.1f} MB). With the hot window the ledger adds "
        f"{ledger_per_event:.1f} B per event ever loaded (pg_total_relation_size('dw.event_ids') of the converted "
        "load), kept while the day's rows leave.",
    ]
    return {"title": "Lake (Iceberg + DuckDB) against the warehouse; the hot window's cost on the load",
            "rows": rows, "notes": notes,
            "raw": {"events": total, "load_events": n_load, "rounds": [
                {k: v for k, v in r.items() if k not in ("off", "on")} for r in rounds],
                "export_s": export_s, "duck_s": m["duck_times"], "pg_s": m["pg_times"],
                "parquet_bytes": m["parquet_bytes"], "pg_bytes": m["pg_bytes"],
                "ledger_bytes_per_event": ledger_per_event, "same_answer": same}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--load-events", type=int, default=None)
    ap.add_argument("--pairs", type=int, default=None)
    args = ap.parse_args()
    result = run(quick=args.quick, events=args.events, load_events=args.load_events, pairs=args.pairs)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
