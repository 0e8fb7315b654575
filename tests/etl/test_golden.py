"""Hand-checked golden dataset over three ETL runs against a real PostgreSQL and the emulator's S3.

Timeline (UTC, 2024-05-01; session timeout 30 min):
- A: 10:00 page_view /, 10:00:20 page_view /laptops, 10:01 view_item p1, 10:02 add_to_cart p1   (run 1)
     10:25 begin_checkout p1, 10:26 purchase p1 x2 @900 (logged in as u1)                      (run 2: same session)
     11:30 page_view / (64 min later: a new session)                                           (run 2)
- B: 12:00 page_view /monitors, 12:00:05 view_item p2 (bounce, 5 s) | 13:00 page_view /monitors, 13:00:30
     view_item p2, 13:00:40 add_to_cart p2 (second session, 40 s)                              (run 1)
- D: 09:00 page_view /about (the only valid line of a file with 7 bad ones)                     (run 1)
- C: 14:00 page_view /, 14:10 page_view /deals (+ the same event again)                         (run 2)
     13:55 page_view /storage, arriving late                                                   (run 3)
- Run 2 also gets a byte-for-byte copy of run 1's file of A under another key (4 duplicates).
Every landing page has no UTM parameters and no referrer: every session is direct (test_attribution.py has the
golden attribution over several channels).
"""

from __future__ import annotations

from decimal import Decimal

from .golden import D, all_runs, t


def _put(world, files: dict[str, bytes]) -> None:
    for key, body in files.items():
        world.put(key, body)


def _sessions(world) -> dict[str, list[tuple]]:
    rows = world.query("""SELECT client_id, session_id::text, session_start, session_end, duration_seconds, event_count,
                                 page_view_count, landing_page, exit_page, is_engaged, is_converted, is_first_visit,
                                 revenue, user_login_state, user_id
                          FROM dw.sessions ORDER BY client_id, session_start""")
    out: dict[str, list[tuple]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r[1:])
    return out


def test_golden_three_runs(world):
    run1, run2, run3 = all_runs()

    _put(world, run1)
    r1 = world.run_cli()
    assert r1["_rc"] == 0, r1["_stderr"]
    assert (r1["status"], r1["files_loaded"], r1["events_loaded"], r1["rejects"]) == ("succeeded", 3, 10, 7)
    assert r1["rejects_by_reason"] == {"future_event": 1, "invalid_field": 2, "malformed_json": 1,
                                       "missing_field": 1, "not_an_object": 1, "stale_event": 1}
    s1 = _sessions(world)
    a_first_id = s1["A"][0][0]
    assert [(s[1], s[2], s[4]) for s in s1["A"]] == [(t(10), t(10, 2), 4)]

    _put(world, run2)
    r2 = world.run_cli()
    assert (r2["status"], r2["files_loaded"], r2["events_loaded"], r2["duplicates"], r2["rejects"]) == \
        ("succeeded", 3, 5, 5, 0)
    _put(world, run3)
    r3 = world.run_cli()
    assert (r3["status"], r3["files_loaded"], r3["events_loaded"]) == ("succeeded", 1, 1)
    # nothing left: a fourth run loads nothing
    r4 = world.run_cli()
    assert (r4["status"], r4["files_seen"], r4["events_loaded"]) == ("succeeded", 0, 0)

    s = _sessions(world)
    # A: the session that went on across runs 1 and 2 is still one session, with the same id.
    a1, a2 = s["A"]
    assert a1 == (a_first_id, t(10), t(10, 26), Decimal("1560.000"), 6, 2, "/", "/laptops", True, True, True,
                  Decimal("1800.00"), "logged_in", "u1")
    assert a2[1:] == (t(11, 30), t(11, 30), Decimal("0.000"), 1, 1, "/", "/", False, False, False,
                      Decimal("0.00"), "logged_in", "u1")
    b1, b2 = s["B"]
    assert b1[1:] == (t(12), t(12, 0, 5), Decimal("5.000"), 2, 1, "/monitors", "/monitors", False, False, True,
                      Decimal("0.00"), "logged_out", None)
    assert b2[1:] == (t(13), t(13, 0, 40), Decimal("40.000"), 3, 1, "/monitors", "/monitors", True, False, False,
                      Decimal("0.00"), "logged_out", None)
    # C: the late 13:55 event joined the 14:00 session (5 min gap) and became its start and C's first visit.
    (c,) = s["C"]
    assert c[1:] == (t(13, 55), t(14, 10), Decimal("900.000"), 3, 3, "/storage", "/deals", True, False, True,
                     Decimal("0.00"), "logged_out", None)
    (d,) = s["D"]
    assert d[1:6] == (t(9), t(9), Decimal("0.000"), 1, 1)
    assert set(s) == {"A", "B", "C", "D"}

    # every event points at the session that contains it; no duplicate events
    assert world.query("SELECT count(*), count(DISTINCT event_id) FROM dw.events") == [(16, 16)]
    assert world.query("""SELECT count(*) FROM dw.events e JOIN dw.sessions s USING (session_id)
                          WHERE e.event_timestamp BETWEEN s.session_start AND s.session_end
                            AND e.client_id = s.client_id""") == [(16,)]
    firsts = world.query("SELECT client_id, event_timestamp FROM dw.events WHERE is_first_visit ORDER BY 1")
    assert firsts == [("A", t(10)), ("B", t(12)), ("C", t(13, 55)), ("D", t(9))]
    assert world.query("SELECT client_id, first_seen_at, last_seen_at FROM dw.clients ORDER BY 1") == [
        ("A", t(10), t(11, 30)), ("B", t(12), t(13, 0, 40)), ("C", t(13, 55), t(14, 10)), ("D", t(9), t(9))]

    # funnel: sessions reaching each step, overall and per category/brand, by the session's login state
    funnel = {r[:3]: r[3:] for r in world.query(
        """SELECT product_category, product_brand, user_login_state, view_item_sessions, add_to_cart_sessions,
                  begin_checkout_sessions, purchase_sessions FROM dw.agg_daily_funnel WHERE activity_date = %s""",
        (D.date(),))}
    assert funnel == {
        ("(all)", "(all)", "logged_in"): (1, 1, 1, 1),
        ("(all)", "(all)", "logged_out"): (2, 1, 0, 0),
        ("laptops", "(all)", "logged_in"): (1, 1, 1, 1),
        ("laptops", "Lenovo", "logged_in"): (1, 1, 1, 1),
        ("monitors", "(all)", "logged_out"): (2, 1, 0, 0),
        ("monitors", "Dell", "logged_out"): (2, 1, 0, 0),
    }
    products = world.query("""SELECT product_id, product_category, product_brand, user_login_state, product_name,
                                     views, add_to_carts, purchases, units, revenue, viewing_sessions
                              FROM dw.agg_daily_product ORDER BY product_id""")
    assert products == [
        ("p1", "laptops", "Lenovo", "logged_in", "ThinkPad X1", 1, 1, 1, 2, Decimal("1800.00"), 1),
        ("p2", "monitors", "Dell", "logged_out", "UltraSharp 27", 2, 1, 0, 0, Decimal("0.00"), 2),
    ]
    transitions = {r[:3]: r[3] for r in world.query(
        "SELECT user_login_state, from_page, to_page, transitions FROM dw.agg_daily_page_transitions")}
    assert transitions == {
        ("logged_in", "(entrance)", "/"): 2, ("logged_in", "/", "/laptops"): 1,
        ("logged_in", "/laptops", "(exit)"): 1, ("logged_in", "/", "(exit)"): 1,
        ("logged_out", "(entrance)", "/monitors"): 2, ("logged_out", "/monitors", "(exit)"): 2,
        ("logged_out", "(entrance)", "/storage"): 1, ("logged_out", "/storage", "/"): 1,
        ("logged_out", "/", "/deals"): 1, ("logged_out", "/deals", "(exit)"): 1,
        ("logged_out", "(entrance)", "/about"): 1, ("logged_out", "/about", "(exit)"): 1,
    }
    daily = world.query("""SELECT user_login_state, sessions, engaged_sessions, converted_sessions,
                                  first_visit_sessions, clients, page_views, revenue
                           FROM dw.agg_daily_sessions ORDER BY 1""")
    assert daily == [("logged_in", 2, 1, 1, 1, 1, 3, Decimal("1800.00")),
                     ("logged_out", 4, 2, 0, 3, 3, 6, Decimal("0.00"))]
    # distinct visitors (the overview's exact count of any range): A, B, C, D, none active on an earlier day
    returns = world.query("""SELECT user_login_state, previous_date::text, clients FROM dw.agg_daily_client_returns
                             ORDER BY 1""")
    assert returns == [("(all)", "-infinity", 4), ("logged_in", "-infinity", 1), ("logged_out", "-infinity", 3)]
    hourly = {r[0].hour: r[1:] for r in world.query(
        """SELECT activity_hour, sum(events), sum(page_views), sum(purchases), sum(revenue), sum(sessions_started),
                  sum(first_visits) FROM dw.agg_hourly_activity GROUP BY 1""")}
    assert hourly == {9: (1, 1, 0, Decimal("0.00"), 1, 1), 10: (6, 2, 1, Decimal("1800.00"), 1, 1),
                      11: (1, 1, 0, Decimal("0.00"), 1, 0), 12: (2, 1, 0, Decimal("0.00"), 1, 1),
                      13: (4, 2, 0, Decimal("0.00"), 2, 1), 14: (2, 2, 0, Decimal("0.00"), 0, 0)}

    # attribution (docs/warehouse.md, "Attribution"): A's one purchase (10:26, 2 x 900.00 = 1800.00), in the session
    # that began in run 1 and went on in run 2. A's window (the 30-day lookback, up to its own session) holds that
    # session only, which landed on "/" with no referrer: direct. So every model credits Direct 1 / 1800.00
    # (last_non_direct: no non-direct session, so the purchase's own).
    attribution = world.query("""SELECT model, channel_group, source, medium, campaign, purchases, revenue
                                   FROM dw.agg_daily_attribution WHERE activity_date = %s ORDER BY 1""", (D.date(),))
    assert attribution == [(m, "Direct", "(direct)", "(none)", "(direct)", Decimal(1), Decimal("1800.00"))
                           for m in ("first_touch", "last_non_direct", "linear")]
    assert world.query("SELECT count(*) FROM dw.agg_daily_attribution") == [(3,)]

    # run log and rejects
    rejects = world.query("SELECT line_number, reason, detail FROM etl.rejects ORDER BY line_number")
    assert [(n, r) for n, r, _ in rejects] == [
        (2, "malformed_json"), (3, "not_an_object"), (4, "missing_field"), (5, "invalid_field"),
        (6, "stale_event"), (7, "future_event"), (8, "invalid_field")]
    assert rejects[2][2] == "client_id" and rejects[3][2] == "event_timestamp" and rejects[6][2] == "product.price"
    raw2 = world.query("SELECT raw_line FROM etl.rejects WHERE line_number = 2")[0][0]
    assert raw2 == '{"event_name": "page_view", "client_id": '
    runs = world.query("SELECT status, files_loaded, events_loaded, duplicates, rejects FROM etl.runs ORDER BY 1")
    assert sorted(runs) == sorted([("succeeded", 3, 10, 0, 7), ("succeeded", 3, 5, 5, 0),
                                   ("succeeded", 1, 1, 0, 0), ("succeeded", 0, 0, 0, 0)])
    assert world.query("SELECT count(*) FROM etl.files") == [(7,)]
    assert world.query("SELECT count(*) FROM etl.dirty_days") == [(0,)]
    snapshot = world.snapshot()
    assert world.rebuilt() == snapshot  # incremental aggregates = a recompute from dw.events / dw.sessions


def test_same_tables_whether_loaded_in_one_run_or_three(world):
    """The derived tables depend on the set of loaded events only, not on how runs split them."""
    runs = all_runs()
    for files in runs:
        _put(world, files)
        assert world.run_cli()["status"] == "succeeded"
    incremental = world.snapshot()
    other = world.fresh_database()
    r = world.run_cli(env=world.env(DW_NAME=other))
    assert r["status"] == "succeeded" and r["files_loaded"] == 7
    once = world.snapshot()
    # run ids/load times are not compared; everything else must match exactly
    assert once == incremental
