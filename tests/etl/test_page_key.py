"""The page of a page view in journeys and page transitions is its path without the query string
(rules.page_key_sql): a landing page tagged with gclid / utm_* parameters is the same page as the untagged one,
so tagged URLs do not split the transitions into one row per click id. The query string stays in dw.events (the
session's acquisition reads it). Incremental and rebuilt transitions agree."""

from __future__ import annotations

from datetime import UTC, date, datetime

from .helpers import event_line, ndjson, object_key

DAY = date(2024, 5, 10)


def at(minute: int) -> datetime:
    return datetime(2024, 5, 10, 10, minute, tzinfo=UTC)


LINES = [
    event_line("page_view", "a", at(0), page="/?gclid=abc123"),
    event_line("page_view", "a", at(1), page="/products/p1?utm_source=news&utm_medium=email"),
    event_line("page_view", "a", at(2), page="/products/p1"),
    event_line("page_view", "b", at(3), page="/?utm_source=fb&utm_medium=social"),
    event_line("page_view", "b", at(4), page="/products/p1"),
    event_line("page_view", "c", at(5), page="/"),
]
# (from_page, to_page) -> transitions, hand-checked
EXPECTED = {("(entrance)", "/"): 3, ("/", "/products/p1"): 2, ("/products/p1", "/products/p1"): 1,
            ("/products/p1", "(exit)"): 2, ("/", "(exit)"): 1}


def test_transitions_count_pages_without_their_query_string(world):
    world.put(object_key(datetime(2024, 5, 10, 11, tzinfo=UTC), "tagged"), ndjson(LINES))
    r = world.run_cli()
    assert r["status"] == "succeeded", r
    got = {(f, t): n for f, t, n in world.query(
        "SELECT from_page, to_page, sum(transitions)::int FROM dw.agg_daily_page_transitions GROUP BY 1, 2")}
    assert got == EXPECTED
    # the events keep the query string: the session's acquisition is read from it
    assert world.query("SELECT count(*) FROM dw.events WHERE page_url_path LIKE '%%?%%'") == [(3,)]
    incremental = world.snapshot()
    assert world.rebuilt() == incremental
