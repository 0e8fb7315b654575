"""The hot window: with the lake on, ``dw.events`` and ``dw.sessions`` keep only their recent days.

Switched on (``HOT_WINDOW_DAYS`` > 0), the warehouse's owner converts the tables once to tables partitioned by UTC
day (``sql/dw_hot_window/enable.sql``, run by the ``dw_db`` role); with it off the schema is the numbered
migrations' alone and the load is unchanged. A day leaves by dropping its partitions (``dw.hot_window_drop_days``),
never by DELETE. Uniqueness of ``event_id`` is kept by the ledger ``dw.event_ids``, which keeps every id and which
the load writes itself (``load``, ``ledger=True``) and its dedup reads (``plan``): a re-sent event of a day that has
left is still a duplicate. Whether the ledger is in use follows the schema (``converted``), not the setting: a
warehouse converted once keeps its ledger even if the window is set to 0 again. The aggregates keep everything.

A day leaves only when

- it is older than ``hot_window_days`` before ``today`` (events); sessions stay the client-returns horizon
  (``rebuild.HORIZON_DAYS``) and a day longer: ``dw.agg_daily_client_returns`` (incremental, and the rebuild of any
  day that still has its events) looks up a returning client's previous active day that far back in
  ``dw.sessions``;
- the window is longer than the freshness window plus a day (``minimum_days``): a late event can only be
  accepted within ``freshness_hours`` of its receipt, so the sessions it can continue and the events it is
  sessionized with are still in the warehouse;
- the lake holds it: for every day to drop, the lake's count of distinct event ids (and of sessions) equals the
  warehouse's (``Lake.day_counts``). Otherwise nothing leaves and ``NotInLake`` names the first day that differs.

``prepare`` makes the partitions of the days a run may load ahead of time (rows of a day without one go to the
default partition, and are moved when its partition is made).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from ..rebuild import HORIZON_DAYS

LOG = logging.getLogger("clickstream_etl")

# Partitions made ahead of the ETL's clock: the future skew (15 min) and a run that crosses midnight.
DAYS_AHEAD = 2


class HotWindowError(Exception):
    """The hot window's settings or preconditions do not hold."""


class NotInLake(HotWindowError):
    """A day past the window is not (or not wholly) in the lake: it stays in the warehouse."""


class Lake(Protocol):
    def day_counts(self, first: date, before: date) -> Mapping[date, tuple[int, int]]:
        """Per UTC day in [first, before): (distinct event ids, sessions) the lake holds (days without any may be
        absent)."""


def minimum_days(freshness_hours: int, session_timeout_minutes: int) -> int:
    """The shortest hot window: the freshness window and a session timeout, rounded up to days, plus one day."""
    return math.ceil((freshness_hours * 60 + session_timeout_minutes) / (24 * 60)) + 1


@dataclass(frozen=True)
class Cutoff:
    events_before: date
    sessions_before: date


def cutoff(today: date, hot_window_days: int, freshness_hours: int, session_timeout_minutes: int) -> Cutoff:
    """The first day that stays, for events and for sessions; checks the window against the freshness window."""
    least = minimum_days(freshness_hours, session_timeout_minutes)
    if hot_window_days < least:
        raise HotWindowError(
            f"hot window of {hot_window_days} days is shorter than {least} days: the freshness window "
            f"({freshness_hours} h) plus a session timeout ({session_timeout_minutes} min) and a day must stay in "
            "the warehouse for late events to sessionize")
    events_before = today - timedelta(days=hot_window_days)
    return Cutoff(events_before, events_before - timedelta(days=HORIZON_DAYS + 1))


def prepare(conn, today: date, freshness_hours: int) -> int:
    """Make the partitions of every day a run on ``today`` may load (freshness window back, DAYS_AHEAD ahead);
    returns how many it made. Commits."""
    first = today - timedelta(days=math.ceil(freshness_hours / 24) + 1)
    with conn.cursor() as cur:
        cur.execute("SELECT dw.hot_window_add_days(%s, %s)", (first, today + timedelta(days=DAYS_AHEAD)))
        made = cur.fetchone()[0]
    conn.commit()
    return made


def _warehouse_counts(cur, first: date, before: date) -> dict[date, tuple[int, int]]:
    cur.execute(
        """SELECT d, coalesce(e.n, 0), coalesce(s.n, 0)
             FROM generate_series(%(first)s::date, %(before)s::date - 1, interval '1 day') g(d)
             LEFT JOIN (SELECT (event_timestamp AT TIME ZONE 'UTC')::date AS d, count(*) AS n FROM dw.events
                         WHERE event_timestamp >= %(first)s::timestamp AT TIME ZONE 'UTC'
                           AND event_timestamp < %(before)s::timestamp AT TIME ZONE 'UTC' GROUP BY 1) e USING (d)
             LEFT JOIN (SELECT session_date AS d, count(*) AS n FROM dw.sessions
                         WHERE session_date >= %(first)s AND session_date < %(before)s GROUP BY 1) s USING (d)""",
        {"first": first, "before": before})
    return {d.date() if hasattr(d, "date") else d: (ne, ns) for d, ne, ns in cur.fetchall() if ne or ns}


def _oldest_day(cur) -> date | None:
    cur.execute("""SELECT least((SELECT (min(event_timestamp) AT TIME ZONE 'UTC')::date FROM dw.events),
                                (SELECT min(session_date) FROM dw.sessions))""")
    return cur.fetchone()[0]


@dataclass(frozen=True)
class Dropped:
    cutoff: Cutoff
    partitions: list[str]
    days_checked: int


def enforce(conn, lake: Lake, today: date, hot_window_days: int, freshness_hours: int,
            session_timeout_minutes: int) -> Dropped:
    """Drop every day past the window that the lake holds (``NotInLake``, and nothing dropped, if one is not).
    One transaction, under the caller's ETL lock. ``today`` is the caller's clock (the ETL's run time)."""
    cut = cutoff(today, hot_window_days, freshness_hours, session_timeout_minutes)
    try:
        with conn.cursor() as cur:
            oldest = _oldest_day(cur)
            if oldest is None or oldest >= cut.events_before:
                conn.rollback()
                return Dropped(cut, [], 0)
            ours = _warehouse_counts(cur, oldest, cut.events_before)
            theirs = lake.day_counts(oldest, cut.events_before)
            for day in sorted(ours):
                events, sessions = ours[day]
                lake_events, lake_sessions = theirs.get(day, (0, 0))
                # a day's rows that already left (or never were) are not compared
                if (events and lake_events != events) or \
                        (sessions and day < cut.sessions_before and lake_sessions != sessions):
                    raise NotInLake(
                        f"{day}: the warehouse holds {events} events and {sessions} sessions, the lake "
                        f"{lake_events} and {lake_sessions}; nothing leaves the warehouse until the lake holds "
                        "every day past the hot window (export or backfill it first)")
            cur.execute("SELECT dw.hot_window_drop_days(%s, %s)", (cut.events_before, cut.sessions_before))
            dropped = [r[0] for r in cur.fetchall()]
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    return Dropped(cut, dropped, len(ours))


class IcebergLake:
    """``Lake`` from the Iceberg tables' own metadata: per day partition, the record counts of the current snapshot
    (``inspect.partitions``; no data file is read). The export writes each event once (lake-export's outbox), so a
    day's record count is its number of distinct event ids."""

    def __init__(self, events, sessions) -> None:
        self.events, self.sessions = events, sessions

    @staticmethod
    def _per_day(table) -> dict[date, int]:
        table.refresh()
        if table.current_snapshot() is None:
            return {}
        out: dict[date, int] = {}
        for row in table.inspect.partitions().to_pylist():
            (value,) = row["partition"].values()
            day = value if isinstance(value, date) else date(1970, 1, 1) + timedelta(days=int(value))
            out[day] = out.get(day, 0) + row["record_count"]
        return out

    def day_counts(self, first: date, before: date) -> dict[date, tuple[int, int]]:
        events, sessions = self._per_day(self.events), self._per_day(self.sessions)
        return {d: (events.get(d, 0), sessions.get(d, 0)) for d in {*events, *sessions} if first <= d < before}


def converted(conn) -> bool:
    """Whether the warehouse has the hot window's schema (``sql/dw_hot_window/enable.sql``: the ledger exists).
    Ends its transaction."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('dw.event_ids') IS NOT NULL")
        found = bool(cur.fetchone()[0])
    conn.commit()
    return found


def run_step(conn, settings, result, now: datetime | None = None) -> None:
    """The hot window's step of a run, after the lake export (``runner``): with ``hot_window_days`` set, drop the
    days past the window that the lake holds. A day the lake does not hold, a warehouse not converted or a lake
    that cannot be read leaves every row where it is: the run becomes ``partial`` with the reason in its
    message."""
    if not settings.hot_window_days:
        return
    from . import catalog

    today = (now or datetime.now(UTC)).date()
    try:
        if not converted(conn):
            raise HotWindowError("the warehouse is not converted for the hot window (dw.event_ids missing): run "
                                 "the dw_db role with the window on (docs/lake.md, Hot window)")
        tables = catalog.load_tables(catalog.load(), settings.lake_database)
        done = enforce(conn, IcebergLake(tables["events"], tables["sessions"]), today, settings.hot_window_days,
                       settings.freshness_hours, settings.session_timeout_minutes)
    except Exception as exc:  # nothing dropped: the warehouse keeps the rows until a later run
        if not conn.closed:
            conn.rollback()
        note = f"hot window: nothing dropped: {type(exc).__name__}: {exc}"[:1000]
        LOG.warning(json.dumps({"message": "hot window step failed", "run_id": result.run_id, "error": note}))
        result.status = "partial"
        result.message = f"{result.message}; {note}" if result.message else note
        return
    LOG.info(json.dumps({"message": "hot window", "run_id": result.run_id,
                         "events_before": str(done.cutoff.events_before),
                         "sessions_before": str(done.cutoff.sessions_before), "dropped": done.partitions}))
