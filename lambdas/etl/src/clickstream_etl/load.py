"""Load one batch of raw objects in ONE transaction: events, clients, sessions, rejects, dirty days, manifest."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg2
import psycopg2.extras

from . import faults, sql
from .config import Settings
from .fast import FastSplit, split_object
from .prepare import Prepared, prepare_lines, prepare_object, split_lines
from .source import RawObject


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


def split_for_batch(data: bytes, file_idx: int) -> FastSplit:
    """The fast-path split of the batch's ``file_idx``-th object (the runner does this in its fetch threads)."""
    return split_object(data, file_idx, split_lines(data))


def _stage_fast(cur, objects: list[tuple[RawObject, bytes]],
                splits: list[FastSplit] | None) -> tuple[list[Prepared], bool]:
    """COPY the lines Python could type (fast.py) into etl_fast; the rest prepared for the jsonb path.

    If PostgreSQL refuses a typed value (a check in fast.py was too lenient), every line of the batch takes
    the jsonb path instead, exactly as before the fast path existed. Returns (slow-path rows, fast path used).
    """
    cur.execute(sql.CREATE_FAST)
    if splits is None:
        splits = [split_for_batch(data, i) for i, (_, data) in enumerate(objects)]
    cur.execute("SAVEPOINT etl_fast")
    try:
        _copy(cur, sql.COPY_FAST, b"".join(s.rows for s in splits))
        cur.execute("RELEASE SAVEPOINT etl_fast")
    except psycopg2.DataError:
        cur.execute("ROLLBACK TO SAVEPOINT etl_fast")
        return [prepare_object(data, i) for i, (_, data) in enumerate(objects)], False
    return [prepare_lines(s.slow, i, s.lines) for i, s in enumerate(splits)], True


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


def load_batch(conn, bucket: str, objects: list[tuple[RawObject, bytes]], settings: Settings,
               run_id: int, splits: list[FastSplit] | None = None) -> BatchResult:
    """Stage, validate, de-duplicate, sessionize and insert ``objects``, then commit with their manifest rows.

    ``splits``: ``split_for_batch(data, i)`` of each object if the caller already made them (else made here).

    On any error the transaction is rolled back and the objects stay pending.
    """
    params = sql_params(settings)
    result = BatchResult(files=len(objects))
    try:
        with conn.cursor() as cur:
            for stmt in sql.CREATE_BATCH_TABLES:
                cur.execute(stmt)
            psycopg2.extras.execute_values(
                cur, "INSERT INTO etl_files (file_idx, source_file, last_modified) VALUES %s",
                [(i, source_uri(bucket, o.key), o.last_modified) for i, (o, _) in enumerate(objects)])
            prepared, fast_ok = _stage_fast(cur, objects, splits)
            result.lines = sum(p.lines for p in prepared)
            fallback = _stage_raw(cur, b"".join(p.copy_data for p in prepared))
            faults.checkpoint("after_copy")
            fallback = _normalize(cur, params) or fallback
            if fast_ok:
                cur.execute(sql.FAST_TO_NORM, params)
            result.parse_fallback = fallback
            result.fast_fallback = not fast_ok

            cur.execute(sql.REJECTS)
            rejects = [(i, line, reason, detail, event_id) for i, line, reason, detail, event_id in cur.fetchall()]
            for i, p in enumerate(prepared):
                rejects.extend((i, r.line_number, r.reason, r.detail, None) for r in p.pre_rejects)
            cur.execute(sql.NEW_EVENTS)
            cur.execute(sql.PER_FILE_COUNTS)
            valid = {i: v for i, v, _ in cur.fetchall()}
            cur.execute(sql.NEW_PER_FILE)
            new = dict(cur.fetchall())

            for stmt in sql.CLIENTS:
                cur.execute(stmt)
            for n, stmt in enumerate(sql.SESSIONIZE):
                cur.execute(stmt, params)
                if n == 0:  # small; its row count steers the join into dw.events towards the index
                    cur.execute("ANALYZE etl_tc")
            cur.execute(sql.INSERT_EVENTS)
            result.events_loaded = cur.rowcount
            cur.execute(sql.UPDATE_OLD_EVENTS)
            for stmt in sql.REPLACE_SESSIONS:
                cur.execute(stmt)
            cur.execute(sql.MARK_DIRTY)

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
            manifest = []
            for i, (obj, _) in enumerate(objects):
                n_valid, n_new = valid.get(i, 0), new.get(i, 0)
                manifest.append((bucket, obj.key, obj.etag, obj.size, obj.last_modified, run_id,
                                 prepared[i].lines, n_new, n_valid - n_new, per_file_rejects[i]))
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
        faults.checkpoint("before_refresh_commit")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return len(days)
