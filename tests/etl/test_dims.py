"""The channel/device/segment filters' aggregate (clickstream_etl.dims, sql/dw/0041): a hand-checked golden day,
a late event that changes a later session's segment, the incremental upkeep equal to a rebuild, and the rows summed
over every channel, device and segment equal to the unfiltered aggregates.

A session's segment is its client's as of the end of the day before the session's day (default thresholds: new <
7 days since the first visit; lost: latest session >= 90 days before; at risk: >= 30; loyal: >= 4 days with a
session or >= 2 purchases in the 90 days; else active); a client with no earlier session is 'new'.

Clients, with their sessions on 2024-07-01 (segment as of 06-30):
- q: 05-31 (direct, desktop), 07-01 from a Google search on a phone -> at_risk (30 days); its 05-31 session: new
- y: 05-01, 06-01, 06-10, 06-20, 07-01 -> loyal (4 days in the window)
- l: 03-01, 07-01 -> lost (121 days)
- n: 07-01 only, with a purchase of 10.00 -> new
- z: 06-28 (first visit), 07-01 -> new (3 days since its first visit)
Then a late event of q on 06-29 (received 07-02): its 07-01 session becomes active (1 day), nothing else changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from .helpers import event_line, ndjson, object_key

PRODUCT = {"id": "p1", "name": "P", "category": "c", "brand": "b", "price": "10.00"}
DAY = date(2024, 7, 1)
PHONE = ("mobile", "Chrome Mobile", "Android")


def at(month: int, day: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, 12, minute, tzinfo=UTC)


def pv(client: str, ts: datetime, **kw) -> dict:
    return event_line("page_view", client, ts, page="/", **kw)


LINES = [
    pv("q", at(5, 31)), pv("q", at(7, 1), referrer="https://www.google.com/", device=PHONE),
    pv("y", at(5, 1)), pv("y", at(6, 1)), pv("y", at(6, 10)), pv("y", at(6, 20)), pv("y", at(7, 1)),
    pv("l", at(3, 1)), pv("l", at(7, 1)),
    pv("n", at(7, 1)), event_line("view_item", "n", at(7, 1, 1), page="/p", product=PRODUCT),
    event_line("purchase", "n", at(7, 1, 2), page="/checkout", product=PRODUCT, quantity=1),
    pv("z", at(6, 28)), pv("z", at(7, 1)),
]

_BY_SEGMENT = """SELECT segment, channel_group, device_category, sum(events), sum(sessions), sum(revenue),
                        sum(view_item_sessions), sum(purchase_sessions)
                   FROM dw.agg_hourly_dims WHERE activity_date = %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""


def _day(world) -> list[tuple]:
    return world.query(_BY_SEGMENT, (DAY,))


def _run(world) -> None:
    r = world.run_cli()
    assert r["status"] == "succeeded", r


@pytest.mark.integration
def test_golden_day_late_event_and_rebuild(world):
    world.put(object_key(datetime(2024, 7, 2, tzinfo=UTC), "dims"), ndjson(LINES))
    _run(world)
    z = Decimal("0")
    assert _day(world) == [
        ("at_risk", "Organic Search", "mobile", 1, 1, z, 0, 0),
        ("lost", "Direct", "desktop", 1, 1, z, 0, 0),
        ("loyal", "Direct", "desktop", 1, 1, z, 0, 0),
        ("new", "Direct", "desktop", 4, 2, Decimal("10.00"), 1, 1),
    ]
    assert world.query("SELECT segment, sum(sessions) FROM dw.agg_hourly_dims WHERE activity_date = '2024-05-31' "
                       "GROUP BY 1") == [("new", 1)]
    assert world.rebuilt() == world.snapshot()

    # the late event (within the freshness window): q's 06-29 session makes its 07-01 session 'active'
    world.put(object_key(datetime(2024, 7, 2, 1, tzinfo=UTC), "late"),
              ndjson([pv("q", at(6, 29), received=datetime(2024, 7, 2, 1, tzinfo=UTC))]))
    _run(world)
    incremental = world.snapshot()
    assert _day(world) == [
        ("active", "Organic Search", "mobile", 1, 1, z, 0, 0),
        ("lost", "Direct", "desktop", 1, 1, z, 0, 0),
        ("loyal", "Direct", "desktop", 1, 1, z, 0, 0),
        ("new", "Direct", "desktop", 4, 2, Decimal("10.00"), 1, 1),
    ]
    assert world.rebuilt() == incremental
    _run(world)  # a run with nothing new changes nothing
    assert world.snapshot()["dw.agg_hourly_dims"] == incremental["dw.agg_hourly_dims"]


@pytest.mark.integration
def test_summed_over_every_channel_device_and_segment_the_rows_equal_the_unfiltered_aggregates(world):
    world.put(object_key(datetime(2024, 7, 2, tzinfo=UTC), "dims"), ndjson(LINES))
    _run(world)
    dims = world.query("""SELECT activity_date, user_login_state, sum(events), sum(page_views)
                            FROM dw.agg_hourly_dims GROUP BY 1, 2 ORDER BY 1, 2""")
    activity = world.query("""SELECT activity_date, user_login_state, sum(events), sum(page_views)
                                FROM dw.agg_hourly_activity GROUP BY 1, 2 ORDER BY 1, 2""")
    assert dims == activity and dims
    dims = world.query("""SELECT activity_date, user_login_state, sum(sessions), sum(converted_sessions), sum(revenue)
                            FROM dw.agg_hourly_dims GROUP BY 1, 2 HAVING sum(sessions) > 0 ORDER BY 1, 2""")
    sessions = world.query("""SELECT activity_date, user_login_state, sessions, converted_sessions, revenue
                                FROM dw.agg_daily_sessions ORDER BY 1, 2""")
    assert dims == sessions
    dims = world.query("""SELECT activity_date, user_login_state, sum(view_item_sessions), sum(add_to_cart_sessions),
                                 sum(begin_checkout_sessions), sum(purchase_sessions)
                            FROM dw.agg_hourly_dims GROUP BY 1, 2
                          HAVING sum(view_item_sessions + add_to_cart_sessions + begin_checkout_sessions
                                     + purchase_sessions) > 0 ORDER BY 1, 2""")
    funnel = world.query("""SELECT activity_date, user_login_state, view_item_sessions, add_to_cart_sessions,
                                   begin_checkout_sessions, purchase_sessions
                              FROM dw.agg_daily_funnel WHERE product_category = '(all)' AND product_brand = '(all)'
                             ORDER BY 1, 2""")
    assert dims == funnel and funnel


def test_the_migration_seeds_the_default_thresholds(world):
    """etl.segment_rule starts with segments.Thresholds()'s values (the per-session segment's rule until the daily
    step writes the ETL's)."""
    from dataclasses import asdict

    from clickstream_etl.segments import Thresholds

    names = list(asdict(Thresholds()))
    (row,) = world.query(f"SELECT {', '.join(names)} FROM etl.segment_rule")  # noqa: S608 - field names
    assert dict(zip(names, row, strict=True)) == asdict(Thresholds())
