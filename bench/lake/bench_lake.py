"""The lake against the warehouse, side by side in one run (docs/lake.md; BENCHMARKS.md, section "lake").

1. The load's cost of what the lake adds to the warehouse: the real ETL (``run_etl``, lake off: the schema's cost
   alone) loading the same synthetic raw objects (bench/etl/synth.py, ``--load-events``) from the emulator's S3
   into three fresh warehouses per round: today's schema; one with the lake's index on ``dw.events (source_file)``
   as the dw_db role makes it (roles/dw_db/tasks/lake_index.yml, run by ansible-playbook); one converted for the
   hot window (sql/dw_hot_window/enable.sql: day partitions, the event-id ledger the load writes and the dedup
   reads). ``--pairs`` rounds; the median round's ratios stand.
2. Lake export throughput: the ETL's own export (``lake.export.export_events``: outbox -> one Iceberg append per
   at most 500,000 events, Parquet to the emulator's S3, Glue commit) of the ``--events`` events of a synthesized
   warehouse with the role's index, against the warehouse load rate of part 1 (today's schema). Beside it, one
   export commit's reads of ``dw.events`` (its events, and the session days they touch) without the index and with
   it, and the index's build time.
3. A 30-day funnel over those events: the ``lake_daily_funnel`` view of sql/lake (the '(all)' rows summed) on
   DuckDB over the Iceberg tables the export wrote, against the same SQL (translated by sqlglot) on PostgreSQL's
   raw ``dw.events`` / ``dw.sessions``; both must give the same answer (checked).
4. Bytes per event: the Parquet data files against ``pg_total_relation_size`` of ``dw.events`` (heap, TOAST,
   indexes, the lake's index not counted) after VACUUM, and the ledger's bytes per event (part 1's converted
   warehouse).

The ``--events`` warehouse is synthesized in SQL once (bench/dashboards/synth.py without the aggregates: realistic
sessions and funnel over 30 days ending 5 days ago, so that every session day is closed and exported; each raw
object's events lie together, as loads leave them), not loaded through the ETL. Each phase's time and rate goes to
stderr as it ends, so a run stopped early still shows how far it got.

Own PostgreSQL (scripts.harness.postgres) and moto server on free loopback ports.
Usage: python bench/lake/bench_lake.py [--quick] [--events N] [--load-events N] [--pairs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
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
# The load rounds measure a ratio (the same objects into three schemas): a smaller load gives it; the 10M
# warehouse is synthesized, not loaded.
LOAD_EVENTS = 200_000
PAIRS = 3
INDEX = "events_source_file_idx"  # roles/dw_db/defaults/main.yml, dw_db_lake_index_name


def _progress(what: str, **figures) -> None:
    """One phase's figures on stderr, as it ends (a run stopped early still shows them)."""
    print(json.dumps({"at": dt.datetime.now(dt.UTC).strftime("%H:%M:%S"), "phase": what, **figures},
                     default=str), file=sys.stderr, flush=True)


def _lake_index(server, db: str, tmp: Path) -> float:
    """The lake's index on dw.events (source_file), made by the dw_db role's own task file (ansible-playbook, as
    site.yml runs it with the lake on); seconds the run took."""
    from scripts.harness.ansible import run_lake_index_task

    t0 = time.monotonic()
    run = run_lake_index_task(server, db, tmp, dw_db_owner="postgres", clickstream_lake_enabled=True)
    if run.rc != 0 or run.failed:
        raise RuntimeError(f"the dw_db role's lake index failed:\n{run.output[-3000:]}")
    return time.monotonic() - t0


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


def _load_pairs(server, s3, pairs: int, tmp: Path) -> dict:
    """Today's schema, then the lake's index, then the hot window, ``pairs`` times, each on a fresh warehouse."""
    rounds = []
    ledger_bytes = ledger_rows = 0
    for i in range(pairs):
        off_dsn = _migrated(server, f"load_off_{i}", hot_window=False)
        idx_dsn = _migrated(server, f"load_idx_{i}", hot_window=False)
        _lake_index(server, f"load_idx_{i}", tmp)
        on_dsn = _migrated(server, f"load_on_{i}", hot_window=True)
        # the three loads in a rotated order, round by round: the first load of a round ran slower or faster than
        # the others by more than the schemas differ (a run at load average ~20), so no schema always goes first
        order = ["off", "idx", "on"][i % 3:] + ["off", "idx", "on"][:i % 3]
        timed = {name: _load({"off": off_dsn, "idx": idx_dsn, "on": on_dsn}[name], s3) for name in order}
        (off_s, off), (idx_s, idx), (on_s, on) = timed["off"], timed["idx"], timed["on"]
        checks = {
            "off_events": _query_one(off_dsn, "SELECT count(*) FROM dw.events")[0],
            "idx_events": _query_one(idx_dsn, "SELECT count(*) FROM dw.events")[0],
            "on_events": _query_one(on_dsn, "SELECT count(*) FROM dw.events")[0],
            "on_ledger": _query_one(on_dsn, "SELECT count(*) FROM dw.event_ids")[0],
            "idx_index": _query_one(idx_dsn, f"SELECT to_regclass('dw.{INDEX}') IS NOT NULL")[0],
            "off_no_index": _query_one(off_dsn, f"SELECT to_regclass('dw.{INDEX}') IS NULL")[0],
            "on_partitioned": _query_one(
                on_dsn, "SELECT relkind::text FROM pg_class WHERE oid = 'dw.events'::regclass")[0] == "p",
            "off_plain": _query_one(
                off_dsn, "SELECT relkind::text FROM pg_class WHERE oid = 'dw.events'::regclass")[0] == "r",
        }
        ledger_bytes = _query_one(on_dsn, "SELECT pg_total_relation_size('dw.event_ids')")[0]
        ledger_rows = checks["on_ledger"]
        rounds.append({"order": order, "off_s": off_s, "idx_s": idx_s, "on_s": on_s, "ratio": off_s / on_s,
                       "idx_ratio": off_s / idx_s, "off": off, "idx": idx, "on": on, **checks})
        _progress(f"load round {i + 1}", order=order, events=off["events_loaded"], off_s=round(off_s, 1),
                  lake_index_s=round(idx_s, 1), hot_window_s=round(on_s, 1))
        _drop(server, f"load_off_{i}", f"load_idx_{i}", f"load_on_{i}")  # the disk of a shared machine
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
    """The synthesized events' objects in the lake's outbox, in load order (what the loads would have recorded)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO etl.lake_outbox (source_file, events)
                           SELECT source_file, count(*) FROM dw.events GROUP BY source_file
                           ORDER BY min(event_timestamp), source_file""")
            cur.execute("SELECT count(*) FROM etl.lake_outbox")
            n = cur.fetchone()[0]
        conn.commit()
        return n
    finally:
        conn.close()


def _commit_reads(dsn: str, max_events: int) -> dict:
    """One export commit's reads of dw.events (the first ``max_events`` of the outbox): its events, as the export
    reads them (COPY out, read to the end), and the session days they touch (``_mark_days``, its rows then
    removed: the export marks them again); seconds of each, and the plan's scan of dw.events."""
    import io

    import psycopg2
    from clickstream_etl.lake import export

    conn = psycopg2.connect(dsn)
    try:
        files = [r[1] for r in export._pending(conn, 0, max_events)]
        with conn.cursor() as cur:
            cur.execute("SET jit = off")
            cur.execute("EXPLAIN " + export._event_select(), (files,))
            plan = [r[0].split("  (")[0].strip(" ->") for r in cur.fetchall()]
            t0 = time.monotonic()
            cur.copy_expert(f"COPY ({cur.mogrify(export._event_select(), (files,)).decode()}) TO STDOUT",
                            io.BytesIO())
            read_s = time.monotonic() - t0
            t0 = time.monotonic()
            export._mark_days(conn, files, dt.timedelta(minutes=30))
            mark_s = time.monotonic() - t0
        with conn.cursor() as cur:
            cur.execute("DELETE FROM etl.lake_session_days")  # the export marks them again
        conn.commit()
        return {"files": len(files), "read_s": read_s, "mark_s": mark_s,
                "scan": next((line for line in plan if "events" in line), plan[0])}
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
    n_pairs = pairs or int(os.environ.get("BENCH_LAKE_PAIRS", 0)) or (1 if quick else PAIRS)
    days = 30
    max_events = 500_000  # the ETL's LAKE_EXPORT_MAX_EVENTS default
    end = (dt.datetime.now(dt.UTC) - dt.timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    load_average = os.getloadavg()
    server = PostgresServer()
    moto = MotoServer(tmp)
    old_env = {k: os.environ.get(k) for k in moto.env()}
    os.environ.update(moto.env())  # pyiceberg's Glue and S3 clients (lake.catalog) find the emulator here
    t_start = time.monotonic()
    _progress("start", events=n_target, load_events=n_load, rounds=n_pairs, load_average=load_average)
    try:
        s3 = moto.client("s3")
        # 1. the load's cost of the lake's index and of the hot window
        n_objects = _upload(s3, n_load)
        loads = _load_pairs(server, s3, n_pairs, tmp)

        # 2-4. a synthesized warehouse, exported by the ETL's own export
        dsn = _migrated(server, "clickstream_dw", hot_window=False)
        conn = psycopg2.connect(dsn)
        t0 = time.monotonic()
        synth = synthesize(conn, n_target, days=days, end=end, aggregates=False)
        build_s = time.monotonic() - t0
        total = synth["events"]
        _progress("synthesized", events=total, seconds=round(build_s), rate=round(total / build_s))
        outbox_rows = _fill_outbox(dsn)
        no_index = _commit_reads(dsn, max_events)
        _progress("one commit's reads without the index", **no_index)
        index_s = _lake_index(server, "clickstream_dw", tmp)
        index_bytes = _query_one(dsn, f"SELECT pg_relation_size('dw.{INDEX}')")[0]
        with_index = _commit_reads(dsn, max_events)
        _progress("the role's index", seconds=round(index_s, 1), bytes=index_bytes, **with_index)
        s3.create_bucket(Bucket="bench-lake")
        cat = catalog.load(moto.env())
        catalog.ensure_tables(cat, "bench_lake", "s3://bench-lake/iceberg")
        tables = catalog.load_tables(cat, "bench_lake")
        t0 = time.monotonic()
        exported = export.export_events(conn, tables[schema.EVENTS_TABLE], max_events, dt.timedelta(minutes=30))
        export_s = time.monotonic() - t0
        _progress("exported", events=exported.events, commits=exported.event_commits, seconds=round(export_s),
                  rate=round(exported.events / export_s))
        t0 = time.monotonic()
        closed = export.closed_days(conn, dt.datetime.now(dt.UTC), dt.timedelta(hours=72), dt.timedelta(minutes=30))
        sessions = export.export_sessions(conn, tables[schema.SESSIONS_TABLE], closed)
        sessions_s = time.monotonic() - t0
        _progress("sessions exported", days=sessions.session_days, seconds=round(sessions_s))

        ev = tables[schema.EVENTS_TABLE]
        ev.refresh()
        files = ev.inspect.files().to_pylist()
        parquet_bytes = sum(f["file_size_in_bytes"] for f in files)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP INDEX dw.{INDEX}")  # the lake's, not counted in the warehouse's own bytes
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
                _progress("funnel", duckdb_s=round(duck_times[-1], 2), postgresql_s=round(pg_times[-1], 2))
        conn.close()
        load_average_end = os.getloadavg()
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        moto.close()
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)  # the emulator's log and the role's play
    return _report(locals())


def _report(m: dict) -> dict:
    rounds = m["loads"]["rounds"]
    med = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    med_idx = sorted(rounds, key=lambda r: r["idx_ratio"])[len(rounds) // 2]
    n_load = med["off"]["events_loaded"]
    all_loaded = all(r["off"]["status"] == r["idx"]["status"] == r["on"]["status"] == "succeeded"
                     and r["off_events"] == r["idx_events"] == r["on_events"] == r["on_ledger"]
                     == r["off"]["events_loaded"]
                     and r["on_partitioned"] and r["off_plain"] and r["idx_index"] and r["off_no_index"]
                     for r in rounds)
    total, export_s = m["total"], m["export_s"]
    load_rate = n_load / med["off_s"]
    export_rate = m["exported"].events / export_s
    same = m["duck_answer"] == m["pg_answer"]
    duck_med, pg_med = statistics.median(m["duck_times"]), statistics.median(m["pg_times"])
    per_event = m["parquet_bytes"] / total
    pg_per_event = m["pg_bytes"] / total
    ledger_per_event = m["loads"]["ledger_bytes"] / max(1, m["loads"]["ledger_rows"])
    no_idx, idx = m["no_index"], m["with_index"]
    no_idx_s, idx_s = no_idx["read_s"] + no_idx["mark_s"], idx["read_s"] + idx["mark_s"]
    rows = [
        {"metric": f"warehouse load with the lake's index on dw.events (source_file) (real ETL, {n_load:,} events)",
         "value": round(n_load / med_idx["idx_s"]), "unit": "events/s",
         "baseline": "the same load without it (today's schema), same objects, same run",
         "baseline_value": round(n_load / med_idx["off_s"]), "ratio": round(med_idx["off_s"] / med_idx["idx_s"], 3),
         "target": "loads equal; index only with the lake", "met": all_loaded},
        {"metric": f"warehouse load with the hot window on (real ETL, {n_load:,} events, ledger)",
         "value": round(n_load / med["on_s"]), "unit": "events/s",
         "baseline": "the same load with the window off (today's schema), same objects, same run",
         "baseline_value": round(load_rate), "ratio": round(med["off_s"] / med["on_s"], 3),
         "target": "loads equal, ledger = events", "met": all_loaded},
        {"metric": f"one export commit's reads of dw.events ({idx['files']} objects, <= 500,000 events of "
                   f"{total:,}) with the index",
         "value": round(idx_s, 2), "unit": "s",
         "baseline": "the same reads without the index (same warehouse, same run)",
         "baseline_value": round(no_idx_s, 2), "ratio": round(no_idx_s / idx_s, 1),
         "target": "index used", "met": "Index" in idx["scan"] and "Index" not in no_idx["scan"]},
        {"metric": f"lake export: the ETL's export, outbox -> Iceberg ({m['exported'].events:,} events)",
         "value": round(export_rate), "unit": "events/s",
         "baseline": "warehouse load, today's schema (rows above)", "baseline_value": round(load_rate),
         "ratio": round(export_rate / load_rate, 2),
         "target": "every event exported", "met": m["exported"].events == total},
        {"metric": f"30-day funnel, DuckDB over Iceberg ({total:,} events, median of 3)",
         "value": round(duck_med, 2), "unit": "s",
         "baseline": "same SQL on PostgreSQL's raw dw.events / dw.sessions (median of 3)",
         "baseline_value": round(pg_med, 2), "ratio": round(pg_med / duck_med, 2),
         "target": "same answer", "met": same},
        {"metric": "bytes per event, Parquet (the export's data files)", "value": round(per_event, 1), "unit": "B",
         "baseline": "PostgreSQL dw.events: heap + TOAST + indexes (the lake's not counted), after VACUUM",
         "baseline_value": round(pg_per_event, 1), "ratio": round(pg_per_event / per_event, 1),
         "target": "baseline >= its heap alone", "met": m["pg_bytes"] >= m["pg_heap"] > 0},
    ]
    every = "; ".join(f"(order {'/'.join(r['order'])}) today {r['off_s']:.1f} s, index {r['idx_s']:.1f} s "
                      f"({r['idx_ratio']:.3f}), hot window {r['on_s']:.1f} s ({r['ratio']:.3f})" for r in rounds)
    la0, la1 = m["load_average"], m["load_average_end"]
    notes = [
        f"Sizes: the load rounds {n_load:,} events ({m['n_objects']} objects, bench/etl/synth.py), the lake "
        f"{total:,} events over 30 days ({m['synth']['sessions']:,} sessions, synthesized in SQL in "
        f"{m['build_s']:.0f} s, {total / m['build_s']:,.0f} events/s) and {m['outbox_rows']:,} outbox rows (one per "
        f"raw object: a shard's hour). This run: BENCH_LAKE_EVENTS={m['n_target']} "
        f"BENCH_LAKE_LOAD_EVENTS={m['n_load']} BENCH_LAKE_PAIRS={m['n_pairs']} (--events, --load-events, --pairs; "
        f"defaults {EVENTS:,}, {LOAD_EVENTS:,}, {PAIRS}). The whole run took "
        f"{time.monotonic() - m['t_start']:.0f} s; load average (1, 5, 15 min) {la0[0]:.1f}, {la0[1]:.1f}, "
        f"{la0[2]:.1f} at its start and {la1[0]:.1f}, {la1[1]:.1f}, {la1[2]:.1f} at its end, on a machine "
        f"shared with other work: the ratios (same run) are the figures to compare.",
        f"The load's cost: {len(rounds)} rounds, each three fresh warehouses loaded with the same objects by the real "
        f"run_etl with the lake off (the schema's cost alone): today's schema; with the lake's index made by the "
        f"dw_db role's task file; converted for the hot window (day partitions, ledger dw.event_ids written by the "
        f"load's own COPY). The table shows the median round of each ratio (today's time / the other's). Every "
        f"round: {every}. Checked each round: all succeeded and loaded the same events, the ledger holds one id per "
        f"event, the index is there only where the role made it.",
        f"The lake's index at {total:,} events: the role's build {m['index_s']:.1f} s (ansible-playbook included), "
        f"{m['index_bytes'] / 1e6:,.1f} MB ({m['index_bytes'] / total:.1f} B per event). One export commit's reads "
        f"(its events by COPY, then the session days they touch): without it {no_idx['read_s']:.2f} s + "
        f"{no_idx['mark_s']:.2f} s ({no_idx['scan']}); with it {idx['read_s']:.2f} s + {idx['mark_s']:.2f} s "
        f"({idx['scan']}). Without it every commit scans the whole table four times, so an export's reads grow "
        "with the table's size times the commits, with it with the events exported.",
        f"Export: {export_s:.1f} s for {m['exported'].event_commits} Iceberg commits from {m['outbox_rows']:,} "
        f"outbox rows ({export_rate:,.0f} events/s: reading the rows out of PostgreSQL, Parquet, the emulator's S3 "
        f"and Glue included); the closed sessions' days: {m['sessions_s']:.1f} s ({m['sessions'].session_days} "
        "days).",
        f"Funnel answer (sessions per step, '(all)' rows over the 30 days): DuckDB {m['duck_answer']}, PostgreSQL "
        f"{m['pg_answer']}: {'equal' if same else 'DIFFERENT'}. Every run: DuckDB "
        f"{', '.join(f'{t:.1f}' for t in m['duck_times'])} s, PostgreSQL "
        f"{', '.join(f'{t:.1f}' for t in m['pg_times'])} s. DuckDB reads the Iceberg metadata and Parquet "
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
                {k: v for k, v in r.items() if k not in ("off", "idx", "on")} for r in rounds],
                "export_s": export_s, "duck_s": m["duck_times"], "pg_s": m["pg_times"],
                "parquet_bytes": m["parquet_bytes"], "pg_bytes": m["pg_bytes"], "index_s": m["index_s"],
                "index_bytes": m["index_bytes"], "commit_reads": {"without": no_idx, "with": idx},
                "load_average": [la0, la1], "ledger_bytes_per_event": ledger_per_event, "same_answer": same}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--load-events", type=int, default=None)
    ap.add_argument("--pairs", type=int, default=None, help="load rounds (today's schema, index, hot window)")
    args = ap.parse_args()
    result = run(quick=args.quick, events=args.events, load_events=args.load_events, pairs=args.pairs)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
