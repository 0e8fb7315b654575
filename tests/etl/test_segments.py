"""Client segments (clickstream_etl.segments, sql/dw/0034): a hand-checked assignment as of 2024-06-30 with the
default thresholds (new < 7 days since the first visit; lost: latest session >= 90 days before; at risk: >= 30;
loyal: in the 90 days up to as_of (dates after 2024-04-01), sessions on >= 4 days or >= 2 purchases; else active),
the day's overview, other thresholds, and the ETL's daily step running once a day.

Clients (each purchase is 10.00), as of 2024-06-30:
- n: 06-25 page_view + purchase, 06-26 purchase -> new (first visit 5 days before; new wins over its 2 purchases);
     2 days, 2 purchases, 20.00
- x: 06-24 (6 days before) -> new;  z: 06-23 (7 days before: no longer new), recency 7 -> active
- a: 06-01, 06-22 -> 2 days, no purchase -> active
- y: 05-01, 06-01, 06-10, 06-20 (4 days), and 07-01 (after as_of: not counted) -> loyal by frequency; last 06-20
- p: 06-01, purchases 06-05 and 06-15 -> loyal by purchases (3 days, 2 purchases, 20.00)
- q: 05-31 only (30 days before) -> at_risk (the boundary);  r: 04-10, purchase 05-20 (41 days) -> at_risk,
     2 days, 1 purchase, 10.00
- l: 03-01, purchase 03-15 (107 days; the purchase is outside the window) -> lost, 0 days, 0, 0
- l2: 04-01 only (90 days before: lost; 04-01 is not in the window) -> lost
- f: 07-01 only -> not segmented (no session by as_of)
Overview: active 2 clients, 0 purchasers, 0; at_risk 2, 1, 10.00; lost 2, 0, 0; loyal 2, 1, 20.00;
new 2, 1, 20.00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg2
import pytest

from .helpers import event_line, ndjson, object_key

AS_OF = date(2024, 6, 30)
PRODUCT = {"id": "p1", "name": "P", "category": "c", "brand": "b", "price": "10.00"}


def at(month: int, day: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, 12, minute, tzinfo=UTC)


def pv(client: str, ts: datetime) -> dict:
    return event_line("page_view", client, ts, page="/")


def buy(client: str, ts: datetime) -> dict:
    return event_line("purchase", client, ts, page="/checkout", product=PRODUCT, quantity=1)


LINES = [
    pv("n", at(6, 25)), buy("n", at(6, 25, 5)), buy("n", at(6, 26)),
    pv("x", at(6, 24)), pv("z", at(6, 23)),
    pv("a", at(6, 1)), pv("a", at(6, 22)),
    pv("y", at(5, 1)), pv("y", at(6, 1)), pv("y", at(6, 10)), pv("y", at(6, 20)), pv("y", at(7, 1)),
    pv("p", at(6, 1)), buy("p", at(6, 5)), buy("p", at(6, 15)),
    pv("q", at(5, 31)), pv("r", at(4, 10)), buy("r", at(5, 20)),
    pv("l", at(3, 1)), buy("l", at(3, 15)), pv("l2", at(4, 1)),
    pv("f", at(7, 1)),
]
D = date
Z = Decimal("0")
EXPECTED = [  # client, segment, first visit, last active, active days, purchases, revenue
    ("a", "active", D(2024, 6, 1), D(2024, 6, 22), 2, 0, Z),
    ("l", "lost", D(2024, 3, 1), D(2024, 3, 15), 0, 0, Z),
    ("l2", "lost", D(2024, 4, 1), D(2024, 4, 1), 0, 0, Z),
    ("n", "new", D(2024, 6, 25), D(2024, 6, 26), 2, 2, Decimal("20.00")),
    ("p", "loyal", D(2024, 6, 1), D(2024, 6, 15), 3, 2, Decimal("20.00")),
    ("q", "at_risk", D(2024, 5, 31), D(2024, 5, 31), 1, 0, Z),
    ("r", "at_risk", D(2024, 4, 10), D(2024, 5, 20), 2, 1, Decimal("10.00")),
    ("x", "new", D(2024, 6, 24), D(2024, 6, 24), 1, 0, Z),
    ("y", "loyal", D(2024, 5, 1), D(2024, 6, 20), 4, 0, Z),
    ("z", "active", D(2024, 6, 23), D(2024, 6, 23), 1, 0, Z),
]
OVERVIEW = [(AS_OF, "active", 2, 0, Z), (AS_OF, "at_risk", 2, 1, Decimal("10.00")), (AS_OF, "lost", 2, 0, Z),
            (AS_OF, "loyal", 2, 1, Decimal("20.00")), (AS_OF, "new", 2, 1, Decimal("20.00"))]


def _segments(world) -> list[tuple]:
    return world.query("SELECT client_id, segment, first_visit_date, last_active_date, active_days, purchases, "
                       "revenue FROM dw.client_segments ORDER BY 1")


def _overview(world) -> list[tuple]:
    return world.query("SELECT as_of, segment, clients, purchasers, revenue FROM dw.agg_daily_segments "  # noqa: S608
                       f"WHERE as_of = '{AS_OF}' ORDER BY 1, 2")  # a constant date


def _compute(world, **thresholds: int) -> int:
    from clickstream_etl import segments

    conn = psycopg2.connect(world.dsn)
    try:
        return segments.compute(conn, AS_OF, segments.Thresholds(**thresholds))
    finally:
        conn.close()


@pytest.fixture
def loaded(world):
    world.put(object_key(datetime(2024, 7, 2, tzinfo=UTC), "seg"), ndjson(LINES))
    r = world.run_cli()
    assert r["status"] == "succeeded", r
    return world


def test_golden_segments(loaded):
    assert _compute(loaded) == 10
    assert _segments(loaded) == EXPECTED
    assert _overview(loaded) == OVERVIEW
    # again: the same rows, the day's overview replaced (not added to)
    assert _compute(loaded) == 10
    assert _segments(loaded) == EXPECTED
    assert _overview(loaded) == OVERVIEW


def test_other_thresholds(loaded):
    """Three purchases for loyal: p becomes active; a window of 30 days: y has 2 days (06-01 is 29 days back)."""
    _compute(loaded, loyal_min_purchases=3, window_days=30)
    got = {row[0]: row[1:5] for row in _segments(loaded)}
    assert got["p"] == ("active", D(2024, 6, 1), D(2024, 6, 15), 3)
    assert got["y"] == ("active", D(2024, 5, 1), D(2024, 6, 20), 3)


def test_thresholds_from_env():
    from clickstream_env import ConfigError
    from clickstream_etl.segments import Thresholds, thresholds_from_env

    assert thresholds_from_env({}) == Thresholds()
    assert thresholds_from_env({"SEGMENT_LOST_DAYS": "120"}).lost_days == 120
    with pytest.raises(ConfigError, match="SEGMENT_NEW_DAYS"):
        thresholds_from_env({"SEGMENT_NEW_DAYS": "soon"})
    with pytest.raises(ConfigError, match="at_risk_days"):
        thresholds_from_env({"SEGMENT_AT_RISK_DAYS": "90"})


def test_the_run_computes_the_segments_once_a_day(loaded):
    """The run computed the last closed day's segments (by the warehouse's clock); a second run does not again."""
    first = loaded.query("SELECT as_of, computed_at, clients FROM etl.segment_days")
    assert len(first) == 1 and first[0][2] == 11  # every client (f too: the last closed day is after 07-01)
    assert loaded.query("SELECT count(*) FROM dw.client_segments") == [(11,)]
    r = loaded.run_cli()
    assert r["status"] == "succeeded", r
    assert loaded.query("SELECT as_of, computed_at, clients FROM etl.segment_days") == first


def test_a_day_computed_before_the_warehouse_caught_up_is_computed_again(world):
    """A run on an empty warehouse computes the last closed day with no client; a later run that loads sessions
    computes it again (the warehouse had not reached the end of that day), and a run with nothing new does not."""
    r = world.run_cli()
    assert r["status"] == "succeeded", r
    assert world.query("SELECT clients FROM etl.segment_days") == [(0,)]
    world.put(object_key(datetime(2024, 7, 2, tzinfo=UTC), "seg"), ndjson(LINES))
    r = world.run_cli()
    assert r["status"] == "succeeded", r
    done = world.query("SELECT as_of, computed_at, clients FROM etl.segment_days")
    assert [row[2] for row in done] == [11]
    assert world.query("SELECT sum(clients) FROM dw.agg_daily_segments WHERE as_of = %s", (done[0][0],)) == [(11,)]
    r = world.run_cli()
    assert r["status"] == "succeeded", r
    assert world.query("SELECT as_of, computed_at, clients FROM etl.segment_days") == done
