"""Attribution under the device and segment filters (clickstream_etl.attribution_dims, sql/dw/0054; docs/warehouse.md,
"Attribution by device and segment"): a hand-checked golden table over three runs -- a late event that changes the
attribution (the last non-direct touch moves to another device, the linear shares change, a touch session's segment
changes) and a re-run --, the incremental tables equal to the rebuild after every run, the rows summed over device and
segment equal to dw.agg_daily_attribution.

A model's credit goes to touch sessions; each touch session has its own device and its client's segment as of the end
of the day before the session's day (default thresholds: new < 7 days since the first visit; at risk >= 30 days since
the latest session; loyal >= 4 active days in the 90 before). The credit falls on the purchase's day (UTC). Lookback
30 days. Every client logged out.

Run 1:
- a: S1 05-01 12:00 EMAIL(spring) on a phone (mobile): first visit, segment new (no earlier session);
     S2 05-05 12:00 DIRECT on desktop: new (4 days since the first visit);
     S3 05-10 12:00 from a Google search, desktop: active (9 days since the first visit, 2 active days);
     S4 05-12 12:00 DIRECT, desktop, purchase 05-12 12:05 (10.00): active (3 active days before 05-12).
     Window S1..S4, n = 4. first_touch S1 (Email, mobile, new) 1 / 10.00; last_non_direct S3 (Organic Search,
     desktop, active) 1 / 10.00; linear each 0.25 / 2.50 (S4, own, the rest: 1 - 3 x 0.25 = 0.25).
- b: one session 05-12 14:00 DIRECT on a phone, purchase 05-12 14:05 (20.00): every model Direct, mobile, new,
     1 / 20.00 (last_non_direct: no non-direct session, so the purchase's own).
  Per device on 05-12: mobile first_touch 2 / 30.00, last_non_direct 1 / 20.00, linear 1.25 / 22.50;
  desktop first_touch 0, last_non_direct 1 / 10.00, linear 0.75 / 7.50.
  Per segment: new first_touch 2 / 30.00, last_non_direct 1 / 20.00, linear 1.5 / 25.00; active first_touch 0,
  last_non_direct 1 / 10.00, linear 0.5 / 5.00.
Run 2 (late): a's page view of 05-11 09:00 on /?utm_source=facebook&utm_medium=cpc&utm_campaign=spring on a phone:
     a new session S3b (Paid Social, facebook / cpc / spring, mobile), active (3 active days before 05-11). S4 now has
     4 active days before 05-12: loyal. Window n = 5: linear 0.2 / 2.00 each; last_non_direct moves to S3b (mobile);
     first_touch stays S1.
  Per device on 05-12: mobile first_touch 2 / 30.00, last_non_direct 2 / 30.00, linear 1.4 / 24.00; desktop
  first_touch 0, last_non_direct 0, linear 0.6 / 6.00.
  Per segment: new first_touch 2 / 30.00, last_non_direct 1 / 20.00, linear 1.4 / 24.00; active last_non_direct
  1 / 10.00, linear 0.4 / 4.00; loyal linear 0.2 / 2.00.
Run 3: nothing new (a re-run): nothing changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from .helpers import event_line, ndjson, object_key

P10 = {"id": "p10", "name": "P10", "category": "c", "brand": "b", "price": "10.00"}
P20 = {"id": "p20", "name": "P20", "category": "c", "brand": "b", "price": "20.00"}
PHONE = ("mobile", "Chrome Mobile", "Android")
LATE = datetime(2024, 5, 13, 1, tzinfo=UTC)
D = date(2024, 5, 12)


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def pv(client: str, ts: datetime, page: str = "/", **kw) -> dict:
    return event_line("page_view", client, ts, page=page, **kw)


def buy(client: str, ts: datetime, product: dict, **kw) -> dict:
    return event_line("purchase", client, ts, page="/checkout", product=product, quantity=1, **kw)


RUN1 = [
    pv("a", at(5, 1), "/?utm_source=newsletter&utm_medium=email&utm_campaign=spring", device=PHONE),
    pv("a", at(5, 5)), pv("a", at(5, 10), referrer="https://www.google.com/"), pv("a", at(5, 12)),
    buy("a", at(5, 12, 12, 5), P10),
    pv("b", at(5, 12, 14), device=PHONE), buy("b", at(5, 12, 14, 5), P20, device=PHONE),
]
RUN2 = [pv("a", at(5, 11, 9), "/?utm_source=facebook&utm_medium=cpc&utm_campaign=spring", device=PHONE,
           received=LATE)]

EMAIL = ("Email", "newsletter", "email", "spring")
GOOGLE = ("Organic Search", "google", "organic", "(organic)")
DIRECT = ("Direct", "(direct)", "(none)", "(direct)")
FB_CPC = ("Paid Social", "facebook", "cpc", "spring")


def row(model: str, channel: tuple, device: str, segment: str, purchases: str, revenue: str) -> tuple:
    return (D, model, *channel, device, segment, Decimal(purchases), Decimal(revenue))


B = [row(m, DIRECT, "mobile", "new", "1", "20.00") for m in ("first_touch", "last_non_direct", "linear")]
AFTER_RUN1 = sorted([
    *B,
    row("first_touch", EMAIL, "mobile", "new", "1", "10.00"),
    row("last_non_direct", GOOGLE, "desktop", "active", "1", "10.00"),
    row("linear", EMAIL, "mobile", "new", "0.25", "2.50"),
    row("linear", DIRECT, "desktop", "new", "0.25", "2.50"),
    row("linear", GOOGLE, "desktop", "active", "0.25", "2.50"),
    row("linear", DIRECT, "desktop", "active", "0.25", "2.50"),
])
AFTER_RUN2 = sorted([
    *B,
    row("first_touch", EMAIL, "mobile", "new", "1", "10.00"),
    row("last_non_direct", FB_CPC, "mobile", "active", "1", "10.00"),
    row("linear", EMAIL, "mobile", "new", "0.2", "2.00"),
    row("linear", DIRECT, "desktop", "new", "0.2", "2.00"),
    row("linear", GOOGLE, "desktop", "active", "0.2", "2.00"),
    row("linear", FB_CPC, "mobile", "active", "0.2", "2.00"),
    row("linear", DIRECT, "desktop", "loyal", "0.2", "2.00"),
])
# the dashboard's questions, by hand (above): (model, device or segment) -> (purchases, revenue)
BY_DEVICE_RUN1 = {("first_touch", "mobile"): ("2", "30.00"), ("last_non_direct", "mobile"): ("1", "20.00"),
                  ("linear", "mobile"): ("1.25", "22.50"), ("first_touch", "desktop"): None,
                  ("last_non_direct", "desktop"): ("1", "10.00"), ("linear", "desktop"): ("0.75", "7.50")}
BY_SEGMENT_RUN1 = {("first_touch", "new"): ("2", "30.00"), ("last_non_direct", "new"): ("1", "20.00"),
                   ("linear", "new"): ("1.5", "25.00"), ("first_touch", "active"): None,
                   ("last_non_direct", "active"): ("1", "10.00"), ("linear", "active"): ("0.5", "5.00")}
BY_DEVICE_RUN2 = {("first_touch", "mobile"): ("2", "30.00"), ("last_non_direct", "mobile"): ("2", "30.00"),
                  ("linear", "mobile"): ("1.4", "24.00"), ("first_touch", "desktop"): None,
                  ("last_non_direct", "desktop"): None, ("linear", "desktop"): ("0.6", "6.00")}
BY_SEGMENT_RUN2 = {("first_touch", "new"): ("2", "30.00"), ("last_non_direct", "new"): ("1", "20.00"),
                   ("linear", "new"): ("1.4", "24.00"), ("last_non_direct", "active"): ("1", "10.00"),
                   ("linear", "active"): ("0.4", "4.00"), ("linear", "loyal"): ("0.2", "2.00"),
                   ("first_touch", "loyal"): None, ("last_non_direct", "loyal"): None}


def _table(world) -> list[tuple]:
    return world.query("SELECT * FROM dw.agg_daily_attribution_dims ORDER BY 1, 2, 3, 4, 5, 6, 7, 8")


def _run(world, lines: list[dict], name: str, **env: str) -> None:
    if lines:
        world.put(object_key(LATE, name), ndjson(lines))
    r = world.run_cli(env=world.env(**env) if env else None)
    assert r["status"] == "succeeded", r


def _credit(world, column: str, expected: dict) -> None:
    """The credit per model under one device (or segment) value, as the dashboard sums it, against the hand-checked
    figures (None: no credit)."""
    for (model, value), figures in expected.items():
        got = world.query(f"""SELECT sum(purchases), sum(revenue) FROM dw.agg_daily_attribution_dims
                               WHERE activity_date = %s AND model = %s AND {column} = %s""",  # noqa: S608 - constant
                          (D, model, value))[0]
        want = (None, None) if figures is None else tuple(Decimal(x) for x in figures)
        assert got == want, (model, value, got)


def _summed_equals_unfiltered(world) -> None:
    summed = world.query("""SELECT activity_date, model, channel_group, source, medium, campaign, sum(purchases),
                                   sum(revenue)
                              FROM dw.agg_daily_attribution_dims GROUP BY 1, 2, 3, 4, 5, 6
                             ORDER BY 1, 2, 3, 4, 5, 6""")
    assert summed == world.query("SELECT * FROM dw.agg_daily_attribution ORDER BY 1, 2, 3, 4, 5, 6") and summed


@pytest.mark.integration
def test_golden_devices_segments_late_event_and_rerun(world):
    _run(world, RUN1, "r1")
    assert _table(world) == AFTER_RUN1
    _credit(world, "device_category", BY_DEVICE_RUN1)
    _credit(world, "segment", BY_SEGMENT_RUN1)
    _summed_equals_unfiltered(world)
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 1"

    _run(world, RUN2, "r2")
    assert _table(world) == AFTER_RUN2
    _credit(world, "device_category", BY_DEVICE_RUN2)
    _credit(world, "segment", BY_SEGMENT_RUN2)
    _summed_equals_unfiltered(world)
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 2"

    _run(world, [], "r3")  # a re-run: nothing new
    assert _table(world) == AFTER_RUN2
    assert world.snapshot() == incremental
    # each client's rows are kept; they sum to the aggregate
    assert world.query("""SELECT activity_date, model, channel_group, source, medium, campaign, device_category,
                                 segment, sum(purchases), sum(revenue)
                            FROM dw.agg_attribution_dims_members GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                           ORDER BY 1, 2, 3, 4, 5, 6, 7, 8""") == AFTER_RUN2


@pytest.mark.integration
def test_apply_again_changes_nothing(world):
    """The step replaces the pending clients' rows: the attribution apply and this step's, run twice for the same
    clients (a run cut after the 'sessions' part committed, then applied again), give the same tables."""
    from clickstream_etl import attribution, attribution_dims

    _run(world, RUN1, "r1")
    _run(world, RUN2, "r2")
    before = world.snapshot()
    world.execute("INSERT INTO etl.delta_clients (client_id, win_start) "
                  "SELECT client_id, first_seen_at FROM dw.clients",
                  *attribution.APPLY, *attribution_dims.APPLY, "DELETE FROM etl.delta_clients")  # one transaction
    assert world.snapshot() == before
    assert _table(world) == AFTER_RUN2


@pytest.mark.integration
def test_a_new_lookback_recomputes_the_credits_under_the_dimensions(world):
    """ATTRIBUTION_LOOKBACK_DAYS=1 (attribution.configure recomputes every credit): a's window reaches back to
    05-11 12:05, so only its own session S4 is in it -- every model Direct, desktop, active, 1 / 10.00 --; b keeps
    its credits. The rows still sum to dw.agg_daily_attribution, and the rebuild gives the same tables."""
    _run(world, RUN1, "r1")
    _run(world, [], "r2", ATTRIBUTION_LOOKBACK_DAYS="1")
    a1 = [row(m, DIRECT, "desktop", "active", "1", "10.00") for m in ("first_touch", "last_non_direct", "linear")]
    assert _table(world) == sorted(B + a1)
    _summed_equals_unfiltered(world)
    assert world.rebuilt() == world.snapshot()
