"""Load one batch of raw objects in ONE transaction: events, clients, sessions, rejects, dirty days, manifest."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg2
import psycopg2.errors
import psycopg2.extras

from . import extra_aggregates, faults, sql
from .config import Settings
from .fast import FastRow, FastSplit, Window, split_object
from .prepare import Prepared, prepare_lines, split_lines
from .sessions import ClientState, Session, assign
from .source import RawObject

# False: every row takes the set-based SQL path (tests compare both paths).
DIRECT = True


@dataclass
class BatchResult:
    files: int = 0
    lines: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    rejects: int = 0
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    parse_fallback: bool = False
    fast_fallback: bool = False


def source_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def sql_params(settings: Settings) -> dict[str, timedelta]:
    return {
        "timeout": timedelta(minutes=settings.session_timeout_minutes),
        "freshness": timedelta(hours=settings.freshness_hours),
        "future_skew": timedelta(minutes=settings.future_skew_minutes),
    }


def _copy(cur, statement: str, data: bytes) -> None:
    cur.copy_expert(statement, io.BytesIO(data), size=1 << 20)


def _stage_raw(cur, payload: bytes) -> bool:
    """COPY every line as jsonb; if one is not JSON, COPY as text and parse line by line. True on fallback."""
    cur.execute("SAVEPOINT etl_raw")
    try:
        _copy(cur, sql.COPY_RAW, payload)
        cur.execute("RELEASE SAVEPOINT etl_raw")
        return False
    except psycopg2.DataError:
        cur.execute("ROLLBACK TO SAVEPOINT etl_raw")
    cur.execute(sql.CREATE_RAW_TEXT)
    _copy(cur, sql.COPY_RAW_TEXT, payload)
    cur.execute(sql.RAW_FROM_TEXT)
    return True


def fast_window(settings: Settings) -> Window:
    return Window(timedelta(hours=settings.freshness_hours), timedelta(minutes=settings.future_skew_minutes))


def split_for_batch(data: bytes, file_idx: int, source_file: str = "", last_modified: datetime | None = None,
                    window: Window | None = None) -> FastSplit:
    """The fast-path split of the batch's ``file_idx``-th object (the runner does this in its fetch threads)."""
    return split_object(data, file_idx, split_lines(data), source_file, last_modified, window)


def _normalize(cur, params: dict) -> bool:
    """Fast plain casts; on bad data the same statement with NULL-returning casts. True on fallback."""
    cur.execute("SAVEPOINT etl_norm")
    try:
        cur.execute(sql.normalize_sql(safe=False), params)
        cur.execute("RELEASE SAVEPOINT etl_norm")
        return False
    except psycopg2.DataError:
        cur.execute("ROLLBACK TO SAVEPOINT etl_norm")
    cur.execute(sql.normalize_sql(safe=True), params)
    return True


def _raw_line(data: bytes, line_no: int) -> str:
    lines = split_lines(data)
    raw = lines[line_no - 1] if 0 < line_no <= len(lines) else b""
    return raw.replace(b"\x00", b"").decode("utf-8", errors="replace")


def _stage_slow(cur, bucket: str, objects: list[tuple[RawObject, bytes]], splits: list[FastSplit],
                params: dict) -> tuple[list[Prepared], bool, list[tuple], Counter[int]]:
    """The slow path's lines -> etl_norm (typed, with ``problem``). Returns (prepared, parse fallback, their
    rejects, their valid rows per file)."""
    prepared = [prepare_lines(s.slow, i, s.lines) for i, s in enumerate(splits)]
    cur.execute(sql.CREATE_NORM)
    if not any(p.copy_data for p in prepared):
        return prepared, False, [], Counter()
    for stmt in sql.CREATE_BATCH_TABLES:
        cur.execute(stmt)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO etl_files (file_idx, source_file, last_modified) VALUES %s",
        [(i, source_uri(bucket, o.key), o.last_modified) for i, (o, _) in enumerate(objects)])
    fallback = _stage_raw(cur, b"".join(p.copy_data for p in prepared))
    fallback = _normalize(cur, params) or fallback
    cur.execute(sql.REJECTS)
    rejects = list(cur.fetchall())
    cur.execute(sql.PER_FILE_COUNTS)
    valid = Counter({i: v for i, v, _ in cur.fetchall() if v})
    return prepared, fallback, rejects, valid


@dataclass
class DirectLoad:
    """What the Python path loaded itself, and the rows it left to the SQL sessionization."""

    loaded: Counter[int]
    sql_rows: list[FastRow]


def _client_states(cur, clients: list[str]) -> dict[str, ClientState]:
    cur.execute(sql.CLIENT_STATE, {"clients": clients})
    states = {}
    for client_id, last_seen_at, *session in cur.fetchall():
        last = Session.from_state(client_id, tuple(session)) if session[0] is not None else None
        states[client_id] = ClientState(last_seen_at.astimezone(UTC), last)
    return states


def _days(start: datetime, end: datetime) -> list[date]:
    d, last = start.date(), end.date()
    out = []
    while d <= last:
        out.append(d)
        d += timedelta(days=1)
    return out


def _load_direct(cur, rows: list[FastRow], timeout: timedelta) -> DirectLoad:
    """Dedup (first occurrence wins), sessionize in Python and COPY the final rows of every client whose new
    events all follow its loaded ones; the other clients' rows are returned for the SQL path.

    A duplicate of an already loaded event makes the COPY fail (primary key): the caller then rolls back to its
    savepoint and loads the whole batch with the SQL path.
    """
    seen: set[str] = set()
    by_client: dict[str, list[FastRow]] = {}
    for r in rows:
        if r.event_id in seen:
            continue
        seen.add(r.event_id)
        by_client.setdefault(r.client_id, []).append(r)
    if not by_client:
        return DirectLoad(Counter(), [])
    states = _client_states(cur, list(by_client))
    events: list[str] = []
    sessions: list[str] = []
    continued: list[str] = []
    new_clients: list[tuple] = []
    seen_clients: list[tuple] = []
    days: set[date] = set()
    loaded: Counter[int] = Counter()
    sql_rows: list[FastRow] = []
    for client_id, client_rows in by_client.items():
        state = states.get(client_id)
        first = min(r.ts for r in client_rows)
        if state is not None and not state.appendable(first):
            sql_rows.extend(client_rows)
            continue
        a = assign(client_rows, state, timeout)
        for row, sid, first_visit in a.events:
            events.append(f"{row.text}\t{sid}\t{'t' if first_visit else 'f'}\n")
            loaded[row.file_idx] += 1
        for s in a.sessions:
            sessions.append(s.copy_text() + "\n")
            days.update(_days(s.start, s.end))
        if a.continued is not None:
            continued.append(a.continued)
        last = a.events[-1][0]
        if state is None:
            new_clients.append((client_id, a.events[0][0].event_id, a.events[0][0].ts, last.ts))
        else:
            seen_clients.append((client_id, last.ts))
    if continued:
        cur.execute(sql.DELETE_SESSIONS, {"ids": continued})
    if events:
        _copy(cur, sql.COPY_EVENTS, "".join(events).encode())
        _copy(cur, sql.COPY_SESSIONS, "".join(sessions).encode())
    if new_clients:
        ids, first_ids, first_at, last_at = (list(c) for c in zip(*new_clients, strict=True))
        cur.execute(sql.NEW_CLIENTS, {"ids": ids, "first": first_ids, "first_at": first_at, "last_at": last_at})
    if seen_clients:
        ids, last_at = (list(c) for c in zip(*seen_clients, strict=True))
        cur.execute(sql.SEEN_CLIENTS, {"ids": ids, "last_at": last_at})
    if days:
        cur.execute(sql.DIRTY_DAYS, {"days": sorted(days)})
    return DirectLoad(loaded, sql_rows)


def _sql_sessionize(cur, rows: list[FastRow], params: dict, slow_valid: bool) -> tuple[int, dict[int, int]]:
    """The set-based path for ``rows`` (and the slow path's valid lines already in etl_norm): dedup against the
    warehouse, first visits, window sessionization of the touched clients. Returns (loaded, new per file)."""
    if rows:
        _copy(cur, sql.COPY_NORM, "".join(f"{r.text}\t{r.file_idx}\n" for r in rows).encode())
    elif not slow_valid:
        return 0, {}
    cur.execute(sql.NEW_EVENTS)
    cur.execute(sql.NEW_PER_FILE)
    new = dict(cur.fetchall())
    for stmt in sql.CLIENTS:
        cur.execute(stmt)
    for n, stmt in enumerate(sql.SESSIONIZE):
        cur.execute(stmt, params)
        if n == 0:  # small; its row count steers the join into dw.events towards the index
            cur.execute("ANALYZE etl_tc")
    cur.execute(sql.INSERT_EVENTS)
    loaded = cur.rowcount
    cur.execute(sql.UPDATE_OLD_EVENTS)
    for stmt in sql.REPLACE_SESSIONS:
        cur.execute(stmt)
    cur.execute(sql.MARK_DIRTY)
    return loaded, new


def all_slow(data: bytes, file_idx: int) -> FastSplit:
    """Every non-blank line of the object for the jsonb + SQL path."""
    lines = split_lines(data)
    return FastSplit([], len(lines), [(n, line) for n, line in enumerate(lines, 1) if line.strip()])


def load_batch(conn, bucket: str, objects: list[tuple[RawObject, bytes]], settings: Settings,
               run_id: int, splits: list[FastSplit] | None = None) -> BatchResult:
    """``_load_batch``; if PostgreSQL refuses a value the fast path let through, the same batch again with every
    line on the jsonb + SQL path (which decides each line on its own)."""
    try:
        return _load_batch(conn, bucket, objects, settings, run_id, splits)
    except psycopg2.DataError:
        result = _load_batch(conn, bucket, objects, settings, run_id,
                             [all_slow(data, i) for i, (_, data) in enumerate(objects)])
        result.fast_fallback = True
        return result


def _load_batch(conn, bucket: str, objects: list[tuple[RawObject, bytes]], settings: Settings,
                run_id: int, splits: list[FastSplit] | None = None) -> BatchResult:
    """Stage, validate, de-duplicate, sessionize and insert ``objects``, then commit with their manifest rows.

    ``splits``: ``split_for_batch(...)`` of each object if the caller already made them (else made here).
    Ordinary lines of clients whose new events follow their loaded ones are sessionized in Python and COPYed
    straight into the warehouse; everything else (slow-path lines, out-of-order clients, a batch with an
    already loaded event_id) goes through the set-based SQL path. Both give the same tables.

    On any error the transaction is rolled back and the objects stay pending.
    """
    params = sql_params(settings)
    result = BatchResult(files=len(objects))
    if splits is None:
        window = fast_window(settings)
        splits = [split_for_batch(data, i, source_uri(bucket, o.key), o.last_modified, window)
                  for i, (o, data) in enumerate(objects)]
    try:
        with conn.cursor() as cur:
            prepared, result.parse_fallback, rejects, slow_valid = _stage_slow(cur, bucket, objects, splits, params)
            rejects = [tuple(r) for r in rejects]
            for i, (p, s) in enumerate(zip(prepared, splits, strict=True)):
                rejects.extend((i, r.line_number, r.reason, r.detail, None) for r in p.pre_rejects)
                rejects.extend((i, line, reason, detail, event_id) for line, reason, detail, event_id in s.rejects)
            result.lines = sum(s.lines for s in splits)
            rows = [r for s in splits for r in s.rows]
            direct: DirectLoad | None = None
            if DIRECT and not slow_valid:
                cur.execute("SAVEPOINT etl_direct")
                try:
                    direct = _load_direct(cur, rows, params["timeout"])
                    cur.execute("RELEASE SAVEPOINT etl_direct")
                except psycopg2.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT etl_direct")
            result.fast_fallback = direct is None
            faults.checkpoint("after_copy")
            sql_rows = rows if direct is None else direct.sql_rows
            loaded, new = _sql_sessionize(cur, sql_rows, params, bool(slow_valid))
            direct_loaded = direct.loaded if direct is not None else Counter()
            result.events_loaded = loaded + sum(direct_loaded.values())

            reject_rows = [
                (source_uri(bucket, objects[i][0].key), line, reason, detail or None, event_id,
                 _raw_line(objects[i][1], line), run_id)
                for i, line, reason, detail, event_id in rejects
            ]
            if reject_rows:
                psycopg2.extras.execute_values(
                    cur, "INSERT INTO etl.rejects (source_file, line_number, reason, detail, event_id, raw_line, "
                         "run_id) VALUES %s", reject_rows)
            per_file_rejects = Counter(i for i, *_ in rejects)
            valid = Counter(r.file_idx for r in rows) + slow_valid
            manifest = []
            for i, (obj, _) in enumerate(objects):
                n_valid, n_new = valid[i], new.get(i, 0) + direct_loaded[i]
                manifest.append((bucket, obj.key, obj.etag, obj.size, obj.last_modified, run_id,
                                 splits[i].lines, n_new, n_valid - n_new, per_file_rejects[i]))
            psycopg2.extras.execute_values(
                cur, "INSERT INTO etl.files (bucket, object_key, etag, size_bytes, last_modified, run_id, lines, "
                     "events_loaded, duplicates, rejects) VALUES %s", manifest)
            result.rejects = len(rejects)
            result.rejects_by_reason = Counter(r[2] for r in rejects)
            result.duplicates = sum(m[8] for m in manifest)
        faults.checkpoint("before_commit")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    faults.checkpoint("after_commit")
    return result


def dirty_ranges(days: list) -> list[tuple]:
    """Sorted dates -> contiguous [start, end) ranges."""
    ranges: list[tuple] = []
    for d in sorted(days):
        if ranges and ranges[-1][1] == d:
            ranges[-1] = (ranges[-1][0], d + timedelta(days=1))
        else:
            ranges.append((d, d + timedelta(days=1)))
    return ranges


def refresh_aggregates(conn) -> int:
    """Recompute every aggregate for the dirty days, and clear them, in one transaction. Returns the day count."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT activity_date FROM etl.dirty_days ORDER BY 1 FOR UPDATE")
            days = [r[0] for r in cur.fetchall()]
            for d0, d1 in dirty_ranges(days):
                p = {"d0": d0, "d1": d1}
                cur.execute("DROP TABLE IF EXISTS etl_day_events")
                cur.execute(sql.REFRESH_DAY_EVENTS, p)
                for stmt in sql.REFRESH:
                    cur.execute(stmt, p)
            if days:  # from the first dirty day on: a new session there can change every later day's "previous day"
                extra_aggregates.refresh_client_returns(cur, days[0])
        faults.checkpoint("before_refresh_commit")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return len(days)
