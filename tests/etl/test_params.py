"""The ETL's array parameters (``sql.array``): one literal per list, read back by PostgreSQL as the list was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from clickstream_etl import sql
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def cursor(pg_server):
    conn = psycopg2.connect(pg_server.dsn)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


# any text PostgreSQL can hold (no NUL; no lone surrogate, which no decoded JSON string of the fast path holds),
# with the characters an array literal treats specially
_TEXT = st.one_of(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
                  st.sampled_from(['', ' ', '"', '\\', ',', '{', '}', 'NULL', 'a b', '\\"', '{"a",b}', 'é\n\t']))


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT, max_size=8))
def test_a_text_array_reads_back_as_the_list(cursor, values: list[str]):
    cursor.execute("SELECT %s::text[]", (sql.array(values),))
    assert cursor.fetchone()[0] == values


def test_timestamps_and_uuids_read_back_as_their_texts(cursor):
    start = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    when = [start, start + timedelta(hours=30, microseconds=1)]
    texts = ["2024-05-01T10:00:00.123Z", when[1].isoformat()]
    ids = ["0b7e2a52-3c1e-4f6a-9d0e-1a2b3c4d5e6f", "9f1c2d3e-0000-4000-8000-000000000001"]
    cursor.execute("SELECT %s::timestamptz[], %s::uuid[]::text[]", (sql.array(texts), sql.array(ids)))
    assert cursor.fetchone() == (when, ids)
    cursor.execute("SELECT cardinality(%s::text[])", (sql.array([]),))
    assert cursor.fetchone()[0] == 0
