"""The hand-checked golden dataset (see test_golden.py for every expected number and why)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from .helpers import event_line, ndjson, object_key

D = datetime(2024, 5, 1, tzinfo=UTC)
P1 = {"id": "p1", "name": "ThinkPad X1", "category": "laptops", "brand": "Lenovo", "price": 1000.0,
      "discount_price": 900.0, "url_path": "/products/p1"}
P2 = {"id": "p2", "name": "UltraSharp 27", "category": "monitors", "brand": "Dell", "price": 300.0,
      "discount_price": None, "url_path": "/products/p2"}


def t(h: int, m: int = 0, s: int = 0) -> datetime:
    return D + timedelta(hours=h, minutes=m, seconds=s)


def run1_files() -> dict[str, bytes]:
    a = [
        event_line("page_view", "A", t(10), page="/"),
        event_line("page_view", "A", t(10, 0, 20), page="/laptops", referrer="/"),
        event_line("view_item", "A", t(10, 1), page="/products/p1", product=P1),
        event_line("add_to_cart", "A", t(10, 2), page="/products/p1", product=P1, quantity=1),
    ]
    b = [
        event_line("page_view", "B", t(12), page="/monitors"),
        event_line("view_item", "B", t(12, 0, 5), page="/products/p2", product=P2),
        event_line("page_view", "B", t(13), page="/monitors"),
        event_line("view_item", "B", t(13, 0, 30), page="/products/p2", product=P2),
        event_line("add_to_cart", "B", t(13, 0, 40), page="/products/p2", product=P2, quantity=1),
    ]
    bad_price = event_line("view_item", "E", t(9), product=P2)
    bad_price["product"]["price"] = -5
    missing_client = event_line("page_view", "E", t(9), page="/")
    del missing_client["client_id"]
    bad_ts = event_line("page_view", "E", t(9), page="/")
    bad_ts["event_timestamp"] = "yesterday"
    rejects = [
        event_line("page_view", "D", t(9), page="/about"),                      # line 1: valid
        b'{"event_name": "page_view", "client_id": ',                             # 2: malformed_json
        b"[1, 2, 3]",                                                             # 3: not_an_object
        missing_client,                                                           # 4: missing_field client_id
        bad_ts,                                                                   # 5: invalid_field timestamp
        event_line("page_view", "E", t(9) - timedelta(hours=73), received=t(9), page="/"),  # 6: stale_event
        event_line("page_view", "E", t(10), received=t(9), page="/"),             # 7: future_event
        bad_price,                                                                # 8: invalid_field price
    ]
    return {
        object_key(t(10), "run1-a"): ndjson(a),
        object_key(t(13), "run1-b"): ndjson(b),
        object_key(t(9), "run1-rejects"): ndjson(rejects),
    }


def run2_files(run1: dict[str, bytes]) -> dict[str, bytes]:
    a = [
        event_line("begin_checkout", "A", t(10, 25), page="/checkout", product=P1, user_id="u1",
                   login="logged_in"),
        event_line("purchase", "A", t(10, 26), page="/checkout", product=P1, quantity=2, user_id="u1",
                   login="logged_in", order_id="o1"),
        event_line("page_view", "A", t(11, 30), page="/", user_id="u1", login="logged_in"),
    ]
    c2 = event_line("page_view", "C", t(14, 10), page="/deals")
    c = [event_line("page_view", "C", t(14), page="/"), c2, c2]              # c2 twice: 1 duplicate
    copy_of_a = run1[object_key(t(10), "run1-a")]                           # the same 4 events again
    return {
        object_key(t(10), "run2-a"): ndjson(a),
        object_key(t(14), "run2-c"): ndjson(c),
        object_key(t(14), "run2-copy-of-run1-a"): copy_of_a,
    }


def run3_files() -> dict[str, bytes]:
    # A late event of C, earlier than C's first one: C's session now starts here, and it is C's first visit.
    late = event_line("page_view", "C", t(13, 55), received=t(15), page="/storage")
    return {object_key(t(15), "run3-c-late"): ndjson([late])}


def all_runs() -> list[dict[str, bytes]]:
    r1 = run1_files()
    return [r1, run2_files(r1), run3_files()]


def line_json(data: bytes, n: int) -> dict:
    return json.loads(data.splitlines()[n - 1])
