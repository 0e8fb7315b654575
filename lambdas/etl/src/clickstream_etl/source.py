"""Raw objects in S3: which are pending, and their bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RawObject:
    key: str
    size: int
    etag: str
    last_modified: datetime


def hour_prefix(events_prefix: str, when: datetime) -> str:
    """``events/YYYY/MM/DD/HH/`` of a UTC time: the ingest's key layout."""
    return f"{events_prefix}{when:%Y/%m/%d/%H}/"


def start_after_for(events_prefix: str, newest_loaded_key: str | None, lookback_hours: int) -> str | None:
    """List from ``lookback_hours`` before the newest loaded object's hour; None = list everything.

    Objects are written under the hour they were received, so anything still pending is near the newest
    loaded hour; the look-back covers requests in flight across an hour boundary and any listing lag.
    """
    if not newest_loaded_key or lookback_hours <= 0 or not newest_loaded_key.startswith(events_prefix):
        return None
    parts = newest_loaded_key[len(events_prefix):].split("/")
    try:
        hour = datetime(int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]))
    except (IndexError, ValueError):
        return None
    return hour_prefix(events_prefix, hour - timedelta(hours=lookback_hours))


def list_objects(s3, bucket: str, prefix: str, start_after: str | None) -> list[RawObject]:
    """Every object under ``prefix`` (after ``start_after``), in key order."""
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["StartAfter"] = start_after
    found: list[RawObject] = []
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/"):
                continue
            found.append(RawObject(obj["Key"], int(obj["Size"]), str(obj.get("ETag", "")).strip('"'),
                                   obj["LastModified"]))
    found.sort(key=lambda o: o.key)
    return found


def pending(objects: list[RawObject], loaded_keys: set[str]) -> list[RawObject]:
    return [o for o in objects if o.key not in loaded_keys]


def batches(objects: list[RawObject], max_bytes: int, max_files: int, ramp: int = 0) -> list[list[RawObject]]:
    """Consecutive groups (key order kept) of at most ``max_files`` objects / about ``max_bytes`` bytes.

    With ``ramp``, the first ``ramp`` groups hold at most 1/2**ramp, ..., 1/4, 1/2 of ``max_bytes`` and, when there
    are more than ``2 * max_bytes`` bytes, so do the last ``ramp`` groups in reverse (1/2, ..., 1/2**ramp): the
    loader then starts on a small batch, and the parser's last batches are small, so that neither waits long for
    the other at either end. Every group holds at least one object."""
    if ramp and sum(o.size for o in objects) > 2 * max_bytes:
        tail = _groups(objects[::-1], max_bytes, max_files, ramp)[:ramp]
        taken = sum(len(g) for g in tail)
        return _groups(objects[:-taken], max_bytes, max_files, ramp) + [g[::-1] for g in tail[::-1]]
    return _groups(objects, max_bytes, max_files, ramp)


def _groups(objects: list[RawObject], max_bytes: int, max_files: int, ramp: int) -> list[list[RawObject]]:
    """``batches`` with the ramp at the start only."""
    out: list[list[RawObject]] = []
    current: list[RawObject] = []
    size = 0
    limit = max_bytes >> ramp
    for obj in objects:
        if current and (size + obj.size > limit or len(current) >= max_files):
            out.append(current)
            current, size = [], 0
            limit = max_bytes >> max(0, ramp - len(out))
        current.append(obj)
        size += obj.size
    if current:
        out.append(current)
    return out


def fetch(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
