"""One ETL run (``run_etl``) or replay of quarantined objects (``replay``): the lock, the run log, the pending
objects in batches (``pipeline``) until the time budget is spent, fault isolation of a batch that fails, the
aggregates' apply; and the rebuild command (``rebuild``)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime

from . import aggregates, anomalies, attribution, ingest_rejects, load, quarantine, segments, sql
from .config import Settings
from .connections import transaction
from .load import load_batch
from .pipeline import Batch, Pipeline
from .prepare import split_lines
from .rebuild import mark_days, rebuild_dirty_days
from .source import RawObject, batches, fetch, list_objects, pending, start_after_for

LOG = logging.getLogger("clickstream_etl")
# pg_try_advisory_lock key of the ETL ("clkETL"); the migrations runner uses another one.
LOCK_KEY = 0x636C6B45544C
# The first batches are smaller (1/8, 1/4, 1/2 of batch_max_bytes): the database waits for the first two batches'
# parse (and the first one's plan) before its first COPY, and the parser then keeps ahead of batches that grow. So
# are the last ones, in reverse: while the last batch loads, the Python threads have nothing left to do.
RAMP = 3
# The line-level fallback (_unloadable_lines): at most this many lines of one object become `unloadable` rejects,
# found with at most this many probes; beyond either, the object is quarantined.
MAX_UNLOADABLE_LINES = 10
MAX_PROBES = 200


@dataclass
class RunResult:
    run_id: int | None
    status: str
    files_seen: int = 0
    files_loaded: int = 0
    files_remaining: int = 0
    files_quarantined: int = 0  # set aside by this run (etl.quarantine)
    lines_read: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    days_refreshed: int = 0
    lake_export_failures: int = 0  # 1 when the lake's export failed after the warehouse's commits (lake.run)
    message: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def log_record(self, message: str) -> dict:
        """The run's log line: ``message`` says what finished; the result's own message goes under ``detail``."""
        record = self.as_dict()
        detail = record.pop("message")
        return {"message": message, **record, "detail": detail}


def setup_session(conn) -> None:
    conn.autocommit = False
    with transaction(conn), conn.cursor() as cur:
        for stmt in sql.SESSION_SETUP:
            cur.execute(stmt)
        for stmt in sql.SAFE_FUNCTIONS:
            cur.execute(stmt)


def _schema_settings(conn, settings: Settings) -> Settings:
    """``settings`` with ``event_ledger`` as the warehouse's schema has it: a warehouse converted for the hot window
    (``lake.hot_window.converted``) dedups against its event-id ledger and the loads write it; the day partitions
    this run may load are made first (``hot_window.prepare``). Otherwise ``settings`` as they are."""
    from .lake import hot_window  # no lake library: the hot window's SQL side only

    if not hot_window.converted(conn):
        return settings
    hot_window.prepare(conn, datetime.now(UTC).date(), settings.freshness_hours)
    return replace(settings, event_ledger=True)


def _try_lock(conn) -> bool:
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        return bool(cur.fetchone()[0])


def _unlock(conn) -> None:
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


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
                   files_remaining = %s, files_quarantined = %s, lines_read = %s, events_loaded = %s, duplicates = %s,
                   rejects = %s, rejects_by_reason = %s, days_refreshed = %s, message = %s
               WHERE run_id = %s""",
            (r.status, r.files_seen, r.files_loaded, r.files_remaining, r.files_quarantined, r.lines_read,
             r.events_loaded,
             r.duplicates, r.rejects, json.dumps(r.rejects_by_reason, sort_keys=True), r.days_refreshed,
             r.message, r.run_id))
    conn.commit()


def _newest_loaded_key(conn, bucket: str) -> str | None:
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT max(object_key) FROM etl.files WHERE bucket = %s", (bucket,))
        return cur.fetchone()[0]


def _loaded_since(conn, bucket: str, start_after: str | None) -> set[str]:
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT object_key FROM etl.files WHERE bucket = %s AND object_key > %s",
                    (bucket, start_after or ""))
        return {r[0] for r in cur.fetchall()}


def find_pending(conn, s3, settings: Settings) -> list[RawObject]:
    newest = _newest_loaded_key(conn, settings.raw_bucket)
    start_after = start_after_for(settings.events_prefix, newest, settings.listing_lookback_hours)
    objects = list_objects(s3, settings.raw_bucket, settings.events_prefix, start_after)
    return pending(objects, _loaded_since(conn, settings.raw_bucket, start_after)
                   | quarantine.open_keys(conn, settings.raw_bucket))


class Deadline:
    """The Lambda's time left: ``left_ms`` asks ``remaining_ms`` (the context's get_remaining_time_in_millis);
    ``projected_ms`` is the last answer less the time since (the deadline does not move), asked once if never."""

    def __init__(self, remaining_ms: Callable[[], int] | None) -> None:
        self._remaining = remaining_ms
        self._at: float | None = None

    def left_ms(self) -> float | None:
        if self._remaining is None:
            return None
        left = self._remaining()
        self._at = time.monotonic() + left / 1000
        return left

    def projected_ms(self) -> float | None:
        if self._remaining is None:
            return None
        if self._at is None:
            return self.left_ms()
        return (self._at - time.monotonic()) * 1000

    def allows(self, seconds: float) -> bool:
        """Whether at least ``seconds`` are left (projected)."""
        left = self.projected_ms()
        return left is None or left >= seconds * 1000


class _Unattributable(Exception):
    """The line-level fallback cannot name a few lines that make an object's load fail."""


def _blanked(lines: list[bytes], keep) -> bytes:
    """The object's bytes with every line not in ``keep`` emptied (line numbers unchanged; blank lines load as
    nothing)."""
    return b"".join((line if n in keep else b"") + b"\n" for n, line in enumerate(lines, 1))


def _unloadable_lines(conn, settings: Settings, run_id: int, obj: RawObject, data: bytes,
                      error: BaseException) -> list[load.Unloadable]:
    """The few lines of ``obj`` that make its load fail on their own, found by halving (each probe a load rolled
    back), or _Unattributable: when the failure needs several lines together, when more than
    ``MAX_UNLOADABLE_LINES`` or half the object's lines fail (more likely a fault of the system than of the data:
    the object is better quarantined, replayable, than rejected line by line for good), or after ``MAX_PROBES``."""
    lines = split_lines(data)
    candidates = [n for n, line in enumerate(lines, 1) if line.strip()]
    probes = 0

    def failure(subset: list[int]) -> BaseException | None:
        nonlocal probes
        probes += 1
        if probes > MAX_PROBES:
            raise _Unattributable
        try:
            load_batch(conn, settings.raw_bucket, [(obj, _blanked(lines, set(subset)))], settings, run_id,
                       commit=False)
        except Exception as exc:
            if quarantine.is_transient(exc):
                raise
            return exc
        return None

    bad: dict[int, BaseException] = {}

    def search(subset: list[int], exc: BaseException) -> None:  # ``subset`` fails with ``exc``
        if len(subset) == 1:
            bad[subset[0]] = exc
            if len(bad) > MAX_UNLOADABLE_LINES or 2 * len(bad) >= len(candidates):
                raise _Unattributable
            return
        half = len(subset) // 2
        found = False
        for part in (subset[:half], subset[half:]):
            part_exc = failure(part)
            if part_exc is not None:
                found = True
                search(part, part_exc)
        if not found:  # each half loads alone: the lines fail only together
            raise _Unattributable

    search(candidates, error)
    return [load.Unloadable(n, *quarantine.line_reject(conn, e),
                            lines[n - 1].replace(b"\x00", b"").decode("utf-8", errors="replace"))
            for n, e in sorted(bad.items())]


def _load_alone(conn, settings: Settings, result: RunResult, obj: RawObject, data: bytes) -> load.BatchResult | None:
    """One object in its own transaction. If it fails with an error that is not transient: its few unloadable lines
    become rejects and the rest loads (the line-level fallback), else it is quarantined (None). A transient error
    is raised."""
    try:
        return load_batch(conn, settings.raw_bucket, [(obj, data)], settings, result.run_id)
    except Exception as exc:
        if quarantine.is_transient(exc):
            raise
        error = exc
    try:
        unloadable = _unloadable_lines(conn, settings, result.run_id, obj, data, error)
        keep = set(range(1, len(split_lines(data)) + 1)) - {u.line for u in unloadable}
        b = load_batch(conn, settings.raw_bucket, [(obj, _blanked(split_lines(data), keep))], settings,
                       result.run_id, unloadable=unloadable)
        LOG.warning(json.dumps({"message": "unloadable lines rejected", "run_id": result.run_id, "key": obj.key,
                                "lines": [u.line for u in unloadable]}))
        return b
    except _Unattributable:
        pass
    except Exception as exc:
        if quarantine.is_transient(exc):
            raise
        error = exc
    _set_aside(conn, settings.raw_bucket, result, obj, error, "object quarantined")
    return None


def _set_aside(conn, bucket: str, result: RunResult, obj: RawObject, error: BaseException, message: str) -> None:
    """Quarantine ``obj`` (a run's or a replay's failed load), count it and log ``message`` with the error."""
    quarantine.record(conn, bucket, obj, error, result.run_id)
    result.files_quarantined += 1
    LOG.error(json.dumps({"message": message, "run_id": result.run_id, "key": obj.key,
                          "error_class": quarantine.error_class(error), "error": quarantine.error_message(error)}))


def _isolate(conn, settings: Settings, result: RunResult, batch: Batch, error: BaseException) -> load.BatchResult:
    """A batch failed with an error that is not transient (``error``, its transaction rolled back): load its objects
    one at a time (``_load_alone``: an object that fails again on its own has its few unloadable lines rejected, or
    is quarantined) and the others load. A transient error stops the run (raised)."""
    LOG.warning(json.dumps({"message": "batch failed, loading its objects one by one", "run_id": result.run_id,
                            "files": len(batch.objects),
                            "error": f"{quarantine.error_class(error)}: {quarantine.error_message(error)}"}))
    total = load.BatchResult(fast_fallback=True)
    for obj, data in zip(batch.objects, batch.data, strict=True):
        b = _load_alone(conn, settings, result, obj, data)
        if b is None:
            continue
        total.files += b.files
        total.lines += b.lines
        total.events_loaded += b.events_loaded
        total.duplicates += b.duplicates
        total.rejects += b.rejects
        total.rejects_by_reason.update(b.rejects_by_reason)
        total.parse_fallback = total.parse_fallback or b.parse_fallback
    return total


def _count(result: RunResult, reasons: Counter[str], b) -> None:
    result.files_loaded += b.files
    result.lines_read += b.lines
    result.events_loaded += b.events_loaded
    result.duplicates += b.duplicates
    result.rejects += b.rejects
    reasons.update(b.rejects_by_reason)
    LOG.info(json.dumps({"message": "batch loaded", "run_id": result.run_id, "files": b.files, "lines": b.lines,
                         "events": b.events_loaded, "duplicates": b.duplicates, "rejects": b.rejects,
                         "parse_fallback": b.parse_fallback, "fast_fallback": b.fast_fallback}))


def _aggregate(conn, settings: Settings, deadline: Deadline, result: RunResult) -> bool:
    """The aggregates' change for every client the batches touched, and the days a rebuild left dirty (cut short,
    or an earlier version's); or neither when less than ``min_apply_seconds`` is left (then False: all of it stays
    pending)."""
    if not deadline.allows(settings.min_apply_seconds):
        note = "aggregates left pending for the next run: Lambda time budget nearly spent"
        result.message = f"{result.message}; {note}" if result.message else note
        return False
    aggregates.apply_pending(conn)
    result.days_refreshed = rebuild_dirty_days(conn)  # a rebuild's days not recomputed yet
    segments.refresh_daily(conn, settings.segment_thresholds)  # once a day: the last closed day's client segments
    return True


def _skipped_locked(conn, trigger: str) -> RunResult:
    """Record a run (or replay) that found another one holding the ETL's lock."""
    result = RunResult(_start_run(conn, trigger, status="skipped_locked"), "skipped_locked",
                       message="another ETL run holds the lock")
    _finish_run(conn, result)
    return result


def _record_failure(conn, result: RunResult, reasons: Counter[str], exc: BaseException, unrecorded: str) -> None:
    """Record a run (or replay) that ``exc`` stopped as failed, its message prefixed ``transient:`` or ``error:``,
    and release the lock; whatever committed before stays committed. ``unrecorded`` is logged if that fails."""
    with contextlib.suppress(Exception):  # the connection may be gone (then the server ended the transaction)
        conn.rollback()
    result.status = "failed"
    result.rejects_by_reason = dict(sorted(reasons.items()))
    kind = "transient" if quarantine.is_transient(exc) else "error"
    result.message = f"{kind}: {type(exc).__name__}: {exc}"[:2000]
    try:
        _finish_run(conn, result)
        _unlock(conn)
    except Exception:  # the connection itself may be gone; the original error matters
        LOG.exception(unrecorded)


def run_etl(conn, s3, settings: Settings, *, remaining_ms: Callable[[], int] | None = None,
            trigger: str = "cli") -> RunResult:
    """Load every pending object (or as many as the time budget allows) and refresh the touched aggregates.

    ``conn`` is a fresh psycopg2 connection; ``remaining_ms`` is the Lambda context's
    ``get_remaining_time_in_millis`` (None: no limit): no batch starts with less than ``min_remaining_seconds``
    left, and the aggregates' apply and refresh do not start with less than ``min_apply_seconds`` (the clients
    and days stay pending for the next run, which applies them first). An object whose own data fails its load
    is quarantined and the run goes on (``quarantine``). Raises on transient database/S3 errors after recording
    the run as failed; whatever committed before the error stays committed, the rest stays pending.
    """
    setup_session(conn)
    if not _try_lock(conn):
        result = _skipped_locked(conn, trigger)
        LOG.info(json.dumps({"message": "etl skipped: locked", "run_id": result.run_id}))
        return result
    result = RunResult(_start_run(conn, trigger), "running")
    reasons: Counter[str] = Counter()
    try:
        settings = _schema_settings(conn, settings)
        aggregates.finish_partial(conn)  # an apply cut between its parts' commits, before new clients become pending
        attribution.configure(conn, settings.attribution_lookback_days)  # a new lookback: credits recomputed
        todo = find_pending(conn, s3, settings)
        result.files_seen = len(todo)
        groups = batches(todo, settings.batch_max_bytes, settings.batch_max_files, RAMP)
        deadline = Deadline(remaining_ms)
        with Pipeline(conn, s3, settings, groups, result.run_id) as pipeline:
            stopped = pipeline.run(deadline, lambda b: _count(result, reasons, b),
                                   lambda batch, exc: _isolate(conn, settings, result, batch, exc))
        if stopped:
            result.message = stopped
        ingest_rejects.count_pending(conn, s3, settings.raw_bucket, settings.rejected_prefix, result.run_id,
                                     lookback_hours=settings.listing_lookback_hours,
                                     allows=lambda: deadline.allows(settings.min_remaining_seconds))
        result.files_remaining = result.files_seen - result.files_loaded - result.files_quarantined
        aggregated = _aggregate(conn, settings, deadline, result)
        if aggregated:  # the hourly anomaly checks read the aggregates just applied
            anomalies.run_step(conn, settings, result)
        result.rejects_by_reason = dict(sorted(reasons.items()))
        result.status = "partial" if result.files_remaining or not aggregated else "succeeded"
        if settings.lake_enabled:  # after the warehouse's commits: the lake's export (docs/lake.md)
            from .lake.run import export_after
            export_after(conn, settings, result, lambda: deadline.allows(settings.min_apply_seconds))
            if settings.hot_window_days:  # then the days past the window that the lake holds leave the warehouse
                from .lake.hot_window import run_step
                run_step(conn, settings, result)
        _finish_run(conn, result)
        _unlock(conn)
    except Exception as exc:
        result.files_remaining = result.files_seen - result.files_loaded - result.files_quarantined
        _record_failure(conn, result, reasons, exc, "could not record the failed run")
        raise
    LOG.info(json.dumps(result.log_record("etl run finished")))
    return result


def replay(conn, s3, settings: Settings, *, key: str | None = None, trigger: str = "replay") -> RunResult:
    """Load the open quarantined objects (all, or only ``key``) as they are in S3 now, under the ETL's lock, one
    transaction each: the object's rows, its manifest row and the record's ``resolved_at`` commit together, so a
    replayed object loads once and a second replay finds nothing open. An object that fails again with an error
    that is not transient stays quarantined (one more attempt, the new error); a transient error stops the replay
    like a run. The aggregates are applied at the end, as in a run."""
    setup_session(conn)
    if not _try_lock(conn):
        return _skipped_locked(conn, trigger)
    result = RunResult(_start_run(conn, trigger), "running")
    reasons: Counter[str] = Counter()
    bucket = settings.raw_bucket
    try:
        settings = _schema_settings(conn, settings)
        aggregates.finish_partial(conn)
        attribution.configure(conn, settings.attribution_lookback_days)
        keys = quarantine.open_records(conn, bucket, key)
        result.files_seen = len(keys)
        for k in keys:
            resolve = (quarantine.resolve_sql(), {"run_id": result.run_id, "bucket": bucket, "key": k})
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM etl.files WHERE bucket = %s AND object_key = %s", (bucket, k))
                if cur.fetchone()[0]:  # already in the manifest (loaded by other means): only close the record
                    cur.execute(*resolve)
                    conn.commit()
                    continue
            conn.commit()
            head = s3.head_object(Bucket=bucket, Key=k)
            obj = RawObject(k, int(head["ContentLength"]), str(head.get("ETag", "")).strip('"'), head["LastModified"])
            data = fetch(s3, bucket, k)
            try:
                b = load_batch(conn, bucket, [(obj, data)], settings, result.run_id, also=resolve)
            except Exception as exc:
                if quarantine.is_transient(exc):
                    raise
                _set_aside(conn, bucket, result, obj, exc, "replayed object failed again")
                continue
            _count(result, reasons, b)
        aggregates.apply_pending(conn)
        result.days_refreshed = rebuild_dirty_days(conn)
        result.rejects_by_reason = dict(sorted(reasons.items()))
        result.status = "succeeded"
        if result.files_quarantined:
            result.message = f"{result.files_quarantined} object(s) failed again and stay quarantined"
        if settings.lake_enabled:
            from .lake.run import export_after
            export_after(conn, settings, result)
        _finish_run(conn, result)
        _unlock(conn)
    except Exception as exc:
        _record_failure(conn, result, reasons, exc, "could not record the failed replay")
        raise
    LOG.info(json.dumps(result.log_record("etl replay finished")))
    return result


def rebuild(conn, first: date, last: date, *, trigger: str = "rebuild") -> RunResult:
    """The rebuild command: recompute every aggregate from dw.events / dw.sessions for the days from ``first`` to
    ``last`` (included) that hold events, under the ETL's lock, recorded in etl.runs (``days_refreshed``). Days
    marked and not yet recomputed when it fails stay marked: the next run recomputes them (``rebuild``)."""
    setup_session(conn)
    if not _try_lock(conn):
        return _skipped_locked(conn, trigger)
    result = RunResult(_start_run(conn, trigger), "running")
    try:
        aggregates.finish_partial(conn)
        mark_days(conn, first, last)
        result.days_refreshed = rebuild_dirty_days(conn)
        result.status = "succeeded"
        _finish_run(conn, result)
        _unlock(conn)
    except Exception as exc:
        _record_failure(conn, result, Counter(), exc, "could not record the failed rebuild")
        raise
    LOG.info(json.dumps(result.log_record("etl rebuild finished")))
    return result
