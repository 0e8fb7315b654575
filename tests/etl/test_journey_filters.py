"""Journeys and retention by channel, device and segment (clickstream_etl.journeys, retention_dims; sql/dw/0048): a
hand-checked golden day, a late event that changes a later session's segment (its transitions and its purchaser
cohort move), the incremental upkeep equal to a rebuild, and the rows summed over every channel, device and segment
equal to the unfiltered aggregates.

A session's segment is its client's as of the end of the day before the session's day (tests/etl/test_dims.py
spells out the rule). Clients (2024-07-01 is a Monday; weeks are ISO weeks):
- q: 05-31 (direct, desktop) "/" (first visit: cohort week 05-27, Direct, desktop, new); 07-01 from a Google search
     on a phone "/", "/a?x=1" (the page without its query string: "/a"), then a purchase -> at_risk (30 days since its
     last session): its purchaser cohort (week 07-01) is Organic Search, mobile, at_risk
- n: 07-01 only, "/", "/p", a purchase -> new, Direct, desktop (its first visit and first purchase)
- l: 03-01 "/", 07-01 "/b" -> lost (121 days)
- v: 07-01, a view_item only: a session without pages (no transition, no path), new, in the 07-01 cohort
Then a late event of q on 06-29 (received 07-02): its 07-01 session becomes active (its transitions and its purchaser
cohort move), and q is active in week 06-24 of its cohort; nothing else changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from .helpers import event_line, ndjson, object_key

PRODUCT = {"id": "p1", "name": "P", "category": "c", "brand": "b", "price": "10.00"}
DAY = date(2024, 7, 1)
PHONE = ("mobile", "Chrome Mobile", "Android")
GOOGLE = "https://www.google.com/"


def at(month: int, day: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, 12, minute, tzinfo=UTC)


def pv(client: str, ts: datetime, page: str = "/", **kw) -> dict:
    return event_line("page_view", client, ts, page=page, **kw)


LINES = [
    pv("q", at(5, 31)),
    pv("q", at(7, 1), referrer=GOOGLE, device=PHONE), pv("q", at(7, 1, 1), "/a?x=1", device=PHONE),
    event_line("purchase", "q", at(7, 1, 2), page="/checkout", product=PRODUCT, quantity=1, device=PHONE),
    pv("n", at(7, 1)), pv("n", at(7, 1, 1), "/p"),
    event_line("purchase", "n", at(7, 1, 2), page="/checkout", product=PRODUCT, quantity=1),
    pv("l", at(3, 1)), pv("l", at(7, 1), "/b"),
    event_line("view_item", "v", at(7, 1), page="/p", product=PRODUCT),  # a session without a page view
]
LATE = [pv("q", at(6, 29), received=datetime(2024, 7, 2, 1, tzinfo=UTC))]

_TRANSITIONS = """SELECT segment, channel_group, device_category, from_page, to_page, transitions
                    FROM dw.agg_daily_transitions_dims WHERE activity_date = %s ORDER BY 1, 2, 3, 4, 5"""
_COHORTS = """SELECT cohort, cohort_week, active_week, channel_group, device_category, segment, clients
                FROM dw.agg_weekly_retention_dims ORDER BY 1, 2, 3, 4, 5, 6"""


def _golden_day(q_segment: str) -> list[tuple]:
    q = [(q_segment, "Organic Search", "mobile", "(entrance)", "/", 1),
         (q_segment, "Organic Search", "mobile", "/", "/a", 1),
         (q_segment, "Organic Search", "mobile", "/a", "(exit)", 1)]
    rows = [("lost", "Direct", "desktop", "(entrance)", "/b", 1), ("lost", "Direct", "desktop", "/b", "(exit)", 1),
            ("new", "Direct", "desktop", "(entrance)", "/", 1), ("new", "Direct", "desktop", "/", "/p", 1),
            ("new", "Direct", "desktop", "/p", "(exit)", 1)]
    return sorted(rows + q)


def _golden_cohorts(q_segment: str, late: bool = False) -> list[tuple]:
    w0527, w0624, w0701, w0226 = date(2024, 5, 27), date(2024, 6, 24), date(2024, 7, 1), date(2024, 2, 26)
    # with the late event, q is active in week 06-24 too
    return sorted([("clients", w0527, w0624, "Direct", "desktop", "new", 1)] * late + [
        ("clients", w0226, w0226, "Direct", "desktop", "new", 1),   # l's first visit
        ("clients", w0226, w0701, "Direct", "desktop", "new", 1),   # l back in week 07-01
        ("clients", w0527, w0527, "Direct", "desktop", "new", 1),   # q's first visit
        ("clients", w0527, w0701, "Direct", "desktop", "new", 1),   # q back in week 07-01 (its cohort: 05-31's)
        ("clients", w0701, w0701, "Direct", "desktop", "new", 2),   # n, v
        ("purchasers", w0701, w0701, "Direct", "desktop", "new", 1),  # n
        ("purchasers", w0701, w0701, "Organic Search", "mobile", q_segment, 1),  # q: its 07-01 session's segment
    ])


def _run(world) -> None:
    r = world.run_cli()
    assert r["status"] == "succeeded", r


@pytest.mark.integration
def test_golden_day_late_event_and_rebuild(world):
    world.put(object_key(datetime(2024, 7, 2, tzinfo=UTC), "jr"), ndjson(LINES))
    _run(world)
    assert world.query(_TRANSITIONS, (DAY,)) == _golden_day("at_risk")
    assert world.query(_COHORTS) == _golden_cohorts("at_risk")
    assert world.query("""SELECT client_id, session_date, segment, pages, page_dates FROM dw.session_journeys
                           WHERE client_id = 'q' ORDER BY session_start""") == [
        ("q", date(2024, 5, 31), "new", ["/"], [date(2024, 5, 31)]),
        ("q", DAY, "at_risk", ["/", "/a"], [DAY, DAY]),
    ]
    assert world.query("SELECT segment, pages, page_dates, path_ids FROM dw.session_journeys "
                       "WHERE client_id = 'v'") == [("new", [], [], [])]
    assert world.rebuilt() == world.snapshot()

    # the late event (within the freshness window): q's 06-29 session makes its 07-01 session 'active'
    world.put(object_key(datetime(2024, 7, 2, 1, tzinfo=UTC), "late"), ndjson(LATE))
    _run(world)
    incremental = world.snapshot()
    assert world.query(_TRANSITIONS, (DAY,)) == _golden_day("active")
    assert world.query(_COHORTS) == _golden_cohorts("active", late=True)
    assert world.query("SELECT segment, pages FROM dw.session_journeys WHERE client_id = 'q' AND session_date = %s",
                       (date(2024, 6, 29),)) == [("active", ["/"])]  # 29 days after 05-31
    assert world.rebuilt() == incremental
    _run(world)  # a run with nothing new changes nothing
    after = world.snapshot()
    for table in ("dw.session_journeys", "dw.agg_daily_transitions_dims", "dw.agg_weekly_retention_dims",
                  "dw.agg_retention_dims_members"):
        assert after[table] == incremental[table], table


@pytest.mark.integration
def test_summed_over_every_channel_device_and_segment_the_rows_equal_the_unfiltered_aggregates(world):
    """Also: a session's segment here is the one dw.agg_hourly_dims gives it (the same rule)."""
    world.put(object_key(datetime(2024, 7, 2, tzinfo=UTC), "jr"), ndjson(LINES))
    _run(world)
    world.put(object_key(datetime(2024, 7, 2, 1, tzinfo=UTC), "late"), ndjson(LATE))
    _run(world)
    dims = world.query("""SELECT activity_date, user_login_state, from_page, to_page, sum(transitions)
                            FROM dw.agg_daily_transitions_dims GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""")
    plain = world.query("SELECT * FROM dw.agg_daily_page_transitions ORDER BY 1, 2, 3, 4")
    assert dims == plain and plain
    dims = world.query("""SELECT cohort, cohort_week, active_week, sum(clients) FROM dw.agg_weekly_retention_dims
                           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""")
    plain = world.query("SELECT * FROM dw.agg_weekly_retention ORDER BY 1, 2, 3")
    assert dims == plain and plain
    by_session = world.query("""SELECT session_date, user_login_state, channel_group, device_category, segment,
                                       count(*) FROM dw.session_journeys
                                 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""")
    hourly = world.query("""SELECT activity_date, user_login_state, channel_group, device_category, segment,
                                   sum(sessions) FROM dw.agg_hourly_dims GROUP BY 1, 2, 3, 4, 5
                            HAVING sum(sessions) > 0 ORDER BY 1, 2, 3, 4, 5""")
    assert by_session == hourly and hourly
    assert world.query("SELECT count(*) FROM dw.session_journeys")[0][0] == world.query(
        "SELECT count(*) FROM dw.sessions")[0][0]
    # the common paths' ids: one per prefix of up to 5 pages, each naming its pages in dw.journey_paths
    prefixes = world.query("""SELECT j.pages[1:k], p.pages FROM dw.session_journeys j
                                CROSS JOIN LATERAL generate_subscripts(j.path_ids, 1) AS k
                                LEFT JOIN dw.journey_paths p ON p.path_id = j.path_ids[k] ORDER BY 1""")
    assert prefixes and all(mine == named for mine, named in prefixes)
    assert [r[0] for r in prefixes] == sorted(r[0] for r in world.query(
        """SELECT j.pages[1:k] FROM dw.session_journeys j
            CROSS JOIN LATERAL generate_series(1, least(cardinality(j.pages), 5)) AS k"""))
