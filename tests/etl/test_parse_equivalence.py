"""The Python decoders load exactly what PostgreSQL's typing of the same lines (``sql.normalize_sql``) loads, on lines
chosen to stress the difference."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
from clickstream_etl import parse
from clickstream_etl.config import Settings
from clickstream_etl.runner import run_etl

from .helpers import event_line, ndjson


def _lines(now: datetime) -> list:
    t = now - timedelta(minutes=30)
    iso = "%Y-%m-%dT%H:%M:%S"
    dup = str(uuid.uuid4())
    prod = {"id": " p-1 ", "name": "Écran 27\" — \u00e9t\u00e9", "category": "monitors", "brand": "Dell",
            "price": 199.999, "discount_price": "  149.5 ", "url_path": "/p/1"}
    lines: list = [
        event_line(" Page_View ", " c-1 ", t, page="/a\tb\\c\nd", referrer="  "),
        event_line("view_item", "c-1", t + timedelta(minutes=1), product=prod, user_id="u1"),
        event_line("add_to_cart", "c-1", t + timedelta(minutes=2), product={**prod, "price": 5}, quantity=3,
                   login="logged_in", user_id="u1"),
        event_line("purchase", "c-2", t, event_id=dup, product={**prod, "price": "12.345"}, order_id=" o1 "),
        event_line("purchase", "c-2", t + timedelta(seconds=5), event_id=dup),  # duplicate in the batch
        event_line("page_view", "c-3", t - timedelta(hours=100), received=t, page="/"),  # stale
        event_line("page_view", "c-3", now + timedelta(hours=2), received=t, page="/"),  # future
        event_line("page_view", "c-4", t, event_id=str(uuid.uuid4()).upper()),  # slow path: uppercase id
        {**event_line("page_view", "c-5", t), "event_timestamp": int(t.timestamp() * 1000)},  # slow: epoch ms
        b"{not json",
    ]
    no_recv = event_line("page_view", "c-6", t + timedelta(minutes=5), page="/x")
    no_recv.pop("received_at")  # falls back to the object's last-modified time
    offset = event_line("page_view", "c-6", t, page="/y")
    offset["event_timestamp"] = (t.astimezone(UTC) + timedelta(hours=2)).strftime(iso) + "+02:00"
    minutes = event_line("page_view", "c-6", t, page="/z")
    minutes["event_timestamp"] = t.strftime("%Y-%m-%d %H:%M") + "Z"
    quantity = event_line("add_to_cart", "c-7", t, product=prod)
    quantity["quantity"] = " 2 "
    return [*lines, no_recv, offset, minutes, quantity]


def _load(world) -> dict:
    conn = psycopg2.connect(world.dsn)
    try:
        run_etl(conn, world.s3, Settings(raw_bucket=world.bucket, dw_host="unused", listing_lookback_hours=0))
    finally:
        conn.close()
    return world.snapshot()


def test_fast_path_and_sql_path_load_the_same_tables(world, monkeypatch):
    now = datetime.now(UTC)
    body = ndjson(_lines(now))
    world.put(f"events/{now:%Y/%m/%d/%H}/events-eq.json", body)
    lines = body.split(b"\n")[:-1]
    split = parse.parse_lines(body, 0, lines)
    assert [n for n, _ in split.slow] == [8, 9, 10]  # the rest takes the fast path
    with_fast = _load(world)

    def always_slow(*args: object) -> list:
        raise parse.Slow

    world.fresh_database()
    monkeypatch.setattr(parse, "typed_row", always_slow)
    monkeypatch.setattr(parse, "plain_row", always_slow)
    assert len(parse.parse_lines(body, 0, lines).slow) == len(lines)
    sql_only = _load(world)

    assert len(with_fast["dw.events"]) == 10
    assert {r[1] for r in with_fast["etl.rejects"]} == {6, 7, 10}
    assert json.dumps(with_fast, default=str, sort_keys=True) == json.dumps(sql_only, default=str, sort_keys=True)
