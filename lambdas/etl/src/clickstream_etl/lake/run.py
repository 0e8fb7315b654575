"""The lake export as part of an ETL run (``export_after``), and the backfill command (``backfill``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

LOG = logging.getLogger("clickstream_etl")

# Every object loaded with events, for the backfill: those the outbox does not name yet, oldest load first.
BACKFILL_OUTBOX = """
INSERT INTO etl.lake_outbox (source_file, events)
SELECT 's3://' || f.bucket || '/' || f.object_key, f.events_loaded
FROM etl.files f
WHERE f.events_loaded > 0
ORDER BY f.loaded_at, f.bucket, f.object_key
ON CONFLICT (source_file) DO NOTHING"""
# Every day with sessions, written to the lake once closed.
BACKFILL_DAYS = "INSERT INTO etl.lake_session_days (day) SELECT DISTINCT session_date FROM dw.sessions " \
                "ON CONFLICT DO NOTHING"


def export_after(conn, settings, result, allows: Callable[[], bool] = lambda: True) -> None:
    """After a run's (or replay's) warehouse commits: export to the lake. A failure of the lake leaves the
    warehouse's work as it is: the run becomes ``partial`` with the error in its message, and the outbox keeps
    what is not exported for the next run."""
    from .export import export

    try:
        done = export(conn, settings, datetime.now(UTC), allows)
    except Exception as exc:  # the lake (Glue, S3) failed; the warehouse's commits stand
        conn.rollback()
        note = f"lake export failed: {type(exc).__name__}: {exc}"[:1000]
        LOG.error(json.dumps({"message": "lake export failed", "run_id": result.run_id, "error": note}))
        result.status = "partial"
        result.lake_export_failures = 1  # the ETL's LakeExportFailures metric and its alarm (roles/monitoring)
        result.message = f"{result.message}; {note}" if result.message else note
        return
    if not done.complete:
        note = "lake export left pending for the next run: Lambda time budget nearly spent"
        result.message = f"{result.message}; {note}" if result.message else note
        result.status = "partial"
    LOG.info(json.dumps({"message": "lake export finished", "run_id": result.run_id, "events": done.events,
                         "outbox_seq": done.outbox_seq, "session_days": done.session_days}))


def backfill(conn, settings, *, trigger: str = "lake-backfill"):
    """The backfill command: every event and session already in the warehouse into the lake, under the ETL's
    lock, recorded in etl.runs. Idempotent: the outbox names each object once, the export continues after the
    last exported row, and a session day is written by replacing its partition."""
    from collections import Counter

    from ..runner import (
        RunResult,
        _finish_run,
        _record_failure,
        _skipped_locked,
        _start_run,
        _try_lock,
        _unlock,
        setup_session,
    )

    setup_session(conn)
    if not _try_lock(conn):
        return _skipped_locked(conn, trigger)
    result = RunResult(_start_run(conn, trigger), "running")
    try:
        with conn.cursor() as cur:
            cur.execute(BACKFILL_OUTBOX)
            queued = cur.rowcount
            cur.execute(BACKFILL_DAYS)
        conn.commit()
        from .export import export

        done = export(conn, settings, datetime.now(UTC))
        result.files_seen = queued
        result.events_loaded = done.events  # here: the events exported to the lake
        result.status = "succeeded"
        result.message = (f"lake backfill: {queued} object(s) queued, {done.events} event(s) exported, "
                          f"{done.session_days} closed session day(s) written")
        _finish_run(conn, result)
        _unlock(conn)
    except Exception as exc:
        _record_failure(conn, result, Counter(), exc, "could not record the failed lake backfill")
        raise
    LOG.info(json.dumps({"message": "lake backfill finished", **result.as_dict()}))
    return result
