"""The demo's days (a shared audience of returning clients, the channel mix, devices, a campaign day) through the
real ETL: the warehouse's sessions and first visits equal the summed report, clients come back on other days, and
the sessions carry the channels and devices the generator made."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from traffic import TrafficReport
from traffic.demo import _config, plan
from traffic.runner import run_s3

from tests.etl.helpers import make_world

pytestmark = pytest.mark.integration


def test_demo_days_through_the_etl(pg_server, moto_server, monkeypatch, products):
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    world = make_world(pg_server, moto_server, "traffic-demo-truth")
    parts = [p for p in plan(datetime.now(UTC), 40, 11, days=12) if p.sink == "s3"]
    assert any(p.campaign for p in parts) and all(p.audience for p in parts if "incident" not in p.name)
    total = TrafficReport(dataclasses.replace(_config(parts[0]), end=parts[-1].end))
    for part in parts:
        report, _ = run_s3(_config(part), products, bucket=world.bucket, lines_per_object=400)
        total.merge(report)
    truth = total.as_dict()
    run = world.run_cli(timeout=900)
    assert run["_rc"] == 0 and run["status"] == "succeeded", run
    ((events, clients, first_visits),) = world.query(
        "SELECT count(*), count(DISTINCT client_id), count(*) FILTER (WHERE is_first_visit) FROM dw.events")
    assert events == truth["expected"]["warehouse_events"]
    assert clients == first_visits == truth["expected"]["first_visits"]
    assert world.query("SELECT count(*) FROM dw.sessions") == [(truth["expected"]["warehouse_sessions"],)]
    # clients come back on other days
    ((returning,),) = world.query("SELECT count(*) FROM (SELECT client_id FROM dw.sessions GROUP BY client_id "
                                  "HAVING count(DISTINCT session_date) > 1) r")
    assert returning > 0.1 * clients
    channels = dict(world.query("SELECT channel_group, count(*) FROM dw.sessions GROUP BY 1"))
    assert {"Direct", "Organic Search", "Paid Search", "Organic Social", "Paid Social", "Email", "Referral",
            "Affiliates", "Display", "Organic Video"} <= set(channels)
    assert world.query("SELECT count(*) FROM dw.sessions WHERE campaign LIKE 'newsletter-%%'")[0][0] > 0
    devices = dict(world.query("SELECT device_category, count(*) FROM dw.sessions GROUP BY 1"))
    assert set(devices) == {"desktop", "mobile", "tablet"}
    assert world.query("SELECT count(*) FROM dw.sessions WHERE source IS NULL OR browser IS NULL") == [(0,)]
