"""Load one batch of raw objects in ONE transaction: events, clients, sessions, rejects, dirty days, manifest."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg2
import psycopg2.errors
import psycopg2.extras

from . import aggregates, faults, sql
from .config import Settings
from .parse import EventRow, Freshness, ParsedObject, parse_object
from .plan import DirectPlan, Recorded
from .prepare import Prepared, prepare_lines, split_lines
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
    # One read of the whole buffer: psycopg2 holds the GIL only for that read, then sends without it, so the
    # parse and planner threads do not slow the COPY down (each 1 MB chunk used to wait for the GIL).
    cur.copy_expert(statement, io.BytesIO(data), size=max(len(data), 8192))


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


def freshness(settings: Settings) -> Freshness:
    return Freshness(timedelta(hours=settings.freshness_hours), timedelta(minutes=settings.future_skew_minutes))


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


def _stage_slow(cur, bucket: str, objects: list[tuple[RawObject, bytes]], splits: list[ParsedObject],
                params: dict) -> tuple[list[Prepared], bool, list[tuple], Counter[int]]:
    """The slow path's lines -> etl_norm (typed, with ``problem``). Returns (prepared, parse fallback, their
    rejects, their valid rows per file)."""
    prepared = [prepare_lines(s.slow, i, s.lines) for i, s in enumerate(splits)]
    if not any(p.copy_data for p in prepared):
        return prepared, False, [], Counter()
    cur.execute(sql.CREATE_NORM)
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


def apply_direct(cur, plan: DirectPlan, recorded: Recorded | None = None) -> None:
    """Write a plan in the savepoint ``etl_direct``: record its clients for the aggregates (``aggregates``), rewrite the
    continued sessions, COPY the events and sessions, insert/update the clients. A duplicate of an already loaded
    event makes the COPY fail (primary key): the caller then rolls back to the savepoint and loads the whole batch
    with the SQL path. Statements go in as few round trips as the COPYs allow: each costs this thread a wait for
    the GIL while the parser and planner threads run."""
    touched = recorded.unrecorded(plan.touched) if recorded is not None else plan.touched
    record, params = aggregates.record_planned(touched, {c[0] for c in plan.new_clients})
    first = ["SAVEPOINT etl_direct"]
    if plan.sql_rows:  # the SQL path takes them next, through etl_norm
        first.append(sql.CREATE_NORM)
    if record:
        first.append(record)
    if plan.continued:
        first.append(sql.DELETE_SESSIONS)
        params["ids"] = sql.array(plan.continued)
    cur.execute(";\n".join(first), params)
    if plan.events:
        _copy(cur, sql.COPY_EVENTS, plan.events)
        _copy(cur, sql.COPY_SESSIONS, plan.sessions)
    statements, params = [], {}
    if plan.new_clients:
        ids, first_ids, first_at, last_at = (sql.array(c) for c in zip(*plan.new_clients, strict=True))
        statements.append(sql.NEW_CLIENTS)
        params.update({"ids": ids, "first": first_ids, "first_at": first_at, "last_at": last_at})
    if plan.seen_clients:
        ids, last_at = (sql.array(c) for c in zip(*plan.seen_clients, strict=True))
        statements.append(sql.SEEN_CLIENTS)
        params.update({"seen_ids": ids, "seen_last_at": last_at})
    # the update probes dw.clients' primary key per client
    cur.execute(";\n".join([sql.script(sql.INDEX_ONLY, statements), "RELEASE SAVEPOINT etl_direct"]), params)


def _sql_sessionize(cur, rows: list[EventRow], params: dict, slow_valid: bool,
                    norm_ready: bool) -> tuple[int, dict[int, int]]:
    """The set-based path for ``rows`` (and the slow path's valid lines already in etl_norm): dedup against the
    warehouse, first visits, window sessionization of the touched clients. Returns (loaded, new per file).
    ``norm_ready``: etl_norm was created in this transaction (by the slow path or the direct plan)."""
    if rows:
        if not norm_ready:
            cur.execute(sql.CREATE_NORM)
        _copy(cur, sql.COPY_NORM, "".join(f"{r.text}\t{r.file_idx}\n" for r in rows).encode())
    elif not slow_valid:
        return 0, {}
    # The new events; the touched clients and their window starts (reads only etl_new and dw.sessions), recorded
    # with their aggregate facts before the first write below (CLIENTS may clear an old event's is_first_visit);
    # the clients; the sessionized window; the new events per file. One round trip (each costs the main thread a
    # wait for the GIL), then one for the writes.
    cur.execute(";\n".join([
        *sql.NEW_EVENTS,
        *sql.TOUCHED_CLIENTS,
        "ANALYZE etl_tc",  # small; its row count steers the joins into dw.events towards the index
        aggregates.record_script(aggregates.TOUCH_SQL_PATH),
        sql.script(sql.INDEX_ONLY, sql.CLIENTS),  # dw.clients through its primary key
        *sql.SESSIONIZE,
        sql.NEW_PER_FILE,
    ]), params)
    new = dict(cur.fetchall())
    # the old events' sessions, the window's sessions and the new events: independent of each other
    cur.execute(";\n".join([sql.UPDATE_OLD_EVENTS, *sql.REPLACE_SESSIONS, sql.INSERT_EVENTS]))
    loaded = cur.fetchone()[0]
    return loaded, new


def all_slow(data: bytes, file_idx: int) -> ParsedObject:
    """Every non-blank line of the object for the jsonb + SQL path."""
    lines = split_lines(data)
    return ParsedObject([], len(lines), [(n, line) for n, line in enumerate(lines, 1) if line.strip()])


@dataclass(frozen=True)
class Unloadable:
    """A line of a one-object batch that made its load fail on its own (``runner``'s line-level fallback): loaded
    as a reject with ``reason`` (``value_too_large`` when a byte bound of the warehouse refused it, else
    ``unloadable``: ``quarantine.line_reject``), ``detail`` the column or the error, ``raw`` the line as stored."""

    line: int
    reason: str
    detail: str
    raw: str


def load_batch(conn, bucket: str, objects: list[tuple[RawObject, bytes]], settings: Settings,
               run_id: int, splits: list[ParsedObject] | None = None, plan: DirectPlan | None = None,
               also: tuple[str, dict] | None = None, unloadable: list[Unloadable] | None = None,
               commit: bool = True, recorded: Recorded | None = None) -> BatchResult:
    """``_load_batch``; if PostgreSQL refuses a value the fast path let through, the same batch again with every
    line on the jsonb + SQL path (which decides each line on its own)."""
    try:
        return _load_batch(conn, bucket, objects, settings, run_id, splits, plan, also, unloadable, commit,
                           recorded)
    except psycopg2.DataError:
        result = _load_batch(conn, bucket, objects, settings, run_id,
                             [all_slow(data, i) for i, (_, data) in enumerate(objects)], also=also,
                             unloadable=unloadable, commit=commit)
        result.fast_fallback = True
        return result


def _load_batch(conn, bucket: str, objects: list[tuple[RawObject, bytes]], settings: Settings,
                run_id: int, splits: list[ParsedObject] | None = None, plan: DirectPlan | None = None,
                also: tuple[str, dict] | None = None, unloadable: list[Unloadable] | None = None,
                commit: bool = True, recorded: Recorded | None = None) -> BatchResult:
    """Stage, validate, de-duplicate, sessionize and insert ``objects``, then commit with their manifest rows.

    ``splits``: ``parse_object(...)`` of each object if the caller already made them (else made here).
    ``plan``: ``plan.plan_direct(...)`` of the splits' rows, made by the caller (the pipeline plans one batch ahead).
    ``recorded``: the clients already recorded for the aggregates since the last apply, left out of the plan's
    record (and the plan's clients added once the batch commits).
    It is applied only if every line took the fast path and none is already loaded (else ``BatchResult.fast_fallback``);
    otherwise, or without a plan, the whole batch goes through the SQL path.
    ``also``: one more statement (and its parameters) for the same transaction (the replay closes the object's
    quarantine record with its manifest row). ``unloadable``: lines of the (only) object, blank in its bytes here,
    that are rejects with their reason. ``commit=False``: everything but the commit, then roll back (a
    probe of the line-level fallback: does this load fail?).
    Ordinary lines of clients whose new events follow their loaded ones are sessionized in Python and COPYed
    straight into the warehouse; everything else (slow-path lines, out-of-order clients, a batch with an
    already loaded event_id) goes through the set-based SQL path. Both give the same tables.

    On any error the transaction is rolled back and the objects stay pending.
    """
    params = sql_params(settings)
    result = BatchResult(files=len(objects))
    if splits is None:
        window = freshness(settings)
        splits = [parse_object(data, i, source_uri(bucket, o.key), o.last_modified, window)
                  for i, (o, data) in enumerate(objects)]
    try:
        with conn.cursor() as cur:
            prepared, result.parse_fallback, rejects, slow_valid = _stage_slow(cur, bucket, objects, splits, params)
            rejects = [tuple(r) for r in rejects]
            raw_of = {(0, u.line): u.raw for u in unloadable or ()}
            rejects.extend((0, u.line, u.reason, u.detail, None) for u in unloadable or ())
            for i, (p, s) in enumerate(zip(prepared, splits, strict=True)):
                rejects.extend((i, r.line_number, r.reason, r.detail, None) for r in p.pre_rejects)
                rejects.extend((i, line, reason, detail, event_id) for line, reason, detail, event_id in s.rejects)
            result.lines = sum(s.lines for s in splits)
            direct: DirectPlan | None = None
            if DIRECT and plan is not None and not slow_valid:
                try:
                    apply_direct(cur, plan, recorded)
                    direct = plan
                except psycopg2.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT etl_direct")
            result.fast_fallback = direct is None  # the plan was not applied: every row took the SQL path
            faults.checkpoint("after_copy")
            sql_rows = [r for s in splits for r in s.rows] if direct is None else direct.sql_rows
            norm_ready = any(p.copy_data for p in prepared) or (direct is not None and bool(direct.sql_rows))
            loaded, new = _sql_sessionize(cur, sql_rows, params, bool(slow_valid), norm_ready)
            direct_loaded = direct.loaded if direct is not None else Counter()
            result.events_loaded = loaded + sum(direct_loaded.values())
            reject_rows = [
                (source_uri(bucket, objects[i][0].key), line, reason, detail or None, event_id,
                 raw_of[i, line] if (i, line) in raw_of else _raw_line(objects[i][1], line), run_id)
                for i, line, reason, detail, event_id in rejects
            ]
            if reject_rows:
                psycopg2.extras.execute_values(
                    cur, "INSERT INTO etl.rejects (source_file, line_number, reason, detail, event_id, raw_line, "
                         "run_id) VALUES %s", reject_rows)
            per_file_rejects = Counter(i for i, *_ in rejects)
            valid = Counter({i: len(s.rows) for i, s in enumerate(splits)}) + slow_valid
            manifest = []
            for i, (obj, _) in enumerate(objects):
                n_valid, n_new = valid[i], new.get(i, 0) + direct_loaded[i]
                manifest.append((bucket, obj.key, obj.etag, obj.size, obj.last_modified, run_id,
                                 splits[i].lines, n_new, n_valid - n_new, per_file_rejects[i]))
            psycopg2.extras.execute_values(
                cur, "INSERT INTO etl.files (bucket, object_key, etag, size_bytes, last_modified, run_id, lines, "
                     "events_loaded, duplicates, rejects) VALUES %s", manifest)
            if settings.lake_enabled:  # the lake's outbox row of each object, in this transaction (docs/lake.md)
                from .lake.outbox import record
                record(cur, [(source_uri(bucket, m[1]), m[7]) for m in manifest])
            result.rejects = len(rejects)
            result.rejects_by_reason = Counter(r[2] for r in rejects)
            result.duplicates = sum(m[8] for m in manifest)
            if also is not None:
                cur.execute(*also)
        if not commit:
            conn.rollback()
            return result
        faults.checkpoint("before_commit")
        conn.commit()
        if direct is not None and recorded is not None:
            recorded.add(direct.touched)
    except BaseException:
        if not conn.closed:  # a connection the server ended has no transaction left; its error is the one to raise
            conn.rollback()
        raise
    faults.checkpoint("after_commit")
    return result
