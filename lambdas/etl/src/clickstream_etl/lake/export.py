"""The lake export: the warehouse's new events appended to the Iceberg table ``events`` exactly once, and the
sessions of every day that can no longer change written to ``sessions`` (docs/lake.md).

Exactly once, with a run killed anywhere:
- the load that inserts an object's events inserts, in the same transaction, the object's row of the outbox
  (``etl.lake_outbox``: a sequence number, the object, its new events; ``record``). A load rolled back leaves no
  outbox row; a committed one always has its row.
- ``export_events`` takes the outbox rows after the last exported one, reads their events from ``dw.events`` (by
  ``source_file``: an event row names the object it was first loaded from) and appends them in ONE Iceberg
  commit whose snapshot summary holds ``clickstream.outbox-seq``: the last outbox row it contains. The next
  export starts after the sequence number found in the table's newest snapshot that has one. A run killed before
  the commit leaves only unreferenced data files (nothing reads them); killed after it, the next run finds the
  commit's number and goes on from there. The outbox rows stay (one per raw object): a backfill skips what they
  name.
- Sessions change as late events arrive, for at most the freshness window (and a session's timeout) after their
  day. The days an export touched are recorded (``etl.lake_session_days``) before its commit; a recorded day
  that is closed (``closed_days``) is written by replacing that day's partition of ``sessions`` with the
  warehouse's sessions of that day (an Iceberg overwrite, idempotent), and only then forgotten. Killed between,
  the day is written again, with the same rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .. import faults
from . import catalog as lake_catalog
from . import schema

LOG = logging.getLogger("clickstream_etl")
SEQ_PROPERTY = "clickstream.outbox-seq"
# Beside the position, each events commit records whose outbox it is: the warehouse's id (etl.warehouse_identity)
# and the object its last outbox row names. A lake whose position is not this warehouse's is refused (ForeignLake).
WAREHOUSE_PROPERTY = "clickstream.warehouse-id"
FILE_PROPERTY = "clickstream.outbox-file"
DAYS_PROPERTY = "clickstream.session-days"
# Outbox rows looked at per export commit (their events are bounded by lake_export_max_events as well).
_OUTBOX_PAGE = 5000
# Days of sessions written per Iceberg commit (one overwrite of a contiguous range of day partitions).
_MAX_DAYS_PER_COMMIT = 31

@dataclass
class ExportResult:
    events: int = 0
    event_commits: int = 0
    session_days: int = 0
    session_commits: int = 0
    outbox_seq: int = 0
    complete: bool = True  # False: stopped by the time budget with outbox rows left
    days: list[str] = field(default_factory=list)


class ForeignLake(Exception):
    """The lake's export position is not this warehouse's outbox: exporting after it would skip or repeat events."""


def exported_position(table) -> tuple[int, dict[str, str]]:
    """The last outbox sequence number in the table, and the summary that records it: from the newest snapshot
    whose summary has one (0 and {} for a table no export has written)."""
    from pyiceberg.table.snapshots import ancestors_of

    snapshot = table.current_snapshot()
    if snapshot is None:
        return 0, {}
    for s in ancestors_of(snapshot, table.metadata):
        summary = s.summary.additional_properties if s.summary else {}
        if summary.get(SEQ_PROPERTY) is not None:
            return int(summary[SEQ_PROPERTY]), dict(summary)
    return 0, {}


def warehouse_id(conn) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT warehouse_id::text FROM etl.warehouse_identity")
        (value,) = cur.fetchone()
    conn.commit()
    return value


def check_owner(conn, seq: int, summary: dict[str, str], mine: str) -> None:
    """Refuse a lake whose position is another outbox's: written by another warehouse (a lake kept through a
    teardown, given to a new warehouse), or by this warehouse before it was restored to an earlier time (its outbox
    row ``seq`` now names another object, or none). Commits made before these properties existed are trusted."""
    owner, last_file = summary.get(WAREHOUSE_PROPERTY), summary.get(FILE_PROPERTY)
    if owner is not None and owner != mine:
        raise ForeignLake(
            f"the lake's events were exported by another warehouse (id {owner}, up to its outbox row {seq}); this "
            f"warehouse is {mine}, and its outbox starts again at row 1: exporting would skip its events. Give it a "
            "lake of its own (another lake database and location) and run the backfill (docs/lake.md, "
            "\"Whose lake\")")
    if last_file is None or seq == 0:
        return
    with conn.cursor() as cur:
        cur.execute("SELECT source_file FROM etl.lake_outbox WHERE seq = %s", (seq,))
        row = cur.fetchone()
    conn.commit()
    if row is not None and row[0] != last_file:
        raise ForeignLake(
            f"the lake's export position (outbox row {seq}, {last_file}) is not this warehouse's row {seq} "
            f"({row[0]}): the warehouse was restored to a time before the lake's last export. Exporting after it "
            "would skip or repeat events; give the warehouse a lake of its own and run the backfill (docs/lake.md, "
            "\"Whose lake\")")


def _output(name: str, sql_type: str) -> str:
    """A column as the export reads it: uuid as its canonical text, timestamptz as its UTC wall time (``_arrow``
    parses that text and marks it UTC), anything else as it is."""
    if sql_type == "uuid":
        return f"{name}::text"
    if sql_type == "timestamptz":
        return f"({name} AT TIME ZONE 'UTC')"
    return name


def _event_select() -> str:
    cols = ", ".join(_output(n, t) for n, t, _ in schema.event_columns())
    return f"SELECT {cols} FROM dw.events WHERE source_file = ANY(%s)"  # noqa: S608 - names from schema


def _session_select() -> str:
    cols = ", ".join(_output(n, t) for n, t, _ in schema.SESSION_COLUMNS)
    return (f"SELECT {cols} FROM dw.sessions WHERE session_date BETWEEN %s AND %s "  # noqa: S608 - names from schema
            "ORDER BY session_start, session_id")


def _arrow(cur, sql: str, params: tuple, iceberg_schema, table_schema=None):
    """The rows of ``sql`` (the columns of ``iceberg_schema``, in its order, as ``_output`` gives them) as a
    pyarrow table of the lake table's own schema ``table_schema`` (default: ``iceberg_schema``), column by name: a
    table that gained columns by schema evolution (``catalog.ensure_tables``) numbers and orders them its own way,
    and pyiceberg matches an append's columns by its field ids.

    Read with ``COPY (sql) TO STDOUT`` as CSV and parsed by pyarrow's CSV reader straight into the table's types
    (about four times faster than fetching Python tuples and building arrays from them, docs/lake.md). PostgreSQL's
    CSV writes NULL unquoted and empty and an empty text as ``""``; booleans as ``t``/``f``; with ``DateStyle``
    ISO, dates and timestamps as ISO 8601 text; numerics exactly."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f.name for f in iceberg_schema.fields]
    arrow_schema = (table_schema or iceberg_schema).as_arrow()
    # timestamps arrive as UTC wall time (``_output``): parsed as such, then marked with the table's zone
    read_types = {f.name: pa.timestamp(f.type.unit) if pa.types.is_timestamp(f.type) else f.type
                  for f in arrow_schema}
    cur.execute("SET LOCAL DateStyle = 'ISO, YMD'")
    query = cur.mogrify(sql, params).decode()
    buf = io.BytesIO()
    cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, ENCODING 'UTF8')", buf)
    buf.seek(0)
    read = pacsv.read_csv(
        buf, read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=read_types, null_values=[""], true_values=["t"],
                                             false_values=["f"], strings_can_be_null=True,
                                             quoted_strings_can_be_null=False))
    columns = [read.column(f.name) for f in arrow_schema]
    return pa.Table.from_arrays([c.cast(f.type) if c.type != f.type else c for c, f in zip(columns, arrow_schema,
                                                                                          strict=True)],
                                schema=arrow_schema)


def _pending(conn, after: int, max_events: int) -> list[tuple[int, str, int]]:
    """Outbox rows after ``after``, in order, as many as fit ``max_events`` (at least one)."""
    with conn.cursor() as cur:
        cur.execute("SELECT seq, source_file, events FROM etl.lake_outbox WHERE seq > %s ORDER BY seq LIMIT %s",
                    (after, _OUTBOX_PAGE))
        rows = cur.fetchall()
    conn.commit()
    taken, total = [], 0
    for row in rows:
        if taken and total + row[2] > max_events:
            break
        taken.append(row)
        total += row[2]
    return taken


def _mark_days(conn, files: list[str], session_timeout: timedelta) -> None:
    """Record the session days the events of ``files`` may have changed: from the earliest session start among
    their sessions to the last day any of their clients' sessions could reach (a late event can merge sessions
    and clear a later session's first visit; those are all later than the event's own session)."""
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO etl.lake_session_days (day)
            SELECT generate_series(lo, hi, interval '1 day')::date
            FROM (SELECT min(s.session_date) AS lo,
                         greatest(max(s.session_date), (max(e.event_timestamp + %s) AT TIME ZONE 'UTC')::date) AS hi
                  FROM dw.events e JOIN dw.sessions s USING (session_id)
                  WHERE e.source_file = ANY(%s)) r
            WHERE lo IS NOT NULL
            UNION
            SELECT s.session_date FROM dw.sessions s
            WHERE s.client_id IN (SELECT DISTINCT client_id FROM dw.events WHERE source_file = ANY(%s))
              AND s.session_date >= (SELECT min((event_timestamp AT TIME ZONE 'UTC')::date) FROM dw.events
                                     WHERE source_file = ANY(%s))
            ON CONFLICT DO NOTHING""", (session_timeout, files, files, files))
    conn.commit()


def export_events(conn, table, max_events: int, session_timeout: timedelta,
                  allows: Callable[[], bool] = lambda: True) -> ExportResult:
    """Append the outbox's events not in ``table`` yet, one Iceberg commit per at most ``max_events``."""
    result = ExportResult()
    after, summary = exported_position(table)
    mine = warehouse_id(conn)
    check_owner(conn, after, summary, mine)
    iceberg_schema = schema.events_schema()
    while True:
        rows = _pending(conn, after, max_events)
        if not rows:
            break
        if not allows():
            result.complete = False
            break
        files = [r[1] for r in rows]
        _mark_days(conn, files, session_timeout)
        with conn.cursor() as cur:
            data = _arrow(cur, _event_select(), (files,), iceberg_schema, table.schema())
        conn.commit()
        last = rows[-1][0]
        position = {SEQ_PROPERTY: str(last), WAREHOUSE_PROPERTY: mine, FILE_PROPERTY: rows[-1][1]}
        with table.transaction() as tx:
            # an empty append adds no snapshot: the rows' events are gone (never loaded, or removed); the table
            # properties then carry the position
            if data.num_rows:
                tx.append(data, snapshot_properties=position)
            else:
                tx.set_properties(position)
            faults.checkpoint("lake_before_events_commit")
        faults.checkpoint("lake_after_events_commit")
        result.events += data.num_rows
        result.event_commits += 1
        after = last
        LOG.info(json.dumps({"message": "lake events exported", "events": data.num_rows, "outbox_seq": last}))
    result.outbox_seq = after
    return result


def closed_days(conn, now: datetime, freshness: timedelta, session_timeout: timedelta) -> list[date]:
    """The recorded session days that can no longer change: every event of the day is older than the freshness
    window allows a new event to be (before ``now - freshness``), and no session of the day ends within a
    session timeout of that bound (a late event could still extend it)."""
    bound = now - freshness
    with conn.cursor() as cur:
        cur.execute("""
            SELECT d.day FROM etl.lake_session_days d
            WHERE d.day + 1 <= (%s AT TIME ZONE 'UTC')::date
              AND NOT EXISTS (SELECT 1 FROM dw.sessions s WHERE s.session_date = d.day
                              AND s.session_end + %s >= %s)
            ORDER BY d.day""", (bound, session_timeout, bound))
        days = [r[0] for r in cur.fetchall()]
    conn.commit()
    return days


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Contiguous runs of ``days`` (sorted), each at most _MAX_DAYS_PER_COMMIT long."""
    out: list[tuple[date, date]] = []
    for d in days:
        if out and d == out[-1][1] + timedelta(days=1) and (d - out[-1][0]).days < _MAX_DAYS_PER_COMMIT:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def export_sessions(conn, table, days: list[date], allows: Callable[[], bool] = lambda: True) -> ExportResult:
    """Replace each of ``days``' partition of the lake's ``sessions`` with the warehouse's sessions of that day,
    then forget the day."""
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

    result = ExportResult()
    iceberg_schema = schema.sessions_schema()
    for first, last in _runs(days):
        if not allows():
            result.complete = False
            break
        with conn.cursor() as cur:
            data = _arrow(cur, _session_select(), (first, last), iceberg_schema, table.schema())
        conn.commit()
        start = datetime(first.year, first.month, first.day).isoformat() + "+00:00"
        end_day = last + timedelta(days=1)
        end = datetime(end_day.year, end_day.month, end_day.day).isoformat() + "+00:00"
        where = And(GreaterThanOrEqual(schema.SESSIONS_PARTITION_SOURCE, start),
                    LessThan(schema.SESSIONS_PARTITION_SOURCE, end))
        label = f"{first.isoformat()}..{last.isoformat()}"
        with table.transaction() as tx:
            tx.overwrite(data, overwrite_filter=where, snapshot_properties={DAYS_PROPERTY: label})
            faults.checkpoint("lake_before_sessions_commit")
        faults.checkpoint("lake_after_sessions_commit")
        with conn.cursor() as cur:
            cur.execute("DELETE FROM etl.lake_session_days WHERE day BETWEEN %s AND %s", (first, last))
        conn.commit()
        result.session_days += (last - first).days + 1
        result.session_commits += 1
        result.days.append(label)
        LOG.info(json.dumps({"message": "lake sessions exported", "days": label, "sessions": data.num_rows}))
    return result


def export(conn, settings, now: datetime, allows: Callable[[], bool] = lambda: True, cat=None) -> ExportResult:
    """The whole export of a run: make the tables if missing, the events, then the closed sessions' days."""
    cat = cat if cat is not None else lake_catalog.load()
    lake_catalog.ensure_tables(cat, settings.lake_database, settings.lake_location)
    tables = lake_catalog.load_tables(cat, settings.lake_database)
    timeout = timedelta(minutes=settings.session_timeout_minutes)
    result = export_events(conn, tables[schema.EVENTS_TABLE], settings.lake_export_max_events, timeout, allows)
    days = closed_days(conn, now, timedelta(hours=settings.freshness_hours), timeout)
    sessions = export_sessions(conn, tables[schema.SESSIONS_TABLE], days, allows)
    result.session_days, result.session_commits, result.days = (sessions.session_days, sessions.session_commits,
                                                                sessions.days)
    result.complete = result.complete and sessions.complete
    return result
