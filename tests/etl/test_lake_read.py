"""The export's read of warehouse rows (``clickstream_etl.lake.export._arrow``: ``COPY ... TO STDOUT`` as CSV,
parsed by pyarrow's CSV reader into the Iceberg table's Arrow types) against a real PostgreSQL: every type the
lake's tables use, and the values CSV could confuse (NULL against the empty text, quotes, commas, line breaks,
"t", "NULL", non-ASCII, the ends of the timestamp range, a session time zone other than UTC), equal what psycopg2
reads row by row (the oracle: the export's former reader)."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import psycopg2
import pytest

pytestmark = pytest.mark.integration

TEXTS = ["", None, "a,b", 'say "hi"', "line1\nline2\r\nline3", "ünïcødé ✓", "t", "f", "NULL", " padded ", "\\N", '"']
ROWS = [
    # (uuid, text, timestamptz, numeric(14, 2), boolean, date, integer, numeric(38, 2))
    ("0f8fad5b-d9cb-469f-a165-70867728950e", t, ts, price, flag, day, n, revenue)
    for t, ts, price, flag, day, n, revenue in zip(
        TEXTS,
        ["2026-01-02 03:04:05.123456+00", "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00",
         "2026-06-30 23:30:00+05:30", None, "2026-03-29 01:30:00+00", "2026-10-25 00:59:59.5+00",
         "2026-01-02 03:04:05+00", "2026-01-02 03:04:05+00", "2026-01-02 03:04:05+00", "2026-01-02 03:04:05+00",
         "2026-01-02 03:04:05+00"],
        ["0.10", "123456789012.34", None, "0", "0.01", "99.99", "1", "2", "3", "4", "5", "6"],
        [True, False, None, True, False, True, False, True, False, True, False, True],
        ["2026-01-02", "0001-01-01", "9999-12-31", None, "2026-02-28", "2026-03-01", "2026-01-02", "2026-01-02",
         "2026-01-02", "2026-01-02", "2026-01-02", "2026-01-02"],
        [0, -1, 2147483647, None, -2147483648, 7, 8, 9, 10, 11, 12, 13],
        ["0.00", "999999999999999999999999999999999999.99", "12.30", "0.01", "1", "2", "3", "4", "5", "6", "7",
         "8"],
        strict=True)
]
COLUMNS = (("id", "uuid", True), ("label", "text", False), ("at", "timestamptz", False),
           ("price", "numeric(14, 2)", False), ("flag", "boolean", False), ("day", "date", False),
           ("n", "integer", False), ("revenue", "numeric(38, 2)", True))


def test_copy_read_equals_the_row_by_row_read(pg_server):
    from clickstream_etl.lake import export, schema

    iceberg_schema = schema._schema(COLUMNS)
    conn = psycopg2.connect(pg_server.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TimeZone = 'Asia/Kolkata'")  # the read must not depend on the session's zone
            cur.execute("CREATE TEMPORARY TABLE lake_read (id uuid NOT NULL, label text, at timestamptz, "
                        "price numeric(14, 2), flag boolean, day date, n integer, revenue numeric NOT NULL)")
            cur.executemany("INSERT INTO lake_read VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", ROWS)
            select = ", ".join(export._output(n, t) for n, t, _ in COLUMNS)
            sql = f"SELECT {select} FROM lake_read WHERE n IS DISTINCT FROM %s ORDER BY n NULLS FIRST"  # noqa: S608
            got = export._arrow(cur, sql, (-42,), iceberg_schema).to_pylist()
            cur.execute("SET TimeZone = 'UTC'")  # the oracle's datetimes (year 9999 + 05:30 is past Python's)
            cur.execute("SELECT id::text, label, at, price, flag, day, n, revenue FROM lake_read "
                        "ORDER BY n NULLS FIRST")
            names = [c[0] for c in COLUMNS]
            want = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        conn.rollback()
    finally:
        conn.close()
    for row in want:
        if row["at"] is not None:
            row["at"] = row["at"].astimezone(UTC)
    assert len(got) == len(ROWS)
    for g, w in zip(got, want, strict=True):
        g_at, w_at = g.pop("at"), w.pop("at")
        assert g == w
        assert g_at == w_at and (g_at is None or g_at.utcoffset().total_seconds() == 0)
    assert [r["label"] for r in got].count(None) == 1 and [r["label"] for r in got].count("") == 1
    assert Decimal("999999999999999999999999999999999999.99") in [r["revenue"] for r in got]
