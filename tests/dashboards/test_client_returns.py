"""dw.agg_daily_client_returns (sql/dw/0005_*) against count(DISTINCT client_id) on a real PostgreSQL: the
migration's backfill, the ETL refresh (clickstream_etl.rebuild) after new and late sessions, and the
overview's users query for every date range of up to 366 days and every login state."""

from __future__ import annotations

import datetime as dt
import random

import psycopg2
import pytest
from clickstream_etl.rebuild import HORIZON_DAYS, rebuild_client_returns

from .support import REPO

DB = "client_returns_dw"
DAY0 = dt.date(2024, 1, 1)
STATES = ("logged_in", "logged_out")
# The overview query of files/shiny/app/logic/overview.R (users), with psycopg2 placeholders.
USERS = """SELECT coalesce(sum(clients), 0) FROM dw.agg_daily_client_returns
            WHERE user_login_state = %(state)s AND activity_date BETWEEN %(a)s AND %(b)s AND previous_date < %(a)s"""
TRUTH = """SELECT count(DISTINCT client_id) FROM dw.sessions WHERE session_date BETWEEN %(a)s AND %(b)s
            AND (%(state)s = '(all)' OR user_login_state = %(state)s)"""


def _insert_sessions(cur, rng: random.Random, n: int, days: range, clients: int, tag: str) -> None:
    rows = []
    for i in range(n):
        day = DAY0 + dt.timedelta(days=rng.choice(days))
        start = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60)), tzinfo=dt.UTC)
        rows.append((f"00000000-0000-4000-8000-{tag}{i:011d}", f"c{rng.randrange(clients)}", rng.choice(STATES),
                     start, start + dt.timedelta(minutes=5), day))
    cur.executemany("""INSERT INTO dw.sessions (session_id, client_id, user_login_state, session_start, session_end,
                       session_date, duration_seconds, event_count, page_view_count, is_engaged, is_converted,
                       is_first_visit, purchase_count, revenue)
                       VALUES (%s, %s, %s, %s, %s, %s, 300, 1, 1, true, false, false, 0, 0)""", rows)


def _table(cur) -> list[tuple]:
    cur.execute("SELECT * FROM dw.agg_daily_client_returns ORDER BY 1, 2, 3")
    return cur.fetchall()


def _check_ranges(cur, rng: random.Random, last_day: int, n: int = 150) -> None:
    ranges = [(0, last_day), (0, 0), (last_day, last_day), (last_day - HORIZON_DAYS + 1, last_day)]
    for _ in range(n):
        a = rng.randrange(-5, last_day + 5)
        ranges.append((a, min(a + rng.randrange(1, 60), a + HORIZON_DAYS - 1)))
    for a, b in ranges:
        for state in ("(all)", *STATES):
            p = {"a": DAY0 + dt.timedelta(days=a), "b": DAY0 + dt.timedelta(days=b), "state": state}
            cur.execute(USERS, p)
            got = cur.fetchone()[0]
            cur.execute(TRUTH, p)
            assert got == cur.fetchone()[0], p


@pytest.fixture()
def dw(pg_server):
    from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations

    conn = psycopg2.connect(pg_server.create_database(DB))
    rng = random.Random(6)
    # Some history over 400 days (so the 366-day horizon matters); the test runs the backfill itself.
    apply_migrations(conn, str(REPO / "sql" / "dw"))
    with conn.cursor() as cur:
        cur.execute("DELETE FROM dw.agg_daily_client_returns")
        _insert_sessions(cur, rng, 3000, range(0, 400, 3), 120, "0")
    conn.commit()
    yield conn, rng
    conn.close()


def test_backfill_and_refresh_match_distinct_counts(dw) -> None:
    conn, rng = dw
    with conn.cursor() as cur:
        migration = (REPO / "sql/dw/0005_dashboards.sql").read_text()
        backfill = migration[migration.index("INSERT INTO dw.agg_daily_client_returns"):]
        cur.execute(backfill[:backfill.index(";\n") + 1])  # the migration's backfill statement alone
        backfilled = _table(cur)
        assert backfilled, "the backfill wrote nothing"
        _check_ranges(cur, rng, 399)
        # A full refresh writes the same rows as the backfill.
        rebuild_client_returns(cur, DAY0)
        assert _table(cur) == backfilled
        # New sessions on later days (returning and new clients), then a late one on an old day: refreshing from
        # the earliest dirty day gives the same table as a refresh of everything, and exact counts.
        _insert_sessions(cur, rng, 400, range(400, 410), 200, "1")
        rebuild_client_returns(cur, DAY0 + dt.timedelta(days=400))
        incremental = _table(cur)
        rebuild_client_returns(cur, DAY0)
        assert _table(cur) == incremental
        _insert_sessions(cur, rng, 30, range(200, 202), 200, "2")
        rebuild_client_returns(cur, DAY0 + dt.timedelta(days=200))
        late = _table(cur)
        assert late != incremental
        rebuild_client_returns(cur, DAY0)
        assert _table(cur) == late
        _check_ranges(cur, rng, 409)
        # Bounded size: at most one row per (day, login key, previous day within the horizon or -infinity).
        cur.execute("""SELECT max(n) FROM (SELECT count(*) AS n FROM dw.agg_daily_client_returns
                       GROUP BY activity_date, user_login_state) x""")
        assert cur.fetchone()[0] <= HORIZON_DAYS + 1
    conn.rollback()
