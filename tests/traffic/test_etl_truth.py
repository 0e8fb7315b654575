"""The generator's truth against the real ETL: raw objects from the S3 sink -> `python -m clickstream_etl` ->
warehouse counts equal the report (events, duplicates dropped, sessions, first visits, funnel, revenue)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from traffic.generator import FUNNEL_STEPS
from traffic.runner import run_s3

from tests.etl.helpers import make_world

from .conftest import config

pytestmark = pytest.mark.integration


def test_warehouse_after_the_etl_matches_the_generator_report(pg_server, moto_server, monkeypatch, products):
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    world = make_world(pg_server, moto_server, "traffic-truth")
    cfg = config(end=None, clients=150, malformed=0.02, duplicate=0.03)  # a demo day ending now
    report, stats = run_s3(cfg, products, bucket=world.bucket, lines_per_object=400, corrupt_lines=0.005)
    truth = report.as_dict()
    run = world.run_cli(timeout=600)
    assert run["_rc"] == 0 and run["status"] == "succeeded", run
    ((events, clients, first_visits),) = world.query(
        "SELECT count(*), count(DISTINCT client_id), count(*) FILTER (WHERE is_first_visit) FROM dw.events"
    )
    assert events == truth["expected"]["warehouse_events"]
    assert clients == first_visits == truth["expected"]["first_visits"]
    by_name = dict(world.query("SELECT event_name, count(*) FROM dw.events GROUP BY 1"))
    assert by_name == truth["events"]["by_name"]
    ((sessions, engaged, converted, revenue),) = world.query(
        "SELECT count(*), count(*) FILTER (WHERE is_engaged), count(*) FILTER (WHERE is_converted),"
        " coalesce(sum(revenue), 0) FROM dw.sessions"
    )
    assert sessions == truth["expected"]["warehouse_sessions"]
    assert engaged == truth["sessions"]["engaged"]
    assert converted == truth["sessions"]["converted"]
    assert revenue == Decimal(truth["purchases"]["revenue"])
    ((duplicates, rejects),) = world.query("SELECT sum(duplicates), sum(rejects) FROM etl.runs")
    assert duplicates == truth["events"]["duplicates"]
    assert rejects == stats.corrupt_lines > 0
    per_day_state = world.query(
        "SELECT activity_date::text || '/' || user_login_state, sessions FROM dw.agg_daily_sessions"
    )
    assert dict(per_day_state) == truth["sessions"]["by_day_and_login_state"]
    funnel: dict[str, int] = {}
    for day, view, cart, checkout, purchase in world.query(
        "SELECT activity_date::text, sum(view_item_sessions), sum(add_to_cart_sessions),"
        " sum(begin_checkout_sessions), sum(purchase_sessions) FROM dw.agg_daily_funnel"
        " WHERE product_category = '(all)' AND product_brand = '(all)' GROUP BY 1"
    ):
        steps = zip(FUNNEL_STEPS, (view, cart, checkout, purchase), strict=True)
        funnel.update({f"{day}/{step}": int(n) for step, n in steps if n})
    assert funnel == truth["sessions"]["funnel_by_day"]
