"""A private ETL world for tests and benchmarks: an S3 bucket and an SSM password parameter on a moto server, and a
migrated warehouse database on a PostgreSQL server (scripts.harness.postgres), with the ways to run the real ETL
on it and to read its tables."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations

REPO = Path(__file__).resolve().parents[2]
ETL_SRC = REPO / "lambdas" / "etl" / "src"
_counter = itertools.count()

# Tables whose content must not depend on how loads were split into runs/batches (run ids and load times
# excluded).
AGGREGATES = ("dw.agg_hourly_activity", "dw.agg_daily_sessions", "dw.agg_daily_funnel", "dw.agg_daily_product",
              "dw.agg_daily_page_transitions", "dw.agg_daily_client_returns", "dw.agg_user_hours",
              "dw.agg_product_names", "dw.agg_weekly_retention", "dw.agg_retention_members",
              "dw.agg_daily_attribution", "dw.agg_attribution_members",
              "dw.agg_daily_acquisition")
AGGREGATES += ("dw.agg_hourly_dims", "dw.agg_dims_members")  # the channel/device/segment filters (sql/dw/0041)
AGGREGATES += ("dw.agg_daily_acquisition_dims", "dw.agg_acquisition_dims_members")  # sql/dw/0046
AGGREGATES += ("dw.agg_daily_product_dims", "dw.agg_product_dims_members", "dw.agg_daily_users_dims")  # sql/dw/0047
AGGREGATES += ("dw.session_journeys", "dw.agg_daily_transitions_dims", "dw.agg_weekly_retention_dims",
               "dw.agg_retention_dims_members")  # journeys and retention by dimension (sql/dw/0048)
AGGREGATES += ("dw.agg_daily_attribution_dims", "dw.agg_attribution_dims_members")  # sql/dw/0054
COMPARED = {
    "dw.events": "SELECT * FROM dw.events ORDER BY event_id",
    "dw.clients": "SELECT * FROM dw.clients ORDER BY client_id",
    "dw.sessions": "SELECT * FROM dw.sessions ORDER BY session_id",
    "dw.agg_hourly_activity": "SELECT * FROM dw.agg_hourly_activity ORDER BY 1, 3",
    "dw.agg_daily_sessions": "SELECT * FROM dw.agg_daily_sessions ORDER BY 1, 2",
    "dw.agg_daily_funnel": "SELECT * FROM dw.agg_daily_funnel ORDER BY 1, 2, 3, 4",
    "dw.agg_daily_product": "SELECT * FROM dw.agg_daily_product ORDER BY 1, 2, 3, 4, 5",
    "dw.agg_daily_page_transitions": "SELECT * FROM dw.agg_daily_page_transitions ORDER BY 1, 2, 3, 4",
    "dw.agg_daily_client_returns": "SELECT * FROM dw.agg_daily_client_returns ORDER BY 1, 2, 3",
    "dw.agg_user_hours": "SELECT * FROM dw.agg_user_hours ORDER BY 1, 2, 3",
    "dw.agg_product_names": "SELECT * FROM dw.agg_product_names ORDER BY 1, 2, 3, 4, 5, 6",
    "dw.agg_weekly_retention": "SELECT * FROM dw.agg_weekly_retention ORDER BY 1, 2, 3",
    "dw.agg_retention_members": "SELECT * FROM dw.agg_retention_members ORDER BY 1, 2, 3",
    "dw.agg_daily_attribution": "SELECT * FROM dw.agg_daily_attribution ORDER BY 1, 2, 3, 4, 5, 6",
    "dw.agg_attribution_members": "SELECT * FROM dw.agg_attribution_members ORDER BY 1, 2, 3, 4, 5",
    "dw.agg_daily_acquisition": "SELECT * FROM dw.agg_daily_acquisition ORDER BY 1, 2, 3, 4, 5, 6",
    "dw.agg_hourly_dims": "SELECT * FROM dw.agg_hourly_dims ORDER BY 1, 3, 4, 5, 6",
    "dw.agg_dims_members": "SELECT * FROM dw.agg_dims_members ORDER BY 1, 2, 3, 4, 5, 6",
    "dw.agg_daily_acquisition_dims": "SELECT * FROM dw.agg_daily_acquisition_dims ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
    "dw.agg_acquisition_dims_members":
        "SELECT * FROM dw.agg_acquisition_dims_members ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
    "dw.agg_daily_product_dims": "SELECT * FROM dw.agg_daily_product_dims ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
    "dw.agg_product_dims_members": "SELECT * FROM dw.agg_product_dims_members ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
    "dw.agg_daily_users_dims": "SELECT * FROM dw.agg_daily_users_dims ORDER BY 1, 2, 3, 4, 5, 6",
    "dw.session_journeys": "SELECT * FROM dw.session_journeys ORDER BY 1",
    "dw.agg_daily_transitions_dims": "SELECT * FROM dw.agg_daily_transitions_dims ORDER BY 1, 2, 3, 4, 5, 6, 7",
    "dw.agg_weekly_retention_dims": "SELECT * FROM dw.agg_weekly_retention_dims ORDER BY 1, 2, 3, 4, 5, 6",
    "dw.agg_retention_dims_members": "SELECT * FROM dw.agg_retention_dims_members ORDER BY 1, 2, 3",
    "etl.files": "SELECT bucket, object_key, etag, size_bytes, lines, events_loaded, duplicates, rejects "
                 "FROM etl.files ORDER BY 1, 2",
    "etl.rejects": "SELECT source_file, line_number, reason, detail, event_id, raw_line FROM etl.rejects "
                   "ORDER BY 1, 2",
    "etl.dirty_days": "SELECT * FROM etl.dirty_days",
    "etl.delta_clients": "SELECT * FROM etl.delta_clients",  # aggregate changes not applied yet (none after a run)
}
COMPARED["dw.agg_daily_attribution_dims"] = (
    "SELECT * FROM dw.agg_daily_attribution_dims ORDER BY 1, 2, 3, 4, 5, 6, 7, 8")
COMPARED["dw.agg_attribution_dims_members"] = (
    "SELECT * FROM dw.agg_attribution_dims_members ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9")


@dataclass
class EtlWorld:
    """A bucket, an SSM password parameter and a migrated warehouse database, all private to one test."""

    dsn: str
    bucket: str
    parameter: str
    moto: Any
    port: int
    pg: Any = None

    def fresh_database(self) -> str:
        """Switch this world to a new, empty, migrated database (same bucket); return its name."""
        name = f"dw_{uuid.uuid4().hex[:12]}"
        self.dsn = _migrated(self.pg, name)
        return name

    @property
    def s3(self):
        return self.moto.client("s3")

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKSTREAM_ETL_")}
        env.update(self.moto.env())
        env.update({"RAW_BUCKET_NAME": self.bucket, "DW_HOST": "127.0.0.1", "DW_PORT": str(self.port),
                    "DW_NAME": self.dbname, "DW_USER": "postgres",
                    "DW_PASSWORD_PARAMETER": self.parameter, "PYTHONPATH": str(ETL_SRC),
                    # TLS as on the platform: verify-full (the default) against the test server's CA
                    "DW_SSLROOTCERT": str(self.pg.ca_file),
                    "LOG_LEVEL": "WARNING"})
        env.update(extra)
        return env

    def run_cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> dict:
        proc = subprocess.run([sys.executable, "-m", "clickstream_etl", *args], env=env or self.env(),
                              capture_output=True, text=True, timeout=timeout)
        out = proc.stdout.strip().splitlines()
        result = json.loads(out[-1]) if out else {}
        result["_rc"] = proc.returncode
        result["_stderr"] = proc.stderr
        return result

    def run_in_process(self, batch_max_files: int) -> str:
        """One run of the ETL in this process (so that tests can patch it), on this world; returns its status."""
        from clickstream_etl.config import Settings
        from clickstream_etl.runner import run_etl

        conn = psycopg2.connect(self.dsn)
        try:
            return run_etl(conn, self.s3, Settings(raw_bucket=self.bucket, dw_host="unused", listing_lookback_hours=0,
                                                   batch_max_files=batch_max_files)).status
        finally:
            conn.close()

    def popen_cli(self, *args: str, env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "clickstream_etl", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @property
    def dbname(self) -> str:
        return self.dsn.split("dbname=")[1]

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(self.dsn)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def snapshot(self) -> dict[str, list[tuple]]:
        return {name: self.query(q) for name, q in COMPARED.items()}

    def execute(self, *statements: str) -> None:
        conn = psycopg2.connect(self.dsn)
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
            conn.commit()
        finally:
            conn.close()

    def wipe_aggregates(self) -> None:
        """Empty every aggregate table and mark every day with events dirty: what a recompute starts from."""
        self.execute(*(f"DELETE FROM {t}" for t in AGGREGATES),  # noqa: S608 - constant names
                     "INSERT INTO etl.dirty_days SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date "
                     "FROM dw.events ON CONFLICT DO NOTHING")

    def rebuilt(self) -> dict[str, list[tuple]]:
        """The snapshot after every aggregate is recomputed from dw.events / dw.sessions (rebuild.rebuild_dirty_days:
        the oracle the batches' incremental aggregates must equal)."""
        from clickstream_etl.rebuild import rebuild_dirty_days
        from clickstream_etl.runner import setup_session

        self.wipe_aggregates()
        conn = psycopg2.connect(self.dsn)
        try:
            setup_session(conn)
            rebuild_dirty_days(conn)
        finally:
            conn.close()
        return self.snapshot()


def _migrated(pg_server, dbname: str) -> str:
    dsn = pg_server.create_database(dbname)
    conn = psycopg2.connect(dsn)
    try:
        apply_migrations(conn, str(REPO / "sql" / "dw"))
    finally:
        conn.close()
    return dsn


def make_world(pg_server, moto_server, name: str) -> EtlWorld:
    tag = f"{name}-{next(_counter)}-{uuid.uuid4().hex[:6]}"
    dbname = f"dw_{tag}".replace("-", "_")
    dsn = _migrated(pg_server, dbname)
    bucket = f"raw-{tag}".lower()
    moto_server.client("s3").create_bucket(Bucket=bucket)
    parameter = f"/clickstream/test/{tag}/db/dw/etl_writer/password"
    moto_server.client("ssm").put_parameter(Name=parameter, Value="not-used-with-trust-auth",
                                            Type="SecureString")
    return EtlWorld(dsn, bucket, parameter, moto_server, pg_server.port, pg_server)


HOT_WINDOW_SQL = REPO / "sql" / "dw_hot_window" / "enable.sql"

# The warehouse's schema as the catalog has it (schemas dw and etl): relations, columns, constraints, indexes,
# functions, triggers. Two databases with equal results have the same schema.
CATALOG = """
SELECT 'relation', n.nspname || '.' || c.relname, c.relkind::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('dw', 'etl')
UNION ALL
SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname IN ('dw', 'etl') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', n.nspname || '.' || c.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('dw', 'etl')
UNION ALL
SELECT 'index', n.nspname || '.' || i.relname, pg_get_indexdef(i.oid)
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
 WHERE n.nspname IN ('dw', 'etl')
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(pg_get_functiondef(p.oid))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('dw', 'etl') AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'trigger', c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('dw', 'etl') AND NOT t.tgisinternal
ORDER BY 1, 2, 3"""


def catalog(dsn: str) -> list[tuple]:
    """The schema of the warehouse at ``dsn`` (``CATALOG``)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(CATALOG)
            return cur.fetchall()
    finally:
        conn.close()


def enable_hot_window(dsn: str) -> None:
    """Run sql/dw_hot_window/enable.sql on the warehouse at ``dsn``, as the dw_db role does with the window on."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True  # the file has its own transaction
    try:
        with conn.cursor() as cur:
            cur.execute(HOT_WINDOW_SQL.read_text(encoding="utf-8"))
    finally:
        conn.close()
