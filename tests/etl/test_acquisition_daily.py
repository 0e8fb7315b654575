"""Sessions per day and acquisition (clickstream_etl.acquisition_daily, sql/dw/0044): a hand-checked golden table
over two ETL runs, a late event that becomes a session's landing event and moves it to another channel, a re-run,
and the incremental table equal to the rebuild (the full recompute) after every run.

Run 1, all on 2024-05-10 (UTC), every client logged out:
- a: page_view 10:00 on /?utm_source=news&utm_medium=email&utm_campaign=spring, purchase 10:05 (10.00): Email,
     news / email / spring; engaged (a purchase), converted, first visit, revenue 10.00.
- b: page_view 11:00 on / from https://www.google.com/: Organic Search, google / organic / (organic); one page
     view, no duration: not engaged.
- c: page_view 12:00 on /?gclid=abc and 12:01: Paid Search, google / cpc / (not set) (auto-tagging); engaged
     (two page views).
Run 2: b's page_view of 10:50 on /?utm_source=fb&utm_medium=social&utm_campaign=x, arriving late: 10 minutes before
its session, so the same session, which now lands there: Organic Social, fb / social / x, engaged (two page views);
the Organic Search row goes.
Run 3: nothing new (a re-run) -- nothing changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from scripts.harness.etl_world import REPO

from .helpers import event_line, ndjson, object_key

DAY = date(2024, 5, 10)
KEYS_AT = datetime(2024, 5, 10, 23, tzinfo=UTC)
PRODUCT = {"id": "p1", "name": "P", "category": "c", "brand": "b", "price": "10.00"}


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, 10, hour, minute, tzinfo=UTC)


RUN1 = [
    event_line("page_view", "a", at(10), page="/?utm_source=news&utm_medium=email&utm_campaign=spring"),
    event_line("purchase", "a", at(10, 5), page="/checkout", product=PRODUCT, quantity=1),
    event_line("page_view", "b", at(11), page="/", referrer="https://www.google.com/"),
    event_line("page_view", "c", at(12), page="/?gclid=abc"),
    event_line("page_view", "c", at(12, 1), page="/products/p1"),
]
RUN2 = [event_line("page_view", "b", at(10, 50), page="/?utm_source=fb&utm_medium=social&utm_campaign=x")]

EMAIL = (DAY, "logged_out", "Email", "news", "email", "spring", 1, 1, 1, 1, Decimal("10.00"))
PAID = (DAY, "logged_out", "Paid Search", "google", "cpc", "(not set)", 1, 1, 0, 1, Decimal("0"))
AFTER_RUN1 = [EMAIL, (DAY, "logged_out", "Organic Search", "google", "organic", "(organic)", 1, 0, 0, 1, Decimal("0")),
              PAID]
AFTER_RUN2 = [EMAIL, (DAY, "logged_out", "Organic Social", "fb", "social", "x", 1, 1, 0, 1, Decimal("0")), PAID]


def _table(world) -> list[tuple]:
    return world.query("SELECT activity_date, user_login_state, channel_group, source, medium, campaign, sessions, "
                       "engaged_sessions, converted_sessions, first_visit_sessions, revenue "
                       "FROM dw.agg_daily_acquisition ORDER BY 3, 4, 5, 6")


def _run(world, lines: list[dict], name: str) -> None:
    if lines:
        world.put(object_key(KEYS_AT, name), ndjson(lines))
    r = world.run_cli()
    assert r["status"] == "succeeded", r


def test_golden_channels_late_event_and_rerun(world):
    _run(world, RUN1, "r1")
    assert _table(world) == AFTER_RUN1
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 1"

    _run(world, RUN2, "r2")
    assert _table(world) == AFTER_RUN2
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 2"

    _run(world, [], "r3")  # a re-run: nothing new
    assert _table(world) == AFTER_RUN2
    assert world.snapshot() == incremental


def test_sessions_before_acquisition_count_as_unassigned(world):
    """A session written before migration 0031 has no acquisition (NULL): the rebuild counts it under channel group
    Unassigned, source, medium and campaign '(not set)' -- the labels of dw.agg_daily_attribution and
    dw.agg_hourly_dims too (rules.SQL), so the Acquisition tab shows such sessions on one row."""
    _run(world, RUN1[2:3], "r1")
    world.execute("UPDATE dw.sessions SET source = NULL, medium = NULL, campaign = NULL, channel_group = NULL",
                  "INSERT INTO etl.dirty_days VALUES ('2024-05-10') ON CONFLICT DO NOTHING")
    _run(world, [], "r2")  # the run recomputes the dirty day
    assert _table(world) == [(DAY, "logged_out", "Unassigned", "(not set)", "(not set)", "(not set)", 1, 0, 0, 1,
                              Decimal("0"))]
    assert world.query("SELECT DISTINCT channel_group FROM dw.agg_hourly_dims") == [("Unassigned",)]


def test_migration_0045_relabels_rows_without_acquisition(world):
    """An upgraded warehouse holds rows labelled the old way ('(not set)' in dw.agg_daily_acquisition, '(unknown)'
    in dw.agg_hourly_dims / agg_dims_members): migration 0045 moves them to 'Unassigned', adding them to a row that
    already holds that key, and leaves every other row as it was."""
    _run(world, RUN1, "r1")
    world.execute(
        # an old '(not set)' row beside an 'Unassigned' row with the same other keys (merged), and one alone (moved)
        "INSERT INTO dw.agg_daily_acquisition VALUES ('2024-05-10', 'logged_out', 'Unassigned', '(not set)', "
        "'(not set)', '(not set)', 2, 1, 1, 2, 5.00), ('2024-05-10', 'logged_out', '(not set)', '(not set)', "
        "'(not set)', '(not set)', 3, 1, 0, 1, 7.50), ('2024-05-11', 'logged_in', '(not set)', '(not set)', "
        "'(not set)', '(not set)', 1, 0, 0, 0, 0)",
        "INSERT INTO dw.agg_hourly_dims SELECT activity_hour, activity_date, user_login_state, '(unknown)', "
        "device_category, segment, events, page_views, sessions, converted_sessions, revenue, view_item_sessions, "
        "add_to_cart_sessions, begin_checkout_sessions, purchase_sessions FROM dw.agg_hourly_dims",
        "INSERT INTO dw.agg_dims_members SELECT client_id, activity_hour, user_login_state, '(unknown)', "
        "device_category, segment, events, page_views, sessions, converted_sessions, revenue, view_item_sessions, "
        "add_to_cart_sessions, begin_checkout_sessions, purchase_sessions FROM dw.agg_dims_members "
        "WHERE client_id = 'a'")
    dims_before = world.query("SELECT channel_group, sum(events), sum(sessions), sum(revenue) FROM dw.agg_hourly_dims "
                              "GROUP BY 1 ORDER BY 1")
    members_a = world.query("SELECT sum(events), sum(sessions) FROM dw.agg_dims_members WHERE client_id = 'a'")
    world.execute((REPO / "sql" / "dw" / "0045_unassigned_label.sql").read_text())
    assert world.query("SELECT activity_date, user_login_state, channel_group, source, medium, campaign, sessions, "
                       "engaged_sessions, converted_sessions, first_visit_sessions, revenue "
                       "FROM dw.agg_daily_acquisition ORDER BY 3, 1") == [
        EMAIL, AFTER_RUN1[1], PAID,
        (DAY, "logged_out", "Unassigned", "(not set)", "(not set)", "(not set)", 5, 2, 1, 3, Decimal("12.50")),
        (date(2024, 5, 11), "logged_in", "Unassigned", "(not set)", "(not set)", "(not set)", 1, 0, 0, 0, Decimal("0")),
    ]
    unknown = [r for r in dims_before if r[0] == "(unknown)"]
    assert len(unknown) == 1
    assert world.query("SELECT channel_group, sum(events), sum(sessions), sum(revenue) FROM dw.agg_hourly_dims "
                       "GROUP BY 1 ORDER BY 1") == sorted(
        [r for r in dims_before if r[0] != "(unknown)"] + [("Unassigned", *unknown[0][1:])])
    assert world.query("SELECT sum(events), sum(sessions) FROM dw.agg_dims_members WHERE client_id = 'a'") == \
        members_a
    assert world.query("SELECT count(*) FROM dw.agg_dims_members WHERE channel_group = '(unknown)'") == [(0,)]
    assert world.query("SELECT count(*) FROM dw.agg_dims_members WHERE client_id = 'a' "
                       "AND channel_group = 'Unassigned'")[0][0] > 0
