"""Where the ETL's time goes: one run of the real ETL with every SQL statement and COPY timed.

Same synthetic data, emulator and PostgreSQL as bench_etl.py; prints seconds per statement (grouped by its
first line) and the Python-side remainder. Only the run's own connection is timed: the part of the aggregates'
apply that runs beside it on a second connection (aggregates.apply_pending) is not listed.
Usage: python bench/etl/profile_etl.py [EVENTS]
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for p in (REPO, REPO / "bench", REPO / "lambdas/etl/src", REPO / "collections"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402
from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import (  # noqa: E402
    apply_migrations,
)
from clickstream_etl.config import Settings  # noqa: E402
from clickstream_etl.runner import run_etl  # noqa: E402

from etl.bench_etl import BUCKET, _upload  # noqa: E402
from scripts.harness.moto import MotoServer  # noqa: E402
from scripts.harness.postgres import PostgresServer  # noqa: E402
from scripts.harness.procs import cpu_seconds  # noqa: E402

TIMES: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def _label(sql: object) -> str:
    text = sql.decode() if isinstance(sql, bytes) else str(sql)
    # aggregates._planned sends "SET LOCAL ...; statements; SET LOCAL ..." in one round trip: label by its statements
    text = ";".join(s for s in text.split(";") if not s.strip().startswith("SET LOCAL")) or text
    first = " ".join(text.split())[:70]
    if "etl_tc t" in text:
        first = "[SQL path] " + first
    return first


class TimedCursor(psycopg2.extensions.cursor):
    def execute(self, query, vars=None):
        t0 = time.perf_counter()
        try:
            return super().execute(query, vars)
        finally:
            TIMES[_label(query)] += time.perf_counter() - t0
            COUNTS[_label(query)] += 1

    def copy_expert(self, sql, file, size=8192):
        t0 = time.perf_counter()
        try:
            return super().copy_expert(sql, file, size)
        finally:
            TIMES[_label(sql)] += time.perf_counter() - t0
            COUNTS[_label(sql)] += 1


def main(total: int) -> None:
    from etl import synth

    results = REPO / "bench/results"
    pg, moto = PostgresServer(), MotoServer(results)
    try:
        s3 = moto.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        synth_total = total
        _upload(s3, synth_total)
        dsn = pg.create_database("prof_dw")
        conn = psycopg2.connect(dsn)
        apply_migrations(conn, str(REPO / "sql/dw"))
        conn.close()
        conn = psycopg2.connect(dsn, cursor_factory=TimedCursor)
        settings = Settings(raw_bucket=BUCKET, dw_host="unused", listing_lookback_hours=0)
        backend = conn.get_backend_pid()
        t0, cpu0, pg0, times0 = time.perf_counter(), time.process_time(), cpu_seconds(backend), os.times()
        result = run_etl(conn, s3, settings, trigger="profile")
        wall = time.perf_counter() - t0
        cpu, pg_cpu = time.process_time() - cpu0, cpu_seconds(backend) - pg0
        user, system = os.times().user - times0.user, os.times().system - times0.system
        conn.close()
    finally:
        moto.close()
        pg.close()
    sql_total = sum(TIMES.values())
    print(f"CPU: ETL process {cpu:.1f} s (user {user:.1f}, system {system:.1f}), its PostgreSQL backend "
          f"{pg_cpu:.1f} s")
    print(f"events {result.events_loaded:,} in {wall:.1f} s = {result.events_loaded / wall:,.0f} events/s; "
          f"SQL {sql_total:.1f} s, rest (Python, S3 waits) {wall - sql_total:.1f} s; synth {synth.__name__}")
    for label, secs in sorted(TIMES.items(), key=lambda kv: -kv[1])[:70]:
        print(f"{secs:8.2f} s {100 * secs / wall:5.1f} % x{COUNTS[label]:<4d} {label}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
