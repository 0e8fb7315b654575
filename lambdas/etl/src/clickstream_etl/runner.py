"""One ETL run: lock, run log, pending objects in batches until the time budget is spent, aggregate refresh."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from . import sql
from .config import Settings
from .fast import FastSplit, Window
from .load import fast_window, load_batch, refresh_aggregates, source_uri, split_for_batch
from .source import RawObject, batches, fetch, list_objects, pending, start_after_for

LOG = logging.getLogger("clickstream_etl")
# pg_try_advisory_lock key of the ETL ("clkETL"); the migrations runner uses another one.
LOCK_KEY = 0x636C6B45544C


@dataclass
class RunResult:
    run_id: int | None
    status: str
    files_seen: int = 0
    files_loaded: int = 0
    files_remaining: int = 0
    lines_read: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    days_refreshed: int = 0
    message: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def setup_session(conn) -> None:
    conn.autocommit = False
    with conn.cursor() as cur:
        for stmt in sql.SESSION_SETUP:
            cur.execute(stmt)
        for stmt in sql.SAFE_FUNCTIONS:
            cur.execute(stmt)
    conn.commit()


def _try_lock(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        got = cur.fetchone()[0]
    conn.commit()
    return bool(got)


def _unlock(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    conn.commit()


def _start_run(conn, trigger: str, status: str = "running") -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO etl.runs (trigger, status) VALUES (%s, %s) RETURNING run_id", (trigger, status))
        run_id = cur.fetchone()[0]
        if status == "running":
            # We hold the lock, so any other 'running' row belongs to a run that died.
            cur.execute("UPDATE etl.runs SET status = 'abandoned', finished_at = clock_timestamp(), "
                        "message = 'found running by run ' || %s WHERE status = 'running' AND run_id <> %s",
                        (run_id, run_id))
    conn.commit()
    return run_id


def _finish_run(conn, r: RunResult) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """UPDATE etl.runs SET finished_at = clock_timestamp(), status = %s, files_seen = %s, files_loaded = %s,
                   files_remaining = %s, lines_read = %s, events_loaded = %s, duplicates = %s, rejects = %s,
                   rejects_by_reason = %s, days_refreshed = %s, message = %s
               WHERE run_id = %s""",
            (r.status, r.files_seen, r.files_loaded, r.files_remaining, r.lines_read, r.events_loaded,
             r.duplicates, r.rejects, json.dumps(r.rejects_by_reason, sort_keys=True), r.days_refreshed,
             r.message, r.run_id))
    conn.commit()


def _newest_loaded_key(conn, bucket: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT max(object_key) FROM etl.files WHERE bucket = %s", (bucket,))
        newest = cur.fetchone()[0]
    conn.commit()
    return newest


def _loaded_since(conn, bucket: str, start_after: str | None) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT object_key FROM etl.files WHERE bucket = %s AND object_key > %s",
                    (bucket, start_after or ""))
        keys = {r[0] for r in cur.fetchall()}
    conn.commit()
    return keys


def find_pending(conn, s3, settings: Settings) -> list[RawObject]:
    newest = _newest_loaded_key(conn, settings.raw_bucket)
    start_after = start_after_for(settings.events_prefix, newest, settings.listing_lookback_hours)
    objects = list_objects(s3, settings.raw_bucket, settings.events_prefix, start_after)
    return pending(objects, _loaded_since(conn, settings.raw_bucket, start_after))


def _fetch_and_split(s3, bucket: str, obj: RawObject, file_idx: int, window: Window) -> tuple[bytes, FastSplit]:
    data = fetch(s3, bucket, obj.key)
    return data, split_for_batch(data, file_idx, source_uri(bucket, obj.key), obj.last_modified, window)


def _fetch_batch(pool: ThreadPoolExecutor, s3, bucket: str, batch: list[RawObject], window: Window) -> list[Future]:
    """Fetch and parse (fast path) each object in the pool, overlapping the database work of the previous batch."""
    return [pool.submit(_fetch_and_split, s3, bucket, o, i, window) for i, o in enumerate(batch)]


def run_etl(conn, s3, settings: Settings, *, remaining_ms: Callable[[], int] | None = None,
            trigger: str = "cli") -> RunResult:
    """Load every pending object (or as many as the time budget allows) and refresh the touched aggregates.

    ``conn`` is a fresh psycopg2 connection; ``remaining_ms`` is the Lambda context's
    ``get_remaining_time_in_millis`` (None: no limit). Raises on database/S3 errors after recording the run
    as failed; whatever committed before the error stays committed, the rest stays pending.
    """
    setup_session(conn)
    if not _try_lock(conn):
        run_id = _start_run(conn, trigger, status="skipped_locked")
        result = RunResult(run_id, "skipped_locked", message="another ETL run holds the lock")
        _finish_run(conn, result)
        LOG.info(json.dumps({"message": "etl skipped: locked", "run_id": run_id}))
        return result
    result = RunResult(_start_run(conn, trigger), "running")
    reasons: Counter[str] = Counter()
    try:
        todo = find_pending(conn, s3, settings)
        result.files_seen = len(todo)
        groups = batches(todo, settings.batch_max_bytes, settings.batch_max_files)
        window = fast_window(settings)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = _fetch_batch(pool, s3, settings.raw_bucket, groups[0], window) if groups else []
            for n, group in enumerate(groups):
                if remaining_ms is not None and remaining_ms() < settings.min_remaining_seconds * 1000:
                    result.message = "stopped early: Lambda time budget nearly spent"
                    break
                fetched = [f.result() for f in futures]
                data, splits = [d for d, _ in fetched], [sp for _, sp in fetched]
                if n + 1 < len(groups):  # prefetch the next batch while this one loads
                    futures = _fetch_batch(pool, s3, settings.raw_bucket, groups[n + 1], window)
                b = load_batch(conn, settings.raw_bucket, list(zip(group, data, strict=True)), settings,
                               result.run_id, splits)
                result.files_loaded += b.files
                result.lines_read += b.lines
                result.events_loaded += b.events_loaded
                result.duplicates += b.duplicates
                result.rejects += b.rejects
                reasons.update(b.rejects_by_reason)
                LOG.info(json.dumps({"message": "batch loaded", "run_id": result.run_id, "files": b.files,
                                     "lines": b.lines, "events": b.events_loaded, "duplicates": b.duplicates,
                                     "rejects": b.rejects, "parse_fallback": b.parse_fallback,
                                     "fast_fallback": b.fast_fallback}))
            for f in futures:
                f.cancel()
        result.files_remaining = result.files_seen - result.files_loaded
        result.days_refreshed = refresh_aggregates(conn)
        result.rejects_by_reason = dict(sorted(reasons.items()))
        result.status = "partial" if result.files_remaining else "succeeded"
        _finish_run(conn, result)
        _unlock(conn)
    except Exception as exc:
        conn.rollback()
        result.status = "failed"
        result.files_remaining = result.files_seen - result.files_loaded
        result.rejects_by_reason = dict(sorted(reasons.items()))
        result.message = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            _finish_run(conn, result)
            _unlock(conn)
        except Exception:  # the connection itself may be gone; the original error matters
            LOG.exception("could not record the failed run")
        raise
    LOG.info(json.dumps({"message": "etl run finished", **result.as_dict()}))
    return result
