"""Lambda entry point: `handler(event, context)` for API Gateway HTTP API payload format 2.0.

Flow: request-level checks (4xx, nothing written) -> per-event validation -> enrichment -> one NDJSON object
for the accepted events (+ one for the rejected ones) -> 200 with counts; 503 when S3 fails for good.
Clients, settings and the compiled schema are made on first use (no I/O at import time).
"""

from __future__ import annotations

import gc
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import logs
from .config import ConfigError, Settings, settings_from_env
from .contract import (
    USER_AGENT_MAX,
    EventValidator,
    LineFragments,
    Rejection,
    RequestInfo,
    check_timestamp_range,
    encode_enriched,
    event_validator,
    format_timestamp,
    header_text,
    line_fragments,
    parse_timestamp,
    rejected_line,
    truncate_ip,
)
from .device import device
from .request import SERVER_ERRORS, RequestError, parse_request
from .storage import S3Store, StorageError

_lock = threading.Lock()
_state: dict[str, Any] = {}


@dataclass
class Outcome:
    """Encoded lines of one request and the per-event errors for the response."""

    accepted: list[bytes] = field(default_factory=list)
    rejected: list[bytes] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def request_info(event: Mapping[str, Any], context: Any, now: datetime | None = None) -> RequestInfo:
    """Request id, receive time (API Gateway's timeEpoch), user agent, its device (``device.device``) and the
    truncated source IP."""
    rc = event.get("requestContext") or {}
    http = rc.get("http") or {}
    request_id = rc.get("requestId") or getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    epoch_ms = rc.get("timeEpoch")
    if isinstance(epoch_ms, int) and not isinstance(epoch_ms, bool) and epoch_ms > 0:
        received = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    else:
        received = now or datetime.now(UTC)
    ua = header_text(http.get("userAgent"), USER_AGENT_MAX)
    dev = device(ua)
    return RequestInfo(
        request_id=str(request_id),
        received_at=received,
        received_at_text=format_timestamp(received),
        user_agent=ua,
        source_ip_prefix=truncate_ip(http.get("sourceIp")),
        device_category=dev.category,
        browser=dev.browser,
        operating_system=dev.os,
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _dumps_rejected(doc: dict[str, Any]) -> bytes:
    """Rejected lines always serialise: non-finite numbers become strings, unencodable text is escaped."""
    try:
        return json.dumps(_finite(doc), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        doc = {**doc, "event": {"unserializable": repr(doc["event"])[:65536]}}
        return json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode()


def classify(events: list[Any], info: RequestInfo, settings: Settings, validator: EventValidator) -> Outcome:
    """Validate and enrich each event; every event ends up in exactly one of accepted / rejected."""
    out = Outcome()
    seen_ids: set[str] = set()
    frags = line_fragments(info)
    for index, event in enumerate(events):
        rejection: Rejection | None = None
        line: bytes | None = None
        if not isinstance(event, dict):
            rejection = Rejection("not_an_object", "", f"event {index} is not a JSON object")
        elif not validator.is_valid(event):
            rejection = validator.explain(event) or Rejection("invalid_value", "", "does not match the contract")
        else:
            rejection, line = _accept(event, index, info, settings, seen_ids, frags)
        if rejection is None and line is not None:
            out.accepted.append(line)
            continue
        assert rejection is not None
        out.rejected.append(_dumps_rejected(rejected_line(event, rejection, info, index)))
        out.errors.append({"index": index, "reason": rejection.reason, "field": rejection.field,
                           "detail": rejection.detail})
    return out


def _accept(event: dict[str, Any], index: int, info: RequestInfo, settings: Settings,
            seen_ids: set[str], frags: LineFragments) -> tuple[Rejection | None, bytes | None]:
    try:
        ts = parse_timestamp(event["event_timestamp"])
    except ValueError as exc:
        return Rejection("invalid_timestamp", "event_timestamp", str(exc)), None
    problem = check_timestamp_range(ts, info.received_at, settings.max_event_age_seconds,
                                    settings.max_clock_skew_seconds)
    if problem:
        return Rejection("timestamp_out_of_range", "event_timestamp", problem), None
    client_id = event.get("event_id")
    if client_id:
        key = client_id.lower()
        if key in seen_ids:
            detail = "an earlier event of this request has this event_id"
            return Rejection("duplicate_event_id", "event_id", detail), None
        seen_ids.add(key)
    try:
        return None, encode_enriched(event, ts, info, index, frags)
    except UnicodeEncodeError:
        return Rejection("invalid_value", unencodable_field(event),
                         "a string holds a lone surrogate (\\ud800-\\udfff), which is not UTF-8"), None
    except (ValueError, RecursionError) as exc:
        return Rejection("invalid_value", "", f"cannot be stored as UTF-8 JSON: {type(exc).__name__}"), None


def unencodable_field(value: Any, path: str = "") -> str:
    """The dotted path of the first string (value or key) that UTF-8 cannot encode; "" when there is none."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return path
        return ""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = unencodable_field(key, where) or unencodable_field(item, where)
            if found:
                return found
    return ""


def object_keys(settings: Settings, received: datetime, object_id: str) -> tuple[str, str]:
    """events/YYYY/MM/DD/HH/events-<uuid>.json and rejected/.../rejected-<uuid>.json (receive hour, UTC)."""
    hour = f"{received.year:04d}/{received.month:02d}/{received.day:02d}/{received.hour:02d}"
    return (f"{settings.events_prefix}{hour}/events-{object_id}.json",
            f"{settings.rejected_prefix}{hour}/rejected-{object_id}.json")


def response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error_response(code: str, status: int, message: str, request_id: str) -> dict[str, Any]:
    return response(status, {"error": code, "message": message, "request_id": request_id})


def process(event: Mapping[str, Any], context: Any, settings: Settings, store: S3Store,
            validator: EventValidator) -> dict[str, Any]:
    """One request, start to end. Pure except for `store` and the logger."""
    log = logs.configure(settings.log_level)
    started = time.perf_counter()
    info = request_info(event, context)
    base = {"request_id": info.request_id, "source_ip_prefix": info.source_ip_prefix}
    try:
        events = parse_request(event, settings.max_body_bytes, settings.max_events_per_request)
    except RequestError as exc:
        log.warning("request rejected", extra={"fields": {**base, "status": exc.status, "error": exc.code,
                                                          "detail": exc.message}})
        return error_response(exc.code, exc.status, exc.message, info.request_id)
    outcome = classify(events, info, settings, validator)
    events_key, rejected_key = object_keys(settings, info.received_at, str(uuid.uuid4()))
    objects = []
    if outcome.rejected:
        objects.append((rejected_key, b"\n".join(outcome.rejected) + b"\n"))
    if outcome.accepted:
        objects.append((events_key, b"\n".join(outcome.accepted) + b"\n"))
    try:
        store.put_all(objects)
    except StorageError as exc:
        log.error("storage unavailable", extra={"fields": {**base, "detail": str(exc)}})
        return error_response("storage_unavailable", SERVER_ERRORS["storage_unavailable"],
                              "the events could not be stored; retry later", info.request_id)
    log.info("request stored", extra={"fields": {
        **base, "accepted": len(outcome.accepted), "rejected": len(outcome.rejected),
        "object_keys": [k for k, _ in objects], "bytes": sum(len(b) for _, b in objects),
        "duration_ms": round((time.perf_counter() - started) * 1000, 3)}})
    return response(200, {"request_id": info.request_id, "accepted": len(outcome.accepted),
                          "rejected": len(outcome.rejected), "errors": outcome.errors})


def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # Retries are ours (storage.S3Store) so that backoff and the final 5xx are under our control.
    return boto3.client("s3", config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                            connect_timeout=3, read_timeout=10))


def runtime(env: Mapping[str, str] | None = None) -> tuple[Settings, S3Store, EventValidator]:
    """Settings, S3 store and compiled validator of this process, made once (thread-safe)."""
    with _lock:
        if "settings" not in _state:
            settings = settings_from_env(os.environ if env is None else env)
            _state["store"] = S3Store(_s3_client(), settings.raw_bucket, settings.s3_max_attempts,
                                      settings.s3_backoff_base_seconds, settings.s3_backoff_max_seconds)
            _state["validator"] = event_validator()
            device.__wrapped__("Mozilla/5.0")  # compile ua-parser's regexes now, so that gc.freeze keeps them
            _state["settings"] = settings
            # Everything made so far (modules, boto3 client, compiled schema) lives as long as the process: move
            # it out of the cyclic GC's reach so collections during requests only scan per-request objects.
            gc.freeze()
        return _state["settings"], _state["store"], _state["validator"]


def reset_runtime() -> None:
    """Forget the cached settings and client (tests, or after the environment changed)."""
    with _lock:
        _state.clear()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) -> Lambda proxy response."""
    request_id = str((event.get("requestContext") or {}).get("requestId") or getattr(context, "aws_request_id", ""))
    try:
        settings, store, validator = runtime()
        return process(event, context, settings, store, validator)
    except ConfigError as exc:
        logs.configure().error("configuration error", extra={"fields": {"request_id": request_id, "detail": str(exc)}})
    except Exception:
        logs.configure().exception("internal error", extra={"fields": {"request_id": request_id}})
    return error_response("internal_error", SERVER_ERRORS["internal_error"], "internal error; retry later",
                          request_id)
