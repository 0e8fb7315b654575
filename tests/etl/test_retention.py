"""Weekly retention cohorts (clickstream_etl.retention, sql/dw/0033): a hand-checked golden cohort table over two
ETL runs, a late event that moves a client into an earlier cohort, a re-run, and the incremental tables equal to
the rebuild (the full recompute) after every run.

Weeks are ISO weeks (Monday, UTC): W0 = 2024-04-29, W1 = 2024-05-06, W2 = 2024-05-13, W3 = 2024-05-20.

Run 1:
- a: page_view Mon 04-29 10:00 (first visit, W0); purchase Tue 04-30 (W0, first purchase); page_view 05-07 (W1);
     page_view 05-21 and purchase 05-22 (W3: active and purchased again).
- b: page_view Sun 05-05 23:50 and 05-06 00:05 (one session, 15 min: it starts in W0, so b is active in W0 only);
     purchase 05-14 (W2: first purchase).
- c: page_view 05-08 (first visit, W1), 05-10 (W1 again: one active week), 05-15 (W2).
- d: page_view Sun 05-12 (first visit, W1), nothing after.
- e: page_view and purchase 05-16 (first visit and first purchase, W2).
Run 2: e's page_view of 05-01, arriving late: e's first visit moves to W0 (its 05-16 session stays a later week).
Run 3: nothing new (a re-run) -- nothing changes.

Cohort table after run 1 (clients):  W0 {a, b}: W0 2, W1 1 (a), W2 1 (b's purchase session), W3 1 (a)
                                      W1 {c, d}: W1 2, W2 1 (c)
                                      W2 {e}:    W2 1
After run 2 (clients):                W0 {a, b, e}: W0 3, W1 1 (a), W2 2 (b, e), W3 1 (a)
                                      W1 {c, d}: W1 2, W2 1 (c)
Purchasers (both runs):               W0 {a}: W0 1, W3 1 (a bought again); W2 {b, e}: W2 2
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from .helpers import event_line, ndjson, object_key

W0, W1, W2, W3 = date(2024, 4, 29), date(2024, 5, 6), date(2024, 5, 13), date(2024, 5, 20)
KEYS_AT = datetime(2024, 5, 23, 12, tzinfo=UTC)  # the objects' keys: all after the events (the listing's lookback)
PRODUCT = {"id": "p1", "name": "P", "category": "c", "brand": "b", "price": "10.00"}


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def pv(client: str, ts: datetime) -> dict:
    return event_line("page_view", client, ts, page="/")


def buy(client: str, ts: datetime) -> dict:
    return event_line("purchase", client, ts, page="/checkout", product=PRODUCT, quantity=1)


RUN1 = [
    pv("a", at(4, 29, 10)), buy("a", at(4, 30)), pv("a", at(5, 7)), pv("a", at(5, 21)), buy("a", at(5, 22)),
    pv("b", at(5, 5, 23, 50)), pv("b", at(5, 6, 0, 5)), buy("b", at(5, 14)),
    pv("c", at(5, 8)), pv("c", at(5, 10)), pv("c", at(5, 15)),
    pv("d", at(5, 12)),
    pv("e", at(5, 16)), buy("e", at(5, 16, 12, 5)),
]
RUN2 = [pv("e", at(5, 1))]

PURCHASERS = [("purchasers", W0, W0, 1), ("purchasers", W0, W3, 1), ("purchasers", W2, W2, 2)]
AFTER_RUN1 = [("clients", W0, W0, 2), ("clients", W0, W1, 1), ("clients", W0, W2, 1), ("clients", W0, W3, 1),
              ("clients", W1, W1, 2), ("clients", W1, W2, 1), ("clients", W2, W2, 1), *PURCHASERS]
AFTER_RUN2 = [("clients", W0, W0, 3), ("clients", W0, W1, 1), ("clients", W0, W2, 2), ("clients", W0, W3, 1),
              ("clients", W1, W1, 2), ("clients", W1, W2, 1), *PURCHASERS]


def _table(world) -> list[tuple]:
    return world.query("SELECT cohort, cohort_week, active_week, clients FROM dw.agg_weekly_retention ORDER BY 1, 2, 3")


def _run(world, lines: list[dict], name: str) -> None:
    if lines:
        world.put(object_key(KEYS_AT, name), ndjson(lines))
    r = world.run_cli()
    assert r["status"] == "succeeded", r


def test_golden_cohorts_late_event_and_rerun(world):
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


def test_apply_again_changes_nothing(world):
    """The retention apply replaces the pending clients' rows: applying it twice for the same clients (a run cut
    after the 'sessions' part committed, then applied again) gives the same tables."""
    from clickstream_etl import retention

    _run(world, RUN1, "r1")
    before = world.snapshot()
    world.execute("INSERT INTO etl.delta_clients (client_id, win_start) "
                  "SELECT client_id, first_seen_at FROM dw.clients",
                  *retention.APPLY, "DELETE FROM etl.delta_clients")  # one transaction
    assert world.snapshot() == before
