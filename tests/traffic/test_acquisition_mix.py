"""The generator's acquisition, devices and returning clients, judged by the platform's own rules: the ETL's
channel grouping of each session's landing event (clickstream_etl.acquisition) and the ingest's device of each
client's User-Agent (clickstream_ingest.device)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

from clickstream_etl.acquisition import acquisition
from clickstream_ingest.device import device
from traffic import TrafficReport, iter_clients
from traffic.demo import _config, plan
from traffic.generator import VALID
from traffic.http_sink import USER_AGENTS_BY_DEVICE, user_agent_for
from traffic.report import sessionize

from .conftest import FIXED_END, config


def _landings(cfg, products):
    """The landing event of every session of the run (the report's sessionization)."""
    for client in iter_clients(cfg, products):
        events = sorted((i.ts_ms, i.event) for b in client.batches for i in b.items if i.kind == VALID)
        for first, _ in sessionize((ts for ts, _ in events), cfg.session_timeout_s * 1000):
            yield client, events[first][1]


def test_sessions_arrive_through_the_usual_channels(products):
    cfg = config(clients=600)
    channels = Counter(acquisition(e["page"]["url_path"], e["page"]["referrer"]).channel_group
                       for _, e in _landings(cfg, products))
    total = sum(channels.values())
    expected = {"Direct", "Organic Search", "Paid Search", "Organic Social", "Paid Social", "Email", "Referral",
                "Affiliates", "Display", "Organic Video"}
    assert set(channels) == expected
    assert 0.22 < channels["Organic Search"] / total < 0.38 and 0.15 < channels["Direct"] / total < 0.3


def test_a_campaign_day_brings_its_email_campaign(products):
    cfg = config(clients=300, campaign="newsletter-2030-03-14")
    campaigns = Counter(acquisition(e["page"]["url_path"], e["page"]["referrer"]).campaign
                        for _, e in _landings(cfg, products))
    share = campaigns["newsletter-2030-03-14"] / sum(campaigns.values())
    assert 0.4 < share < 0.6


def test_clients_have_realistic_devices_as_the_ingest_sees_them(products):
    clients = [c.client_id for c in iter_clients(config(clients=2000), products)]
    seen = Counter(device(user_agent_for(c)).category for c in clients)
    for category, (share, _) in USER_AGENTS_BY_DEVICE.items():
        assert abs(seen[category] / len(clients) - share) < 0.04, (category, seen)
    assert sum(seen.values()) == len(clients)  # no other category: every agent is a known browser


def test_demo_days_share_returning_clients_and_the_report_counts_each_once(products):
    parts = [p for p in plan(FIXED_END, 60, 5, days=8) if p.sink == "s3" and "incident" not in p.name][-4:]
    total = TrafficReport(_config(parts[0]))
    ids_by_part = []
    for part in parts:
        cfg = _config(part)
        report = TrafficReport(cfg)
        ids = []
        for client in iter_clients(cfg, products):
            report.add(client)
            ids.append(client.client_id)
            if client.member:  # a member's sessions start past the session gap: never one with the day before
                first = min(i.ts_ms for b in client.batches for i in b.items)
                assert first >= (cfg.start + timedelta(seconds=cfg.session_gap_min_s)).timestamp() * 1000
        assert len(ids) == len(set(ids))
        ids_by_part.append(set(ids))
        total.merge(report)
    distinct = set().union(*ids_by_part)
    assert len(distinct) < sum(len(ids) for ids in ids_by_part)  # some came back on another day
    assert total.clients == len(distinct)
    assert total.as_dict()["expected"]["first_visits"] == len(distinct)
    # without an audience every day has its own clients
    alone = [{c.client_id for c in iter_clients(dataclasses.replace(_config(p), audience_size=0), products)}
             for p in parts]
    assert sum(len(ids) for ids in alone) == len(set().union(*alone))
