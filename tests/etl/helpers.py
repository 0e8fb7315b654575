"""Helpers for the ETL tests: raw NDJSON lines in the ingest's stored format, a warehouse, a run."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from scripts.harness.etl_world import (  # noqa: F401 - the ETL tests' world, shared with bench/
    AGGREGATES,
    COMPARED,
    ETL_SRC,
    REPO,
    EtlWorld,
    _migrated,
    make_world,
)

_counter = itertools.count()


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def event_line(name: str, client: str, ts: datetime, *, received: datetime | None = None,
               event_id: str | None = None, user_id: str | None = None, login: str | None = None,
               page: str | None = None, referrer: str | None = None, product: dict | None = None,
               quantity: int | None = None, order_id: str | None = None,
               device: tuple[str | None, str | None, str | None] = ("desktop", "Firefox", "Ubuntu")) -> dict[str, Any]:
    """One stored line as the ingest writes it (docs/event-contract.md, section 3)."""
    full_product = None
    if product is not None:
        full_product = {k: product.get(k) for k in ("id", "name", "category", "brand", "price",
                                                     "discount_price", "url_path")}
    return {
        "schema_version": 1, "event_id": event_id or str(uuid.uuid4()), "event_id_generated": event_id is None,
        "event_name": name, "event_timestamp": iso(ts), "received_at": iso(received or ts + timedelta(seconds=1)),
        "client_id": client, "user_id": user_id, "session_id": None, "user_login_state": login,
        "identity_source": "cognito" if user_id else None, "is_first_visit": None,
        "page": {"url_path": page, "referrer": referrer, "title": None} if page else None,
        "product": full_product, "search_term": None, "order_id": order_id, "quantity": quantity,
        "params": None, "request_id": f"req-{next(_counter)}", "batch_index": 0, "user_agent": "pytest",
        "source_ip_prefix": "203.0.113.0/24",
        "device_category": device[0], "browser": device[1], "operating_system": device[2],
    }


def ndjson(lines: list[Any]) -> bytes:
    """NDJSON as the ingest stores it (compact, UTF-8: ``clickstream_ingest.contract.dumps_line``); bytes as given."""
    return b"".join(
        (line if isinstance(line, bytes) else json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
        + b"\n" for line in lines)


def object_key(received: datetime, name: str) -> str:
    return f"events/{received:%Y/%m/%d/%H}/events-{name}.json"


