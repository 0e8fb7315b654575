"""The business rules (clickstream_etl/rules.py): where a rule also has an SQL form -- in the package for the
aggregates (revenue, page view), in the tests' SQL oracle of the sessionization (tests/etl/oracle) -- both forms give
the same answers, asked of PostgreSQL on the same inputs; the rules with one form answer as documented; and no module
of the ETL writes the rules' constants again."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from clickstream_etl import rules
from hypothesis import given, settings
from hypothesis import strategies as st

from . import oracle

PACKAGE = Path(rules.__file__).parent


@pytest.fixture(scope="module")
def cursor(pg_server):
    conn = psycopg2.connect(pg_server.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SET timezone = 'UTC'")
            yield cur
    finally:
        conn.close()


_MONEY = st.one_of(st.none(), st.decimals(min_value=0, max_value=10**6, places=3).map(str))


@settings(max_examples=150, deadline=None)
@given(price=_MONEY, discount=_MONEY, quantity=st.one_of(st.none(), st.integers(0, 50).map(str)),
       name=st.sampled_from(["purchase", "view_item", "page_view"]))
def test_revenue(cursor, price, discount, quantity, name):
    cursor.execute(f"SELECT {oracle.event_revenue_sql('e')} FROM (SELECT %s AS event_name, "  # noqa: S608
                   "%s::numeric(14, 2) AS product_price, %s::numeric(14, 2) AS product_discount_price, "
                   "%s::integer AS quantity) e", (name, price, discount, quantity))
    expected = rules.revenue(price, discount, quantity) if name == rules.PURCHASE else Decimal(0)
    assert cursor.fetchone()[0] == expected


@pytest.mark.parametrize("stated", [None, "logged_in", "logged_out"])
@pytest.mark.parametrize("user_id", [None, "u-1"])
def test_login_state(stated, user_id):
    """Decided in Python only, for every line (the general decoder in PostgreSQL leaves it to ``decoded_row``)."""
    expected = stated or (rules.LOGGED_IN if user_id is not None else rules.LOGGED_OUT)
    assert rules.login_state(stated, user_id) == expected


_AT = datetime(2024, 5, 1, 12, tzinfo=UTC)
_WINDOW = rules.Freshness(timedelta(hours=72), timedelta(minutes=15))


@pytest.mark.parametrize(("offset", "expected"), [
    (timedelta(hours=-72, microseconds=-1), rules.STALE), (timedelta(hours=-72), None), (timedelta(0), None),
    (timedelta(minutes=15), None), (timedelta(minutes=15, microseconds=1), rules.FUTURE)])
def test_freshness(offset, expected):
    assert _WINDOW.problem(_AT + offset, _AT) == expected
    assert _WINDOW.problem(_AT + offset, None) == rules.NO_RECEIVED


@pytest.mark.parametrize(("at", "received", "expected"), [
    (datetime.min.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC), None),
    (datetime.max.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC), None),
    (datetime.max.replace(tzinfo=UTC), _AT, rules.FUTURE),
    (datetime.min.replace(tzinfo=UTC), _AT, rules.STALE),
    (_AT, datetime.max.replace(tzinfo=UTC), rules.STALE),
    (_AT, datetime.min.replace(tzinfo=UTC), rules.FUTURE)])
def test_freshness_at_the_ends_of_the_stored_range(at, received, expected):
    """Any instant the decoders accept (years 1 to 9999) gets an answer, not an OverflowError."""
    assert _WINDOW.problem(at, received) == expected


@pytest.mark.parametrize("gap", [timedelta(minutes=29, seconds=59), timedelta(minutes=30),
                                 timedelta(minutes=30, microseconds=1)])
def test_session_boundary(cursor, gap):
    timeout = timedelta(minutes=30)
    cursor.execute(f"SELECT {oracle.new_session_sql('%(gap)s::interval')}, "
                   f"{oracle.continues_sql('%(end)s::timestamptz', '%(at)s::timestamptz')}",
                   {"gap": gap, "timeout": timeout, "end": _AT, "at": _AT + gap})
    new, continues = cursor.fetchone()
    assert new == rules.new_session(gap, timeout) and continues == (not rules.new_session(gap, timeout))


@pytest.mark.parametrize("start", [_AT, _AT + timedelta(microseconds=123456), datetime(1969, 12, 31, 23, tzinfo=UTC)])
def test_session_id(cursor, start):
    cursor.execute(f"SELECT {oracle.SESSION_ID_SQL.format(client_id='%(c)s::text', start='%(s)s::timestamptz')}",
                   {"c": "client-é", "s": start})
    assert str(cursor.fetchone()[0]) == rules.session_id("client-é", start)


@pytest.mark.parametrize(("ms", "purchases", "page_views"), [
    (10_000, 0, 1), (10_001, 0, 1), (0, 1, 0), (0, 0, 2), (9_999, 0, 1), (10_000, 0, 0)])
def test_engaged_and_converted(cursor, ms, purchases, page_views):
    cursor.execute(f"SELECT {oracle.ENGAGED_SQL}, {oracle.CONVERTED_SQL} FROM (SELECT "  # noqa: S608
                   "%s::numeric(12, 3) AS duration_seconds, %s AS purchase_count, %s AS page_view_count) s",
                   (Decimal(ms) / 1000, purchases, page_views))
    assert cursor.fetchone() == (rules.engaged(ms, purchases, page_views), rules.converted(purchases))


@pytest.mark.parametrize("name", ["page_view", "screen_view", "view_item", "Page_View"])
def test_page_view(cursor, name):
    cursor.execute(f"SELECT {rules.page_view_sql('%s')}", (name,))
    assert cursor.fetchone()[0] == (name in rules.PAGE_VIEW_EVENTS)


@pytest.mark.parametrize("states", [[True], [False], [False, True, False], [False, False]])
def test_session_login_state(cursor, states):
    values = ", ".join(f"('{rules.LOGGED_IN if s else rules.LOGGED_OUT}')" for s in states)
    cursor.execute(f"SELECT {oracle.SESSION_LOGIN_SQL} FROM (VALUES {values}) e(user_login_state)")  # noqa: S608
    assert cursor.fetchone()[0] == (rules.LOGGED_IN if rules.session_logged_in(states) else rules.LOGGED_OUT)


# What a second copy of a rule would look like in the package's code: its constants written out again.
_COPIES = [r"'page_view',\s*'screen_view'", r"duration_seconds\s*>\s*10\b", r"page_view_count\s*>=\s*2\b",
           r"coalesce\(\w*\.?product_discount_price,\s*\w*\.?product_price", r"10_000", r"md5\(",
           r"THEN 'logged_in' ELSE 'logged_out'"]


def test_no_module_restates_a_rule():
    offenders = []
    for path in [*PACKAGE.glob("*.py"), *PACKAGE.glob("queries/*.sql")]:
        if path.name == "rules.py":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.name}: {pattern}" for pattern in _COPIES if re.search(pattern, text)]
    assert offenders == []


@pytest.mark.parametrize(("path", "page"), [("/", "/"), ("/products/p1?utm_source=x&gclid=1", "/products/p1"),
                                            ("/?gclid=a?b", "/"), ("/search?", "/search"), ("/a#b", "/a#b")])
def test_page_key(cursor, path, page):
    cursor.execute(f"SELECT {rules.page_key_sql('%s')}", (path,))
    assert cursor.fetchone()[0] == page


def test_dashboards_common_paths_use_the_page_key():
    """The Journeys dashboard's paths come from dw.session_journeys (sql/dw/0048), whose pages the ETL takes as the
    transitions do, with the rule's SQL form; the dashboard does not read page views itself."""
    from clickstream_etl import journeys

    assert any(rules.page_key_sql("e.page_url_path") in statement for statement in journeys.APPLY)
    assert any(rules.page_key_sql("e.page_url_path") in statement for statement in journeys.REBUILD)
    app = (PACKAGE.parents[3] / "files/shiny/app/logic/journeys.R").read_text(encoding="utf-8")
    assert "dw.events" not in app and "dw.session_journeys" in app
