"""Shared helpers of the ingest tests: valid events, payload-2.0 requests, reading the bucket back."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

ROUTE = "/clickstream"


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def valid_event(**overrides: Any) -> dict[str, Any]:
    """A complete view_item event as the shop sends it; overrides replace (None deletes) fields."""
    event: dict[str, Any] = {
        "event_name": "view_item",
        "client_id": f"c-{uuid.uuid4().hex[:12]}",
        "event_timestamp": iso(now_ms() - 5000),
        "event_id": str(uuid.uuid4()),
        "user_id": "u-42",
        "session_id": "s-1",
        "user_login_state": "logged_in",
        "identity_source": "cognito",
        "is_first_visit": False,
        "page": {"url_path": "/products/p-1001", "referrer": "https://www.google.com/", "title": "ThinkPad X1"},
        "product": {"id": "p-1001", "name": "ThinkPad X1", "category": "laptops", "brand": "Lenovo",
                    "price": 1899.0, "discount_price": 1699.5, "url_path": "/products/p-1001"},
    }
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def api_event(body: Any, *, raw: str | None = None, method: str = "POST", source_ip: str = "203.0.113.77",
              user_agent: str = "pytest-agent/1.0", request_id: str | None = None,
              time_epoch: int | None = None, base64_encoded: bool = False) -> dict[str, Any]:
    """An API Gateway HTTP API payload-2.0 event; `body` is JSON-encoded unless `raw` is given."""
    text = raw if raw is not None else json.dumps(body)
    return {
        "version": "2.0",
        "routeKey": f"POST {ROUTE}",
        "rawPath": ROUTE,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": user_agent},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "test",
            "http": {"method": method, "path": ROUTE, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": user_agent},
            "requestId": request_id or uuid.uuid4().hex,
            "routeKey": f"POST {ROUTE}",
            "stage": "$default",
            "timeEpoch": time_epoch if time_epoch is not None else now_ms(),
        },
        "body": text,
        "isBase64Encoded": base64_encoded,
    }


def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def read_ndjson(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """Read one object; assert it is strict NDJSON (every line one JSON object, trailing newline, no blanks)."""
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    text = data.decode("utf-8")
    assert text.endswith("\n"), f"{key} does not end with a newline"
    lines = text[:-1].split("\n")
    assert all(lines), f"{key} has a blank line"
    docs = [json.loads(line) for line in lines]
    assert all(isinstance(d, dict) for d in docs)
    return docs
