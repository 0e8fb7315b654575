"""Write the traffic straight to the raw bucket, exactly as the ingest Lambda would have stored it.

Same key layout (`events/YYYY/MM/DD/HH/events-<uuid>.json`, `rejected/.../rejected-<uuid>.json`, hour of the
simulated receive time) and the same NDJSON line format (docs/event-contract.md, section 3), but many requests
per object so that 1M-10M events make a few thousand objects, not millions. Streaming and memory-bounded:
lines are buffered per hour and flushed at `lines_per_object` or when the buffers pass `max_buffer_bytes`;
uploads run on a small thread pool with a bounded number in flight.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _string  # type: ignore[attr-defined]
from typing import Any

from .generator import INGEST_REJECTIONS, MALFORMED, ClientTraffic, iso_ms, rng_uuid
from .http_sink import user_agent_for

SCHEMA_VERSION = 1


@functools.cache
def _ingest_device() -> Callable[[str | None], Any]:
    """The ingest's own derivation of a request's device from its User-Agent (clickstream_ingest/device.py), so the
    lines written here carry what the ingest would have written."""
    try:
        from clickstream_ingest.device import device
    except ImportError:  # run as `PYTHONPATH=bench python -m traffic...`: the ingest's package is beside it
        from pathlib import Path

        sys.path.append(str(Path(__file__).resolve().parents[2] / "lambdas" / "ingest" / "src"))
        from clickstream_ingest.device import device
    return device


def device_of(ua: str | None) -> tuple[str, str | None, str | None]:
    """(device_category, browser, operating_system) of a User-Agent, as the ingest stores them."""
    d = _ingest_device()(ua)
    return d.category, d.browser, d.os
PAGE_FIELDS = ("url_path", "referrer", "title")
PRODUCT_FIELDS = ("id", "name", "category", "brand", "price", "discount_price", "url_path")


def request_id_for(seed: int, client_index: int, batch_no: int) -> str:
    """A stable API-Gateway-like request id per (client, batch)."""
    digest = hashlib.sha256(f"{seed}:{client_index}:{batch_no}".encode()).digest()
    return base64.b64encode(digest[:11]).decode()


def ip_prefix_for(client_id: str) -> str:
    """A stable truncated client address (/24), as the ingest stores it."""
    d = hashlib.sha256(("ip" + client_id).encode()).digest()
    return f"{100 + d[0] % 100}.{d[1]}.{d[2]}.0/24"


def _sub(value: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    return None if value is None else {f: value.get(f) for f in fields}


def stored_line(
    event: dict[str, Any], received_at: str, request_id: str, index: int, ua: str, ip: str
) -> dict[str, Any]:
    """The ingest's stored line of one valid event (same keys, order and normalisation as its `enrich`)."""
    product = _sub(event.get("product"), PRODUCT_FIELDS)
    if product is not None:
        product["id"] = str(product["id"])
    event_id = event.get("event_id")
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id.lower() if event_id else None,
        "event_id_generated": False,
        "event_name": event["event_name"],
        "event_timestamp": event["event_timestamp"],
        "received_at": received_at,
        "client_id": event["client_id"],
        "user_id": event.get("user_id"),
        "session_id": event.get("session_id"),
        "user_login_state": event.get("user_login_state"),
        "identity_source": event.get("identity_source"),
        "is_first_visit": event.get("is_first_visit"),
        "page": _sub(event.get("page"), PAGE_FIELDS),
        "product": product,
        "search_term": event.get("search_term"),
        "order_id": event.get("order_id"),
        "quantity": event.get("quantity"),
        "params": event.get("params"),
        "request_id": request_id,
        "batch_index": index,
        "user_agent": ua,
        "source_ip_prefix": ip,
        **dict(zip(("device_category", "browser", "operating_system"), device_of(ua), strict=True)),
    }


def rejected_line(event: Any, reason: str, received_at: str, request_id: str, index: int, ua: str, ip: str) -> dict:
    code, field_path = INGEST_REJECTIONS[reason]
    return {
        "schema_version": SCHEMA_VERSION,
        "reason": code,
        "field": field_path,
        "detail": f"synthetic malformed event ({reason})",
        "received_at": received_at,
        "request_id": request_id,
        "batch_index": index,
        "user_agent": ua,
        "source_ip_prefix": ip,
        "event": event,
    }


def dumps_line(obj: Any) -> bytes:
    """An events/ line, serialised as the ingest does (compact, UTF-8 kept), with its newline."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _value(x: Any) -> str:
    """One JSON value, as json.dumps(..., ensure_ascii=False, separators=(",", ":")) writes it."""
    if x is None:
        return "null"
    if isinstance(x, str):
        return _string(x)
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, int):
        return int.__repr__(x)
    if isinstance(x, float):
        return json.dumps(x)
    return json.dumps(x, ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=8192)
def _page_text(url_path: Any, referrer: Any, title: Any) -> str:
    return f'{{"url_path":{_value(url_path)},"referrer":{_value(referrer)},"title":{_value(title)}}}'


@functools.lru_cache(maxsize=8192)
def _product_text(values: tuple[Any, ...]) -> str:
    return "{" + ",".join(f'"{k}":{_value(v)}' for k, v in zip(PRODUCT_FIELDS, values, strict=True)) + "}"


def encode_stored_line(event: dict[str, Any], received_at: str, request_id: str, index: int, ua: str, ip: str) -> bytes:
    """`dumps_line(stored_line(...))`, several times faster: page and product objects are encoded once per
    distinct value (a shop has few pages and products). Byte-identical (tests/traffic/test_ingest_contract.py)."""
    page = event.get("page")
    product = event.get("product")
    event_id = event.get("event_id")
    quantity = event.get("quantity")
    params = event.get("params")
    if page is not None:
        page_text = _page_text(page.get("url_path"), page.get("referrer"), page.get("title"))
    else:
        page_text = "null"
    if product is not None:
        values = tuple(product.get(f) for f in PRODUCT_FIELDS)
        product_text = _product_text((str(values[0]), *values[1:]))
    else:
        product_text = "null"
    category, browser, os_family = device_of(ua)
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"event_id":{_value(event_id.lower() if event_id else None)},'
        f'"event_id_generated":false,"event_name":{_value(event["event_name"])},'
        f'"event_timestamp":{_value(event["event_timestamp"])},"received_at":{_value(received_at)},'
        f'"client_id":{_value(event["client_id"])},"user_id":{_value(event.get("user_id"))},'
        f'"session_id":{_value(event.get("session_id"))},"user_login_state":{_value(event.get("user_login_state"))},'
        f'"identity_source":{_value(event.get("identity_source"))},'
        f'"is_first_visit":{_value(event.get("is_first_visit"))},"page":{page_text},"product":{product_text},'
        f'"search_term":{_value(event.get("search_term"))},"order_id":{_value(event.get("order_id"))},'
        f'"quantity":{_value(quantity)},"params":{_value(params)},"request_id":{_value(request_id)},'
        f'"batch_index":{index},"user_agent":{_value(ua)},"source_ip_prefix":{_value(ip)},'
        f'"device_category":{_value(category)},"browser":{_value(browser)},"operating_system":{_value(os_family)}}}\n'
    ).encode()


def dumps_rejected(obj: Any) -> bytes:
    """A rejected/ line, serialised as the ingest does (compact, ASCII-escaped), with its newline."""
    return (json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode()


@dataclass
class _HourBuffer:
    events: list[bytes] = field(default_factory=list)
    rejected: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    corrupt: int = 0


@dataclass
class S3Stats:
    event_objects: int = 0
    rejected_objects: int = 0
    event_lines: int = 0  # parsable event lines (valid events and re-sent copies)
    rejected_lines: int = 0
    corrupt_lines: int = 0  # unparsable lines put into events/ objects on purpose (the ETL must reject them)
    bytes: int = 0
    keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_objects": self.event_objects,
            "rejected_objects": self.rejected_objects,
            "event_lines": self.event_lines,
            "rejected_lines": self.rejected_lines,
            "corrupt_lines": self.corrupt_lines,
            "bytes": self.bytes,
        }

    def merge(self, other: S3Stats) -> None:
        for name in ("event_objects", "rejected_objects", "event_lines", "rejected_lines", "corrupt_lines", "bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.keys.extend(other.keys)


class S3RawWriter:
    """`add(client)` for each client, then `close()` (flushes and waits for every upload)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        seed: int,
        stream: int = 0,
        lines_per_object: int = 5000,
        max_buffer_bytes: int = 64 << 20,
        upload_threads: int = 4,
        events_prefix: str = "events/",
        rejected_prefix: str = "rejected/",
        corrupt_lines: float = 0.0,
        latest_ms: int | None = None,
        keep_keys: bool = False,
        progress: Callable[[S3Stats], None] | None = None,
    ) -> None:
        if lines_per_object < 1:
            raise ValueError("lines_per_object must be >= 1")
        self.s3, self.bucket, self.seed = s3, bucket, seed
        self.rng = random.Random(f"{seed}:s3:{stream}")
        self.lines_per_object, self.max_buffer_bytes = lines_per_object, max_buffer_bytes
        self.events_prefix, self.rejected_prefix = events_prefix, rejected_prefix
        self.corrupt_lines, self.latest_ms = corrupt_lines, latest_ms
        self.keep_keys, self.progress = keep_keys, progress
        self.buffers: dict[str, _HourBuffer] = {}
        self.buffered = 0
        self.stats = S3Stats()
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=upload_threads, thread_name_prefix="s3-sink")
        self.in_flight = threading.BoundedSemaphore(upload_threads * 2)
        self.futures: list[Future[None]] = []

    def add(self, client: ClientTraffic) -> None:
        ua, ip = user_agent_for(client.client_id), ip_prefix_for(client.client_id)
        for batch_no, batch in enumerate(client.batches):
            received_ms = batch.sent_ms if self.latest_ms is None else min(batch.sent_ms, self.latest_ms)
            received_at = iso_ms(received_ms)
            hour = time.strftime("%Y/%m/%d/%H", time.gmtime(received_ms // 1000))
            buf = self.buffers.setdefault(hour, _HourBuffer())
            request_id = request_id_for(self.seed, client.index, batch_no)
            for index, item in enumerate(batch.items):
                if item.kind == MALFORMED:
                    line = dumps_rejected(
                        rejected_line(item.event, item.reason or "", received_at, request_id, index, ua, ip)
                    )
                    buf.rejected.append(line)
                else:
                    line = encode_stored_line(item.event, received_at, request_id, index, ua, ip)
                    buf.events.append(line)
                    if self.corrupt_lines and self.rng.random() < self.corrupt_lines:
                        buf.events.append(line[: len(line) // 2] + b"\n")
                        buf.corrupt += 1
                buf.nbytes += len(line)
                self.buffered += len(line)
            if len(buf.events) >= self.lines_per_object:
                self._flush(hour)
        while self.buffered > self.max_buffer_bytes:
            self._flush(max(self.buffers, key=lambda h: self.buffers[h].nbytes))

    def _flush(self, hour: str) -> None:
        buf = self.buffers.pop(hour)
        self.buffered -= buf.nbytes
        name = rng_uuid(self.rng)
        if buf.events:
            self._upload(f"{self.events_prefix}{hour}/events-{name}.json", buf.events, buf.corrupt)
        if buf.rejected:
            self._upload(f"{self.rejected_prefix}{hour}/rejected-{name}.json", buf.rejected, None)

    def _upload(self, key: str, lines: list[bytes], corrupt: int | None) -> None:
        """Put one object; `corrupt` is the number of corrupt lines of an events object, None for rejected/."""
        body = b"".join(lines)
        self.in_flight.acquire()

        def put() -> None:
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson")
                with self.lock:
                    if corrupt is not None:
                        self.stats.event_objects += 1
                        self.stats.event_lines += len(lines) - corrupt
                        self.stats.corrupt_lines += corrupt
                    else:
                        self.stats.rejected_objects += 1
                        self.stats.rejected_lines += len(lines)
                    self.stats.bytes += len(body)
                    if self.keep_keys:
                        self.stats.keys.append(key)
                if self.progress is not None:
                    self.progress(self.stats)
            finally:
                self.in_flight.release()

        self.futures.append(self.pool.submit(put))
        if len(self.futures) > 64:
            for f in self.futures:
                if f.done():
                    f.result()
            self.futures = [f for f in self.futures if not f.done()]

    def close(self) -> S3Stats:
        """Flush every buffer, wait for all uploads (re-raising the first failure) and return the stats."""
        try:
            for hour in sorted(self.buffers):
                self._flush(hour)
            for f in self.futures:
                f.result()
        finally:
            self.pool.shutdown(wait=True)
        return self.stats
