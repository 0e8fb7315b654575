"""Acquisition by device and segment (clickstream_etl.acquisition_dims, sql/dw/0046) and the distinct users under
the channel/device/segment filters (sql/dw/0047): a hand-checked golden table and user counts over a run, a late run
that adds an earlier session (a later session's segment changes) and a new landing event (a session moves to another
channel and device), a re-run, the incremental tables equal to the rebuild after every run, the rows summed over
device and segment equal to dw.agg_daily_acquisition, the users' '(all)' rows equal to
dw.agg_daily_client_returns.

Segments as of the end of the day before the session's day (default thresholds, tests/etl/test_dims.py); every
client logged out, on the default device (desktop) unless said.

Run 1:
- q: 05-31 12:00 direct (new, first visit); 07-01 12:00 from a Google search on a phone (at_risk: 31 days since
     05-31); one page view each, not engaged.
- n: 07-01 12:00 on /?utm_source=news&utm_medium=email&utm_campaign=spring and a purchase (10.00) at 12:02: Email,
     new, engaged and converted, first visit.
- y: 06-28 12:00 direct (first visit) and 07-01 12:00 direct: new both days (3 days since its first visit).
Run 2 (late): q's page views of 06-29 12:00 (direct) and of 07-01 11:50 on /?utm_source=fb&utm_medium=social: the
06-29 session is active (28 days since the last, one active day); the 07-01 session now starts at 11:50 on the fb
link (Organic Social, fb / social / (not set), desktop: its landing event's device), has two page views (engaged)
and its segment is active (1 day since 06-29).
Run 3: nothing new.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from .helpers import event_line, ndjson, object_key

PRODUCT = {"id": "p1", "name": "P", "category": "c", "brand": "b", "price": "10.00"}
PHONE = ("mobile", "Chrome Mobile", "Android")
Z = Decimal("0")


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def pv(client: str, ts: datetime, page: str = "/", **kw) -> dict:
    return event_line("page_view", client, ts, page=page, **kw)


RUN1 = [
    pv("q", at(5, 31)), pv("q", at(7, 1), referrer="https://www.google.com/", device=PHONE),
    pv("n", at(7, 1), page="/?utm_source=news&utm_medium=email&utm_campaign=spring"),
    event_line("purchase", "n", at(7, 1, 12, 2), page="/checkout", product=PRODUCT, quantity=1),
    pv("y", at(6, 28)), pv("y", at(7, 1)),
]
LATE = datetime(2024, 7, 2, 1, tzinfo=UTC)
RUN2 = [pv("q", at(6, 29), received=LATE),
        pv("q", at(7, 1, 11, 50), page="/?utm_source=fb&utm_medium=social", received=LATE)]

D531, D628, D629, D701 = date(2024, 5, 31), date(2024, 6, 28), date(2024, 6, 29), date(2024, 7, 1)
DIRECT = ("Direct", "(direct)", "(none)", "(direct)")
EMAIL_N = (D701, "logged_out", "Email", "news", "email", "spring", "desktop", "new", 1, 1, 1, 1, Decimal("10.00"))
BEFORE = [(D531, "logged_out", *DIRECT, "desktop", "new", 1, 0, 0, 1, Z),
          (D628, "logged_out", *DIRECT, "desktop", "new", 1, 0, 0, 1, Z)]
Y_701 = (D701, "logged_out", *DIRECT, "desktop", "new", 1, 0, 0, 0, Z)
AFTER_RUN1 = [*BEFORE, Y_701, EMAIL_N,
              (D701, "logged_out", "Organic Search", "google", "organic", "(organic)", "mobile", "at_risk",
               1, 0, 0, 0, Z)]
AFTER_RUN2 = [*BEFORE, (D629, "logged_out", *DIRECT, "desktop", "active", 1, 0, 0, 0, Z), Y_701, EMAIL_N,
              (D701, "logged_out", "Organic Social", "fb", "social", "(not set)", "desktop", "active",
               1, 1, 0, 0, Z)]


def _table(world) -> list[tuple]:
    return world.query("SELECT * FROM dw.agg_daily_acquisition_dims ORDER BY 1, 3, 4, 5, 6, 7, 8")


def _run(world, lines: list[dict], name: str) -> None:
    if lines:
        world.put(object_key(LATE, name), ndjson(lines))
    r = world.run_cli()
    assert r["status"] == "succeeded", r


def _users(world, a: date, b: date, login: str = "(all)", channel: str = "(all)", device: str = "(all)",
           segment: str = "(all)") -> int:
    """The overview's distinct users under the filters (dw.agg_daily_users_dims, sql/dw/0047)."""
    return world.query("""SELECT coalesce(sum(clients), 0) FROM dw.agg_daily_users_dims
                           WHERE (user_login_state, channel_group, device_category, segment) = (%s, %s, %s, %s)
                             AND activity_date BETWEEN %s AND %s AND previous_date < %s""",
                       (login, channel, device, segment, a, b, a))[0][0]


def _users_unfiltered_equal_client_returns(world) -> None:
    rows = world.query("""SELECT activity_date, user_login_state, previous_date, clients FROM dw.agg_daily_users_dims
                           WHERE (channel_group, device_category, segment) = ('(all)', '(all)', '(all)')
                           ORDER BY 1, 2, 3""")
    assert rows == world.query("SELECT activity_date, user_login_state, previous_date, clients "
                               "FROM dw.agg_daily_client_returns ORDER BY 1, 2, 3") and rows


def _summed_equals_unfiltered(world) -> None:
    summed = world.query("""SELECT activity_date, user_login_state, channel_group, source, medium, campaign,
                                   sum(sessions), sum(engaged_sessions), sum(converted_sessions),
                                   sum(first_visit_sessions), sum(revenue)
                              FROM dw.agg_daily_acquisition_dims GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6""")
    assert summed == world.query("SELECT * FROM dw.agg_daily_acquisition ORDER BY 1, 2, 3, 4, 5, 6") and summed


@pytest.mark.integration
def test_golden_devices_segments_late_events_and_rerun(world):
    _run(world, RUN1, "r1")
    assert _table(world) == AFTER_RUN1
    _summed_equals_unfiltered(world)
    _users_unfiltered_equal_client_returns(world)
    assert _users(world, D701, D701, device="mobile") == 1  # q
    assert _users(world, D531, D701, channel="Direct") == 2  # q (05-31) and y (06-28, 07-01: once)
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 1"

    _run(world, RUN2, "r2")
    assert _table(world) == AFTER_RUN2
    _summed_equals_unfiltered(world)
    _users_unfiltered_equal_client_returns(world)
    assert _users(world, D701, D701, device="mobile") == 0  # q's 07-01 session now lands on a desktop
    assert _users(world, D629, D701, device="desktop") == 3  # q (twice: once), n, y
    assert _users(world, D629, D701, segment="active") == 1  # q, active on both days
    assert _users(world, D531, D701, segment="new") == 3  # q (05-31), n, y
    assert _users(world, D531, D701, login="logged_out", channel="Direct", device="desktop") == 2  # q, y
    assert _users(world, D701, D701, channel="Organic Social", segment="active") == 1
    assert _users(world, D701, D701, channel="Organic Social", segment="new") == 0
    incremental = world.snapshot()
    assert world.rebuilt() == incremental, "run 2"

    _run(world, [], "r3")  # a re-run: nothing new
    assert _table(world) == AFTER_RUN2
    assert world.snapshot() == incremental
    # each client's rows are kept; they sum to the aggregate
    assert world.query("""SELECT activity_date, user_login_state, channel_group, source, medium, campaign,
                                 device_category, segment, sum(sessions), sum(engaged_sessions),
                                 sum(converted_sessions), sum(first_visit_sessions), sum(revenue)
                            FROM dw.agg_acquisition_dims_members GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                           ORDER BY 1, 3, 4, 5, 6, 7, 8""") == AFTER_RUN2
