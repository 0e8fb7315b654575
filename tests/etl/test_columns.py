"""The one list of event columns (columns.py) is what the warehouse holds: every column of dw.events is either in it
or added by the load (where the line came from, the session), with the list's SQL type."""

from __future__ import annotations

import psycopg2
import pytest
from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations
from clickstream_etl import columns, parse, sql

from .helpers import REPO


@pytest.fixture(scope="module")
def warehouse(pg_server):
    conn = psycopg2.connect(pg_server.create_database("etl_columns"))
    try:
        apply_migrations(conn, str(REPO / "sql/dw"))
        yield conn
    finally:
        conn.close()


def test_the_list_is_dw_events(warehouse):
    with warehouse.cursor() as cur:
        cur.execute("SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
                    "JOIN pg_attribute a ON a.attrelid = 'dw.events'::regclass AND a.attname = c.column_name "
                    "WHERE table_schema = 'dw' AND table_name = 'events'")
        held = dict(cur.fetchall())
    listed = {c.name: c.sql_type.replace(", ", ",") for c in columns.EVENT_COLUMNS}
    assert set(held) == set(listed) | set(columns.PROVENANCE) | set(columns.SESSION_ASSIGNED) | set(columns.DERIVED)
    for name, sql_type in listed.items():
        assert held[name].replace("timestamp with time zone", "timestamptz") == sql_type, name


def test_every_column_list_is_made_from_it():
    names = ", ".join(columns.NAMES)
    assert (*columns.NAMES, *columns.PROVENANCE) == parse.ROW_COLUMNS
    for statement in (sql.COPY_EVENTS, sql.normalize_sql(False), sql.normalize_sql(True), sql.DECODED):
        assert names in statement
    for c in columns.EVENT_COLUMNS:
        assert f"{c.name} {c.sql_type}" in sql.CREATE_DECODED
        assert f"{c.source[-1]}" in sql.normalize_sql(False)
