"""The full recompute of the aggregates from ``dw.events`` / ``dw.sessions``: the rebuild command.

The runs keep the aggregates current incrementally (``aggregates``); this recomputes days from scratch, and is
the oracle the tests compare the incremental upkeep with. It is run:
- by an operator, after a change to an aggregate's definition or a repair of the events
  (``make etl-rebuild FROM=YYYY-MM-DD TO=YYYY-MM-DD``, ``python -m clickstream_etl rebuild``): ``mark_days`` marks the
  days with events in the range dirty (``etl.dirty_days``) and ``rebuild_dirty_days`` recomputes them;
- by every run and replay at its end, for days still marked dirty (a rebuild that failed or was cut short, or days
  an earlier version of the ETL left dirty), so that a rebuild, once asked for, always completes.

Its statements are in queries/rebuild.sql, with the business rules of ``rules``.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta

from . import acquisition_daily, acquisition_dims, attribution, dims, faults, product_dims, queries, retention
from .attribution_dims import rebuild as rebuild_attribution_dims
from .connections import sibling_connection, side_by_side, transaction, two_connections
from .journeys import rebuild as rebuild_journeys
from .retention_dims import rebuild as rebuild_retention_dims

# Must be at least the dashboards' longest date range (files/shiny/app/logic/filters.R MAX_RANGE_DAYS): a previous
# active day further back than this is stored as '-infinity' in dw.agg_daily_client_returns.
HORIZON_DAYS = 366

_Q = queries.load("rebuild")
DAY_EVENTS = queries.statement("rebuild", "day_events")
ACTIVITY = _Q["activity"]
ENGAGEMENT = _Q["engagement"]
CLEAR_DIRTY = queries.statement("rebuild", "clear_dirty")
CLIENT_RETURNS = _Q["client_returns"]
MARK_DAYS = """INSERT INTO etl.dirty_days (activity_date)
SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date FROM dw.events
 WHERE event_timestamp >= %(first)s::date AND event_timestamp < %(last)s::date + 1
ON CONFLICT DO NOTHING"""


def dirty_ranges(days: list) -> list[tuple]:
    """Sorted dates -> contiguous [start, end) ranges."""
    ranges: list[tuple] = []
    for d in sorted(days):
        if ranges and ranges[-1][1] == d:
            ranges[-1] = (ranges[-1][0], d + timedelta(days=1))
        else:
            ranges.append((d, d + timedelta(days=1)))
    return ranges


def _recompute(cur, days: list[date], statements: list[str], clear: bool) -> None:
    """``statements`` for each contiguous range of dirty days, after a temp table of the range's events."""
    for d0, d1 in dirty_ranges(days):
        p = {"d0": d0, "d1": d1}
        cur.execute("DROP TABLE IF EXISTS etl_day_events")
        cur.execute(DAY_EVENTS, p)
        for stmt in statements:
            cur.execute(stmt, p)
        if clear:
            cur.execute(CLEAR_DIRTY, p)


def rebuild_activity(cur, days: list[date]) -> None:
    """Hourly activity and the funnel of the dirty days; clears them (on the connection that commits last)."""
    _recompute(cur, days, ACTIVITY, clear=True)


def rebuild_engagement(cur, days: list[date]) -> None:
    """Products, daily sessions and page transitions of the dirty days, the client returns from the first one
    on (a new session there can change every later day's "previous day"), the retention cohorts of every
    client, and the attribution of the days' purchases and of those of the lookback after them."""
    _recompute(cur, days, ENGAGEMENT, clear=False)
    acquisition_daily.rebuild(cur, dirty_ranges(days))  # sessions per day and acquisition (sql/dw/0044)
    rebuild_client_returns(cur, days[0])
    retention.rebuild(cur)  # every client: a client's cohort rows depend on all its sessions
    attribution.rebuild(cur, days)  # the purchases of the days and of the lookback after them
    dims.rebuild(cur, days[0])  # from the first dirty day on: a session's segment depends on earlier sessions
    acquisition_dims.rebuild(cur, days[0])  # acquisition by device and segment, from dims.rebuild's sessions
    product_dims.rebuild(cur, days[0])  # products by channel, device and segment, from dims.rebuild's sessions
    rebuild_journeys(cur, days[0])  # journeys by dimension and the common paths' sessions (sql/dw/0048)
    rebuild_retention_dims(cur)  # cohorts by the dimensions of their sessions: after journeys
    rebuild_attribution_dims(cur, days[0])  # attribution by device and segment: after attribution.rebuild


def rebuild_client_returns(cur, first_dirty_day: dt.date) -> None:
    """Recompute ``dw.agg_daily_client_returns`` for every day from `first_dirty_day` on (within the caller's
    transaction; `cur` is a psycopg2 cursor). Days after the dirty ones are recomputed too: a client's new active
    day changes the previous day of its later days. Idempotent (delete + insert of the same rows)."""
    params = {"d0": first_dirty_day, "horizon": HORIZON_DAYS}
    for statement in CLIENT_RETURNS:
        cur.execute(statement, params)


def rebuild_dirty_days(conn, parallel: bool = True) -> int:
    """Recompute every aggregate for the dirty days, and clear them. Returns the day count.

    The two independent halves (hourly activity and funnel; products, daily sessions, transitions and client
    returns) run at the same time on ``conn`` and a sibling connection when ``parallel`` (and the sibling opens),
    each in its own transaction on its own tables. The sibling commits first, then ``conn``, which also deletes the
    dirty days: if anything fails or the process dies before that last commit, the days stay dirty and the next run
    recomputes them all (each recompute replaces its rows).
    """
    with transaction(conn):  # commits last: the sibling's half first, then this one with the days cleared
        with conn.cursor() as cur:
            cur.execute("SELECT activity_date FROM etl.dirty_days ORDER BY 1 FOR UPDATE")
            days = [r[0] for r in cur.fetchall()]
        if days:
            # sibling_connection looked up at call time: the tests watch it
            with two_connections(conn, parallel, lambda c: sibling_connection(c)) as other, conn.cursor() as cur:
                if other is None:
                    rebuild_engagement(cur, days)
                    rebuild_activity(cur, days)
                else:
                    with other.cursor() as other_cur:
                        side_by_side(lambda: rebuild_activity(cur, days),
                                     lambda: rebuild_engagement(other_cur, days))
                faults.checkpoint("before_refresh_commit")
                if other is not None:
                    other.commit()
                    faults.checkpoint("between_refresh_commits")
    return len(days)


def mark_days(conn, first: date, last: date) -> None:
    """Mark dirty every day from ``first`` to ``last`` (included) that holds events, in one transaction."""
    with transaction(conn), conn.cursor() as cur:
        cur.execute(MARK_DAYS, {"first": first, "last": last})
