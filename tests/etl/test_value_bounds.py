"""Values over the warehouse's byte bounds (issue 19), in raw files written straight to the bucket, not through the
ingest: a long page path, product id, name or category used to load into dw.events (no index there) and then fail
the aggregates' apply of that run and of every later one. The bounds (sql/dw/0011_text_bounds.sql) refuse them at
load time: each such line is a reject with reason ``value_too_large`` naming the column, the rest loads, and later
runs keep the aggregates current.

Real moto S3, real PostgreSQL, the ETL's command line."""

from __future__ import annotations

import random
import secrets

import pytest

from .golden import t
from .helpers import event_line, ndjson, object_key

pytestmark = pytest.mark.integration

_rng = random.Random(19)


def _wide(n: int) -> str:
    """n random characters of CJK Extension B (4 bytes each in UTF-8): PostgreSQL cannot compress them."""
    return "".join(chr(_rng.randrange(0x20000, 0x2A6D0)) for _ in range(n))


LONG_PATH = "/" + secrets.token_urlsafe(3000)  # 4000 bytes of ASCII; two of them key a page transition
LONG_PRODUCT_ID = "p-" + secrets.token_urlsafe(3000)
LONG_NAME = _wide(1000)  # 4000 bytes
LONG_CATEGORY = _wide(700)  # 2800 bytes


def _good(client: str, minute: int, n: int = 6) -> list[dict]:
    """n ordinary events of ``client``: page views and product views, one every 20 s from 10:``minute``."""
    return [event_line("page_view", client, t(10, minute, 20 * i), page=f"/p{i}") if i % 2 == 0 else
            event_line("view_item", client, t(10, minute, 20 * i), page=f"/p{i}",
                       product={"id": f"p{i}", "name": f"n{i}", "category": "c", "brand": "b", "price": 10.0})
            for i in range(n)]


def _poisoned_files() -> dict[str, tuple[str, bytes]]:
    """Files with over-long values next to good lines: name -> (key, bytes)."""
    path = event_line("page_view", "c-path", t(10, 2, 10), page=LONG_PATH)
    product = event_line("view_item", "c-product", t(10, 3, 10), page="/x",
                         product={"id": LONG_PRODUCT_ID, "name": "n", "category": "c", "brand": "b", "price": 1.0})
    name = event_line("view_item", "c-name", t(10, 4, 10), page="/x",
                      product={"id": "p1", "name": LONG_NAME, "category": "c", "brand": "b", "price": 1.0})
    category = event_line("add_to_cart", "c-name", t(10, 4, 30), page="/x",
                          product={"id": "p1", "name": "n", "category": LONG_CATEGORY, "brand": "b", "price": 1.0})
    a, b = _good("c-path", 2), _good("c-name", 4)
    return {"path": (object_key(t(10, 2), "path"), ndjson([*a[:2], path, *a[2:]])),
            "product": (object_key(t(10, 3), "product"), ndjson([product, *_good("c-product", 3)])),
            "name": (object_key(t(10, 4), "name"), ndjson([*b[:3], name, category, *b[3:]]))}


def test_values_over_the_bounds_are_rejected_at_load_and_the_aggregates_keep_updating(world):
    good = {object_key(t(10, 1), "good-1"): ndjson(_good("c-a", 1)),
            object_key(t(10, 5), "good-2"): ndjson(_good("c-b", 5))}
    poisoned = _poisoned_files()
    for key, body in good.items():
        world.put(key, body)
    for key, body in poisoned.values():
        world.put(key, body)

    first = world.run_cli(env=world.env(BATCH_MAX_FILES="3"), timeout=300)
    assert first["_rc"] == 0 and first["status"] == "succeeded", first
    assert (first["files_loaded"], first["files_quarantined"]) == (5, 0), first
    assert first["rejects_by_reason"] == {"value_too_large": 4}, first
    assert first["events_loaded"] == 2 * 6 + 3 * 6, first  # every good line of every file
    rejects = world.query("SELECT source_file, line_number, reason, detail, raw_line FROM etl.rejects "
                          "ORDER BY source_file, line_number")
    expected = {"path": {3: "page_url_path over 1024 bytes"}, "product": {1: "product_id over 256 bytes"},
                "name": {4: "product_name over 1024 bytes", 5: "product_category over 512 bytes"}}
    found = {}
    for source, line, reason, detail, raw in rejects:
        name = source.rsplit("events-", 1)[1].removesuffix(".json")
        assert reason == "value_too_large" and detail.startswith(expected[name][line]), (name, line, detail)
        assert "_max_bytes" in detail
        assert raw == poisoned[name][1].split(b"\n")[line - 1].decode()  # the line as stored
        found.setdefault(name, set()).add(line)
    assert found == {name: set(lines) for name, lines in expected.items()}
    assert world.query("SELECT count(*) FROM dw.events WHERE octet_length(page_url_path) > 1024 "
                       "OR octet_length(product_id) > 256 OR octet_length(product_name) > 1024 "
                       "OR octet_length(product_category) > 512") == [(0,)]
    assert world.query("SELECT count(*) FROM etl.delta_clients") == [(0,)]  # the apply ran

    # later good events: the next run's apply succeeds and the aggregates show them
    later = [event_line("page_view", "c-path", t(10, 20), page="/later"),
             event_line("view_item", "c-product", t(10, 21), page="/later",
                        product={"id": "p-later", "name": "later", "category": "c", "brand": "b", "price": 2.0})]
    world.put(object_key(t(10, 21), "later"), ndjson(later))
    second = world.run_cli(timeout=300)
    assert second["_rc"] == 0 and second["status"] == "succeeded" and second["events_loaded"] == 2, second
    assert world.query("SELECT status FROM etl.runs ORDER BY run_id") == [("succeeded",), ("succeeded",)]
    assert world.query("SELECT sum(transitions) FROM dw.agg_daily_page_transitions WHERE to_page = '/later'") \
        == [(1,)]
    assert world.query("SELECT views FROM dw.agg_daily_product WHERE product_id = 'p-later'") == [(1,)]
    incremental = world.snapshot()
    assert world.rebuilt() == incremental  # the aggregates equal a recompute from what loaded


def test_an_apply_that_fails_anyway_fails_the_run_naming_the_aggregate_and_the_fix_restarts_it(world):
    """The safety net: a value that reaches the aggregates' apply and fails it (here, as a warehouse that loaded it
    before its bounds existed: the bound on page_url_path dropped) fails the run, recorded 'failed' with a
    message naming the part and the aggregate table; once the operator corrects the value (docs/warehouse.md,
    "Faults"), the next run applies the pending change and the aggregates equal a recompute."""
    world.execute("ALTER TABLE dw.events DROP CONSTRAINT page_url_path_max_bytes")
    world.put(object_key(t(10, 1), "good"), ndjson(_good("c-a", 1)))
    world.put(object_key(t(10, 2), "old"), ndjson([event_line("page_view", "c-old", t(10, 2), page=LONG_PATH)]))
    first = world.run_cli(timeout=300)
    assert first["_rc"] != 0, first
    status, message = world.query("SELECT status, message FROM etl.runs")[0]
    assert status == "failed"
    assert "ApplyError: aggregates' apply, part 'activity', failed writing dw.agg_daily_page_transitions" in message
    assert "ProgramLimitExceeded" in message
    assert world.query("SELECT count(*) FROM dw.events") == [(7,)]  # the batches committed

    world.execute("UPDATE dw.events SET page_url_path = '(too long)' WHERE octet_length(page_url_path) > 1024")
    world.put(object_key(t(10, 20), "later"), ndjson([event_line("page_view", "c-a", t(10, 20), page="/later")]))
    second = world.run_cli(timeout=300)
    assert second["_rc"] == 0 and second["status"] == "succeeded" and second["events_loaded"] == 1, second
    assert world.query("SELECT count(*) FROM etl.delta_clients") == [(0,)]
    assert world.query("SELECT sum(transitions) FROM dw.agg_daily_page_transitions WHERE to_page = '/later'") \
        == [(1,)]
    incremental = world.snapshot()
    assert world.rebuilt() == incremental
