"""Count what the ingest rejected: the rejected/ objects of the raw bucket -> dw.agg_hourly_ingest_rejects.

The ingest writes each event it refuses, with its reason code and the field at fault, to
``rejected/YYYY/MM/DD/HH/rejected-<uuid>.json`` (hour received, UTC). The events themselves stay in S3; the
warehouse only needs how many, why, and when, for the pipeline-health dashboard. Each run counts the objects not
in ``etl.ingest_reject_files`` yet, a group of objects per transaction (their counts and manifest rows commit together),
so an object is counted exactly once whatever the number of runs, and a run stopped half-way leaves the rest for
the next. No line can stop the count: a line that is not a JSON object with a reason counts as
``unreadable_line``. Tables: sql/dw/0015_ingest_rejects.sql.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from psycopg2.extras import execute_values

from .source import RawObject, fetch, list_objects, start_after_for

LOG = logging.getLogger("clickstream_etl.ingest_rejects")
UNREADABLE = "unreadable_line"
# Reason codes and field paths become aggregate keys: anything long or odd (a hostile client's made-up field
# names) is folded into one key so that the aggregate stays small.
_REASON_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FIELD_RE = re.compile(r"^[A-Za-z0-9_.\[\]-]{0,128}$")
OTHER_FIELD = "(other)"
_KEY_HOUR_RE = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]*$")

UPSERT = """
INSERT INTO dw.agg_hourly_ingest_rejects AS a (received_hour, reason, field, rejects) VALUES %s
ON CONFLICT (received_hour, reason, field) DO UPDATE SET rejects = a.rejects + EXCLUDED.rejects"""
MANIFEST = """
INSERT INTO etl.ingest_reject_files (bucket, object_key, etag, size_bytes, lines, run_id) VALUES %s
ON CONFLICT (bucket, object_key) DO NOTHING RETURNING object_key"""
# Objects counted per transaction: their counts and manifest rows commit together.
GROUP_OBJECTS = 200


def received_hour(obj: RawObject) -> datetime:
    """The hour in the object's key (the ingest's layout), else the hour the object was written."""
    m = _KEY_HOUR_RE.search(obj.key)
    if m:
        try:
            return datetime(*(int(g) for g in m.groups()), tzinfo=UTC)
        except ValueError:
            pass
    when = obj.last_modified if obj.last_modified.tzinfo else obj.last_modified.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def classify(line: bytes) -> tuple[str, str]:
    """(reason, field) of one rejected/ line."""
    try:
        doc = json.loads(line)
    except ValueError:
        return UNREADABLE, ""
    if not isinstance(doc, dict) or not isinstance(doc.get("reason"), str) or not _REASON_RE.match(doc["reason"]):
        return UNREADABLE, ""
    field = doc.get("field")
    field = field if isinstance(field, str) else ""
    return doc["reason"], field if _FIELD_RE.match(field) else OTHER_FIELD


def count_lines(data: bytes) -> Counter[tuple[str, str]]:
    """Rejects by (reason, field) in one object's NDJSON (blank lines are not events)."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in data.splitlines():
        if line.strip():
            counts[classify(line)] += 1
    return counts


def _counted_keys(conn, bucket: str, start_after: str | None) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT object_key FROM etl.ingest_reject_files WHERE bucket = %s AND object_key > %s",
                    (bucket, start_after or ""))
        keys = {row[0] for row in cur.fetchall()}
    conn.commit()
    return keys


def _newest_counted(conn, bucket: str, prefix: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT max(object_key) FROM etl.ingest_reject_files WHERE bucket = %s AND object_key LIKE %s",
                    (bucket, prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"))
        newest = cur.fetchone()[0]
    conn.commit()
    return newest


def count_pending(conn, s3, bucket: str, prefix: str, run_id: int, *, lookback_hours: int = 24,
                  allows: Callable[[], bool] = lambda: True) -> int:
    """Count every rejected/ object not counted yet (listing from ``lookback_hours`` before the newest counted
    one, as the events' listing does), ``GROUP_OBJECTS`` objects per transaction; stop early when ``allows()``
    says the time budget is spent. Returns the number of rejected lines counted. S3 and database errors
    propagate (the run records them; what is not committed stays to count)."""
    start_after = start_after_for(prefix, _newest_counted(conn, bucket, prefix), lookback_hours)
    done = _counted_keys(conn, bucket, start_after)
    todo = [o for o in list_objects(s3, bucket, prefix, start_after) if o.key not in done]
    total = 0
    for first in range(0, len(todo), GROUP_OBJECTS):
        if not allows():
            LOG.info(json.dumps({"message": "ingest rejects left for the next run", "run_id": run_id,
                                 "objects": len(todo) - first}))
            break
        total += _count_group(conn, s3, bucket, todo[first:first + GROUP_OBJECTS], run_id)
    return total


def _count_group(conn, s3, bucket: str, objects: list[RawObject], run_id: int) -> int:
    """One transaction: the manifest rows of ``objects`` and their lines added to the hourly counts (an object
    some other writer counted meanwhile is left out)."""
    counted = {obj.key: (received_hour(obj), count_lines(fetch(s3, bucket, obj.key))) for obj in objects}
    with conn.cursor() as cur:
        inserted = {row[0] for row in execute_values(
            cur, MANIFEST, [(bucket, o.key, o.etag, o.size, sum(counted[o.key][1].values()), run_id)
                            for o in objects], fetch=True)}
        totals: Counter[tuple[datetime, str, str]] = Counter()
        for key in inserted:
            hour, counts = counted[key]
            for (reason, field), n in counts.items():
                totals[(hour, reason, field)] += n
        if totals:
            execute_values(cur, UPSERT, [(*k, n) for k, n in sorted(totals.items())])
    conn.commit()
    return sum(totals.values())
