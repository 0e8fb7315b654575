"""A fast, seeded generator of raw objects in the ingest's stored NDJSON format (docs/event-contract.md §3).

Simple on purpose (bench/traffic has the realistic simulator): clients browse in sessions of a few events,
spread over one UTC day in arrival order (like the ingest's objects, each holds a short stretch of time), with
the funnel events the aggregates count.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

CATEGORIES = ("laptops", "monitors", "storage", "keyboards", "mice", "networking")
BRANDS = ("Lenovo", "Dell", "HP", "Asus", "Logitech", "Samsung", "TP-Link")
PAGES = ("/", "/deals", "/search", "/cart", "/checkout", "/about")
DAY = datetime(2024, 5, 1, tzinfo=UTC)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _line(rng: random.Random, name: str, client: str, ts: datetime, product: dict | None, page: str) -> dict:
    return {
        "schema_version": 1, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_id_generated": False, "event_name": name, "event_timestamp": _iso(ts),
        "received_at": _iso(ts + timedelta(milliseconds=rng.randint(50, 3000))), "client_id": client,
        "user_id": None, "session_id": None, "user_login_state": "logged_out", "identity_source": None,
        "is_first_visit": None, "page": {"url_path": page, "referrer": None, "title": page.strip("/") or "Home"},
        "product": product, "search_term": None, "order_id": None,
        "quantity": 1 if name in ("add_to_cart", "purchase") else None, "params": None,
        "request_id": f"r{rng.getrandbits(40):x}", "batch_index": 0, "user_agent": "Mozilla/5.0 (bench)",
        "source_ip_prefix": "203.0.113.0/24",
    }


def _product(rng: random.Random) -> dict:
    pid = rng.randint(1, 500)
    price = round(50 + (pid * 37) % 2000 + 0.99, 2)
    return {"id": f"p-{pid}", "name": f"Product {pid}", "category": CATEGORIES[pid % len(CATEGORIES)],
            "brand": BRANDS[pid % len(BRANDS)], "price": price, "discount_price": None,
            "url_path": f"/products/p-{pid}"}


def events(total: int, seed: int = 7, clients: int | None = None, day: datetime = DAY,
           span: float = 86_000) -> Iterator[dict]:
    """``total`` event lines: sessions of 3-15 events, ~5% reaching purchase, in roughly arrival order, starting over
    ``span`` seconds from ``day``; ``clients`` of them (one per 40 events by default)."""
    rng = random.Random(seed)
    n_clients = clients or max(1, total // 40)
    made = 0
    while made < total:
        client = f"c-{rng.randrange(n_clients)}"
        # sessions start in time order over the day (as traffic arrives), each within a few minutes' jitter
        ts = day + timedelta(seconds=made / total * span + rng.uniform(0, 300))
        product = _product(rng)
        for step in range(rng.randint(3, 15)):
            if made >= total:
                return
            ts += timedelta(seconds=rng.uniform(1, 90))
            if step % 4 == 0:
                name, prod, page = "page_view", None, rng.choice(PAGES)
            elif step % 4 == 1:
                name, prod, page = "view_item", product, product["url_path"]
            elif step % 4 == 2:
                name, prod, page = ("add_to_cart" if rng.random() < 0.3 else "view_item"), product, product["url_path"]
            else:
                name = "purchase" if rng.random() < 0.15 else "begin_checkout" if rng.random() < 0.3 else "page_view"
                prod, page = (product if name != "page_view" else None), "/checkout"
            made += 1
            yield _line(rng, name, client, ts, prod, page)


def objects(total: int, per_object: int = 5000, seed: int = 7, clients: int | None = None, day: datetime = DAY,
            span: float = 86_000, prefix: str = "events") -> Iterator[tuple[str, bytes]]:
    """(key, NDJSON body) pairs of ``per_object`` lines each, keyed by the hour of their first line (``events``:
    ``events(total, seed, clients, day, span)``; ``prefix`` names the objects)."""
    return pack(events(total, seed, clients, day, span), per_object, prefix)


def pack(lines: Iterable[dict], per_object: int = 5000, prefix: str = "events") -> Iterator[tuple[str, bytes]]:
    """``lines`` as (key, NDJSON body) pairs of ``per_object`` lines each, keyed by the hour of their first line."""
    buf: list[bytes] = []
    n = 0
    for ev in lines:
        buf.append(json.dumps(ev, separators=(",", ":")).encode())
        if len(buf) == per_object:
            yield _key(n, ev, prefix), b"\n".join(buf) + b"\n"
            buf, n = [], n + 1
    if buf:
        yield _key(n, ev, prefix), b"\n".join(buf) + b"\n"


def _key(n: int, ev: dict, prefix: str = "events") -> str:
    hour = ev["received_at"][:13].replace("-", "/").replace("T", "/")
    return f"events/{hour}/{prefix}-{n:06d}.json"
