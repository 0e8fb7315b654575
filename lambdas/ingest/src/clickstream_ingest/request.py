"""Request-level checks of an API Gateway HTTP API (payload 2.0) event: method, body, size, shape, limits."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

# (status, error code) of every request-level error; docs/openapi.yaml lists the same (a test checks it).
REQUEST_ERRORS: dict[str, int] = {
    "empty_body": 400,
    "invalid_json": 400,
    "invalid_shape": 400,
    "empty_batch": 400,
    "payload_too_large": 413,
    "too_many_events": 413,
    "method_not_allowed": 405,
}
SERVER_ERRORS: dict[str, int] = {"storage_unavailable": 503, "internal_error": 500}


class RequestError(Exception):
    """The request as a whole is malformed: answer 4xx, write nothing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = REQUEST_ERRORS[code]
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def body_bytes(event: Mapping[str, Any], max_bytes: int) -> bytes:
    """The raw body (base64-decoded when API Gateway encoded it), checked for presence and size."""
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "POST")
    if method.upper() != "POST":
        raise RequestError("method_not_allowed", f"{method} is not allowed; use POST")
    body = event.get("body")
    if body is None or body == "":
        raise RequestError("empty_body", "the request has no body; send a JSON object")
    if event.get("isBase64Encoded"):
        if len(body) > (max_bytes + 2) * 4 // 3 + 4:
            raise RequestError("payload_too_large", f"the body is larger than {max_bytes} bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError("invalid_json", "the body is not valid base64") from exc
    else:
        if len(body) > max_bytes:
            raise RequestError("payload_too_large", f"the body is larger than {max_bytes} bytes")
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RequestError("invalid_json", "the body is not valid UTF-8 text") from exc
    if len(raw) > max_bytes:
        raise RequestError("payload_too_large", f"the body has {len(raw)} bytes; the limit is {max_bytes}")
    return raw


def parse_json(raw: bytes) -> Any:
    """bytes -> JSON value; RequestError for empty, non-UTF-8, non-JSON, NaN/Infinity, too deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("invalid_json", f"the body is not valid UTF-8: {exc.reason} at byte {exc.start}") from exc
    if not text.strip():
        raise RequestError("empty_body", "the request body is empty; send a JSON object")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise RequestError("invalid_json", f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, "
                                           f"column {exc.colno})") from exc
    except ValueError as exc:
        raise RequestError("invalid_json", f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RequestError("invalid_json", "the body is nested too deeply") from exc


def events_of(doc: Any, max_events: int) -> list[Any]:
    """A batch `{"events": [...]}` or a single event object -> the list of (unvalidated) events."""
    if not isinstance(doc, dict):
        raise RequestError("invalid_shape", f"expected a JSON object (a batch or one event), got {_kind(doc)}")
    if "events" not in doc:
        return [doc]
    if set(doc) != {"events"}:
        extra = sorted(str(k) for k in doc if k != "events")
        raise RequestError("invalid_shape", f"a batch has only the key 'events'; unexpected: {extra[:5]}")
    events = doc["events"]
    if not isinstance(events, list):
        raise RequestError("invalid_shape", f"'events' must be an array, got {_kind(events)}")
    if not events:
        raise RequestError("empty_batch", "'events' is empty; send at least one event")
    if len(events) > max_events:
        raise RequestError("too_many_events", f"{len(events)} events in one request; the limit is {max_events}")
    return events


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def parse_request(event: Mapping[str, Any], max_bytes: int, max_events: int) -> list[Any]:
    """All request-level checks in order; the events to validate one by one."""
    return events_of(parse_json(body_bytes(event, max_bytes)), max_events)
