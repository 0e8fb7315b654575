"""The event contract: validation with reasons, timestamp parsing and the stored (enriched) line."""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from json.encoder import encode_basestring as _json_str  # C-accelerated, the ensure_ascii=False flavour
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).parent / "schemas" / "clickstream-request.schema.json"
SCHEMA_VERSION = 1
USER_AGENT_MAX = 512

REJECTION_REASONS = (
    "not_an_object",
    "missing_required_field",
    "unknown_field",
    "wrong_type",
    "invalid_value",
    "invalid_timestamp",
    "timestamp_out_of_range",
    "duplicate_event_id",
)

PAGE_FIELDS = ("url_path", "referrer", "title")
PRODUCT_FIELDS = ("id", "name", "category", "brand", "price", "discount_price", "url_path")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What request_info keeps of a header value: no control character (a NUL cannot be stored by the warehouse, and
# the user agent is copied into every stored line of the request) and no lone surrogate (not encodable as UTF-8).
_HEADER_DROP = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))\Z"
)


@dataclass(frozen=True)
class Rejection:
    reason: str
    field: str
    detail: str


@dataclass(frozen=True)
class EventValidator:
    """`is_valid` answers valid/invalid on the hot path (jsonschema-rs, compiled once); `explain` gives the reason
    of an invalid event (jsonschema's best_match, mapped to a reason code by rejection_from_error)."""

    is_valid: Callable[[Any], bool]
    explain: Callable[[Any], Rejection | None]


@dataclass(frozen=True)
class RequestInfo:
    """What the server knows about the request, copied into every stored line."""

    request_id: str
    received_at: datetime
    received_at_text: str
    user_agent: str | None
    source_ip_prefix: str | None
    # derived from user_agent (device.device): the server's own keys of the stored line, never the client's
    device_category: str = "other"
    browser: str | None = None
    operating_system: str | None = None


@functools.cache
def load_schema() -> dict[str, Any]:
    """The request schema shipped with the package (read on first use, not at import)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def event_schema(root: Mapping[str, Any]) -> dict[str, Any]:
    """A standalone schema for one event: the root's $defs with a $ref to #/$defs/event."""
    return {"$schema": root["$schema"], "$defs": root["$defs"], "$ref": "#/$defs/event"}


def _join(path: Any) -> str:
    return ".".join(str(p) for p in path)


def rejection_from_error(error: Any) -> Rejection:
    """Map one jsonschema ValidationError to our reason code and the dotted path of the field."""
    path = list(error.absolute_path)
    keyword = error.validator
    if keyword == "required":
        missing = [p for p in error.validator_value if p not in error.instance]
        return Rejection("missing_required_field", _join([*path, missing[0]] if missing else path), error.message)
    if keyword == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {})
        extras = sorted(str(k) for k in error.instance if k not in known)
        return Rejection("unknown_field", _join([*path, extras[0]] if extras else path), error.message)
    if keyword == "type":
        return Rejection("wrong_type", _join(path), error.message)
    return Rejection("invalid_value", _join(path), error.message)


@functools.cache
def event_validator() -> EventValidator:
    """Compile the event schema once per process (first call), for both the fast and the explaining path.

    Both are draft 2020-12 validators of the same schema: jsonschema-rs (Rust) decides, jsonschema explains the
    rare invalid event with the messages the reject reasons carry. tests/ingest/test_event_validator.py checks
    that the two agree; bench/ingest measures the predicate against other compilers."""
    import jsonschema_rs
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema = event_schema(load_schema())
    Draft202012Validator.check_schema(schema)
    slow = Draft202012Validator(schema)
    compiled = jsonschema_rs.Draft202012Validator(schema).is_valid

    def fast(instance: Any) -> bool:
        try:
            return compiled(instance)
        except ValueError:
            # A value the Rust side cannot take (a lone surrogate is no UTF-8): jsonschema judges it, and a
            # valid event with one is then rejected by name when it is encoded (handler._accept).
            return slow.is_valid(instance)

    def explain(instance: Any) -> Rejection | None:
        error = best_match(slow.iter_errors(instance))
        return None if error is None else rejection_from_error(error)

    return EventValidator(is_valid=fast, explain=explain)


def parse_timestamp(value: Any) -> datetime:
    """RFC 3339 with offset, or epoch milliseconds -> aware UTC datetime. ValueError when it is neither."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, (int, float)):
        try:
            return EPOCH + timedelta(milliseconds=int(value))
        except (OverflowError, ValueError) as exc:
            raise ValueError(f"epoch milliseconds {value!r} out of range") from exc
    if not isinstance(value, str):
        raise ValueError("not a string or a number")
    m = _RFC3339.match(value)
    if m is None:
        raise ValueError(f"{value!r} is not RFC 3339 with a UTC offset (e.g. 2024-05-01T12:34:56.789Z)")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    try:
        if m.group(8):
            offset = timedelta(hours=int(m.group(9)), minutes=int(m.group(10)))
            tz = timezone(offset if m.group(8) == "+" else -offset)
        else:
            tz = UTC
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a valid date and time: {exc}") from exc


def format_timestamp(dt: datetime) -> str:
    """UTC datetime -> `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}."
            f"{dt.microsecond // 1000:03d}Z")


def check_timestamp_range(ts: datetime, received: datetime, max_age_s: int, max_skew_s: int) -> str | None:
    """None when ts is within [received - max_age, received + max_skew], else why not."""
    delta = (received - ts).total_seconds()
    if delta > max_age_s:
        return f"event_timestamp is {int(delta)} s older than the receive time (limit {max_age_s} s)"
    if -delta > max_skew_s:
        return f"event_timestamp is {int(-delta)} s ahead of the receive time (limit {max_skew_s} s)"
    return None


def header_text(value: Any, limit: int) -> str | None:
    """A header value as stored: without control characters or lone surrogates, at most `limit` characters."""
    if not isinstance(value, str):
        return None
    return _HEADER_DROP.sub("", value)[:limit]


def truncate_ip(ip: str | None) -> str | None:
    """IPv4 -> its /24, IPv6 -> its /48 (CIDR text); None for a missing or unparsable address."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _product_id(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value))
    return str(value)


def _sub_object(value: Any, fields: tuple[str, ...]) -> dict[str, Any] | None:
    if value is None:
        return None
    return {f: value.get(f) for f in fields}


def enrich(event: Mapping[str, Any], ts: datetime, info: RequestInfo, index: int) -> dict[str, Any]:
    """The stored line of one valid event (docs/event-contract.md, section 3). Key order is part of the format."""
    client_id = event.get("event_id")
    product = _sub_object(event.get("product"), PRODUCT_FIELDS)
    if product is not None:
        product["id"] = _product_id(product["id"])
    quantity = event.get("quantity")
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": client_id.lower() if client_id else str(uuid.uuid4()),
        "event_id_generated": not client_id,
        "event_name": event["event_name"],
        "event_timestamp": format_timestamp(ts),
        "received_at": info.received_at_text,
        "client_id": event["client_id"],
        "user_id": event.get("user_id"),
        "session_id": event.get("session_id"),
        "user_login_state": event.get("user_login_state"),
        "identity_source": event.get("identity_source"),
        "is_first_visit": event.get("is_first_visit"),
        "page": _sub_object(event.get("page"), PAGE_FIELDS),
        "product": product,
        "search_term": event.get("search_term"),
        "order_id": event.get("order_id"),
        "quantity": int(quantity) if quantity is not None else None,
        "params": event.get("params"),
        "request_id": info.request_id,
        "batch_index": index,
        "user_agent": info.user_agent,
        "source_ip_prefix": info.source_ip_prefix,
        "device_category": info.device_category,
        "browser": info.browser,
        "operating_system": info.operating_system,
    }


def rejected_line(event: Any, rejection: Rejection, info: RequestInfo, index: int) -> dict[str, Any]:
    """The stored line of one rejected event: the reason and the event exactly as sent."""
    return {
        "schema_version": SCHEMA_VERSION,
        "reason": rejection.reason,
        "field": rejection.field,
        "detail": rejection.detail,
        "received_at": info.received_at_text,
        "request_id": info.request_id,
        "batch_index": index,
        "user_agent": info.user_agent,
        "source_ip_prefix": info.source_ip_prefix,
        "event": event,
    }


# --- fast encoding of the stored line ------------------------------------------------------------------------------
# `encode_enriched` gives the same bytes as `json.dumps(enrich(...), ensure_ascii=False, allow_nan=False,
# separators=(",", ":"))` without building the dict or a JSON encoder per event (tests/ingest check the equality).

_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps_line(doc: Any) -> bytes:
    """The reference serialisation of a stored line (what encode_enriched must equal)."""
    return _LINE_ENCODER.encode(doc).encode()


def _json_value(v: Any) -> str:
    """One JSON value as json.dumps(ensure_ascii=False, allow_nan=False) writes it."""
    if v is None:
        return "null"
    t = type(v)
    if t is str:
        return _json_str(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int.__repr__(v)
    if t is float:
        if not math.isfinite(v):
            raise ValueError("Out of range float values are not JSON compliant")
        return float.__repr__(v)
    return _LINE_ENCODER.encode(v)


@dataclass(frozen=True)
class LineFragments:
    """The request-constant parts of every stored line of one request, encoded once."""

    received_at: str
    tail: str  # everything after "batch_index":N


def line_fragments(info: RequestInfo) -> LineFragments:
    return LineFragments(
        received_at=_json_str(info.received_at_text),
        tail=(f',"user_agent":{_json_value(info.user_agent)},"source_ip_prefix":{_json_value(info.source_ip_prefix)},'
              f'"device_category":{_json_value(info.device_category)},"browser":{_json_value(info.browser)},'
              f'"operating_system":{_json_value(info.operating_system)}}}'),
    )


def encode_enriched(event: Mapping[str, Any], ts: datetime, info: RequestInfo, index: int,
                    frags: LineFragments | None = None) -> bytes:
    """The stored line of one valid event (no trailing newline); same bytes as the enrich() dict dumped."""
    frags = frags or line_fragments(info)
    get = event.get
    client_event_id = get("event_id")
    if client_event_id:
        event_id, generated = _json_str(client_event_id.lower()), "false"
    else:
        event_id, generated = f'"{uuid.uuid4()}"', "true"
    page = get("page")
    if page is None:
        page_text = "null"
    else:
        page_text = (f'{{"url_path":{_json_value(page.get("url_path"))},"referrer":{_json_value(page.get("referrer"))},'
                     f'"title":{_json_value(page.get("title"))}}}')
    product = get("product")
    if product is None:
        product_text = "null"
    else:
        pget = product.get
        product_text = (
            f'{{"id":{_json_str(_product_id(product["id"]))},"name":{_json_value(pget("name"))},'
            f'"category":{_json_value(pget("category"))},"brand":{_json_value(pget("brand"))},'
            f'"price":{_json_value(pget("price"))},"discount_price":{_json_value(pget("discount_price"))},'
            f'"url_path":{_json_value(pget("url_path"))}}}')
    quantity = get("quantity")
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"event_id":{event_id},"event_id_generated":{generated},'
        f'"event_name":{_json_str(event["event_name"])},"event_timestamp":"{format_timestamp(ts)}",'
        f'"received_at":{frags.received_at},"client_id":{_json_str(event["client_id"])},'
        f'"user_id":{_json_value(get("user_id"))},"session_id":{_json_value(get("session_id"))},'
        f'"user_login_state":{_json_value(get("user_login_state"))},'
        f'"identity_source":{_json_value(get("identity_source"))},"is_first_visit":{_json_value(get("is_first_visit"))},'
        f'"page":{page_text},"product":{product_text},"search_term":{_json_value(get("search_term"))},'
        f'"order_id":{_json_value(get("order_id"))},'
        f'"quantity":{"null" if quantity is None else int.__repr__(int(quantity))},'
        f'"params":{_json_value(get("params"))},"request_id":{_json_str(info.request_id)},"batch_index":{index}'
        f'{frags.tail}'
    ).encode()
