"""Products by channel, device and segment (clickstream_etl.product_dims, sql/dw/0047): a hand-checked golden table,
a late event that adds an earlier session (a later session's segment changes), a re-run, the incremental table equal
to the rebuild after every run, and the rows summed over channel, device and segment equal to dw.agg_daily_product.

Segments as of the end of the day before the session's day (default thresholds, tests/etl/test_dims.py); every
client logged out.

Run 1:
- a: 07-01 12:00 page view from a Google search on a phone (Organic Search, mobile; new), view_item p1 12:01,
     add_to_cart p1 12:02, purchase of p1 12:03 (10.00, 1 unit).
- b: 05-31 12:00 page view (direct, desktop); 07-01 12:00 view_item p1 (direct, desktop): at_risk (31 days).
Run 2 (late): b's view_item of p1 on 06-29 12:00: a session that day (active: 29 days since 05-31, not new), and
b's 07-01 session becomes active (1 day since 06-29).
Run 3: nothing new.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from .helpers import event_line, ndjson, object_key

PRODUCT = {"id": "p1", "name": "P", "category": "c", "brand": "b", "price": "10.00"}
PHONE = ("mobile", "Chrome Mobile", "Android")
LATE = datetime(2024, 7, 2, 1, tzinfo=UTC)
Z = Decimal("0.00")


def at(month: int, day: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, 12, minute, tzinfo=UTC)


RUN1 = [
    event_line("page_view", "a", at(7, 1), page="/", referrer="https://www.google.com/", device=PHONE),
    event_line("view_item", "a", at(7, 1, 1), page="/p", product=PRODUCT, device=PHONE),
    event_line("add_to_cart", "a", at(7, 1, 2), page="/p", product=PRODUCT, quantity=1, device=PHONE),
    event_line("purchase", "a", at(7, 1, 3), page="/checkout", product=PRODUCT, quantity=1, device=PHONE),
    event_line("page_view", "b", at(5, 31), page="/"),
    event_line("view_item", "b", at(7, 1), page="/p", product=PRODUCT),
]
RUN2 = [event_line("view_item", "b", at(6, 29), page="/p", product=PRODUCT, received=LATE)]

D629, D701 = date(2024, 6, 29), date(2024, 7, 1)
P1 = ("p1", "c", "b", "logged_out")
A_ROW = (D701, *P1, "Organic Search", "mobile", "new", 1, 1, 1, 1, Decimal("10.00"), 1)
AFTER_RUN1 = [(D701, *P1, "Direct", "desktop", "at_risk", 1, 0, 0, 0, Z, 1), A_ROW]
AFTER_RUN2 = [(D629, *P1, "Direct", "desktop", "active", 1, 0, 0, 0, Z, 1),
              (D701, *P1, "Direct", "desktop", "active", 1, 0, 0, 0, Z, 1), A_ROW]


def _table(world) -> list[tuple]:
    """The rows of each combination of values ('(all)' rows apart)."""
    return world.query("SELECT * FROM dw.agg_daily_product_dims WHERE '(all)' NOT IN (channel_group, device_category, "
                       "segment) ORDER BY 1, 6, 7, 8")


def _filtered(world, channel: str = "(all)", device: str = "(all)", segment: str = "(all)") -> list[tuple]:
    """A filter's rows, as the dashboard reads them (one key, '(all)' for any value)."""
    return world.query("SELECT activity_date, views, add_to_carts, purchases, units, revenue, viewing_sessions "
                       "FROM dw.agg_daily_product_dims WHERE (channel_group, device_category, segment) = (%s, %s, %s) "
                       "ORDER BY 1", (channel, device, segment))


def _run(world, lines: list[dict], name: str) -> None:
    if lines:
        world.put(object_key(LATE, name), ndjson(lines))
    r = world.run_cli()
    assert r["status"] == "succeeded", r


def _summed_equals_unfiltered(world) -> None:
    summed = world.query("""SELECT activity_date, product_id, product_category, product_brand, user_login_state,
                                   sum(views), sum(add_to_carts), sum(purchases), sum(units), sum(revenue),
                                   sum(viewing_sessions)
                              FROM dw.agg_daily_product_dims
                             WHERE '(all)' NOT IN (channel_group, device_category, segment)
                             GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""")
    unfiltered = world.query("""SELECT activity_date, product_id, product_category, product_brand, user_login_state,
                                       views, add_to_carts, purchases, units, revenue, viewing_sessions
                                  FROM dw.agg_daily_product ORDER BY 1, 2, 3, 4, 5""")
    assert summed == unfiltered and summed
    # the rows with every key '(all)' are dw.agg_daily_product's
    assert world.query("""SELECT activity_date, product_id, product_category, product_brand, user_login_state, views,
                                 add_to_carts, purchases, units, revenue, viewing_sessions
                            FROM dw.agg_daily_product_dims
                           WHERE (channel_group, device_category, segment) = ('(all)', '(all)', '(all)')
                           ORDER BY 1, 2, 3, 4, 5""") == unfiltered


@pytest.mark.integration
def test_golden_products_by_dims_late_event_and_rerun(world):
    _run(world, RUN1, "r1")
    assert _table(world) == AFTER_RUN1
    _summed_equals_unfiltered(world)
    assert _filtered(world, device="desktop") == [(D701, 1, 0, 0, 0, Z, 1)]  # b
    assert _filtered(world, segment="new") == [(D701, 1, 1, 1, 1, Decimal("10.00"), 1)]  # a
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 1"

    _run(world, RUN2, "r2")
    assert _table(world) == AFTER_RUN2
    _summed_equals_unfiltered(world)
    assert _filtered(world, channel="Direct", segment="active") == [(D629, 1, 0, 0, 0, Z, 1), (D701, 1, 0, 0, 0, Z, 1)]
    assert _filtered(world, segment="at_risk") == []  # b's 07-01 row moved to active
    assert _filtered(world, device="mobile") == [(D701, 1, 1, 1, 1, Decimal("10.00"), 1)]
    assert _filtered(world) == [(D629, 1, 0, 0, 0, Z, 1), (D701, 2, 1, 1, 1, Decimal("10.00"), 2)]
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 2"

    _run(world, [], "r3")  # a re-run: nothing new
    assert _table(world) == AFTER_RUN2
    assert world.snapshot() == incremental

    # One B-tree over the table (sql/dw/0049): the primary key, with the filter's keys first and the measures
    # included, is what the upsert above found its rows by and what the dashboard's filter reads from alone.
    assert world.query("""SELECT i.indisprimary, pg_get_indexdef(i.indexrelid) FROM pg_index i
                           WHERE i.indrelid = 'dw.agg_daily_product_dims'::regclass""") == [
        (True, "CREATE UNIQUE INDEX agg_daily_product_dims_pkey ON dw.agg_daily_product_dims USING btree "
               "(channel_group, device_category, segment, activity_date, product_id, product_category, product_brand, "
               "user_login_state) INCLUDE (views, add_to_carts, purchases, units, revenue, viewing_sessions)")]
