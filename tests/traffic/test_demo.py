"""The demo month of `make up` (traffic.demo): 30 calendar days, past days as raw objects in time order, the last
24 hours over HTTP, weekday pattern, a campaign spike and a bad-data incident."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from traffic import demo

from .conftest import FIXED_END
from .test_sinks import REJECTED_KEY, _bucket, _objects, aws_env, capture  # noqa: F401 - fixtures

END = FIXED_END.replace(hour=17, minute=23, second=5)


def test_plan_covers_thirty_calendar_days_in_time_order_and_ends_with_the_last_day_over_http():
    parts = demo.plan(END, 400, 7)
    first_day = datetime(END.year, END.month, END.day, tzinfo=UTC) - timedelta(days=29)
    regular = [p for p in parts if "incident" not in p.name]
    assert regular[0].start == first_day and regular[-1].end == END
    assert all(a.end == b.start for a, b in itertools.pairwise(regular)), "gaps or overlaps"
    assert [p.start for p in parts] == sorted(p.start for p in parts), "the ETL lists keys in time order"
    assert {p.start.date() for p in regular} | {END.date()} == {first_day.date() + timedelta(days=i)
                                                                for i in range(30)}
    http = parts[-1]
    assert http.sink == "http" and http.end - http.start == timedelta(days=1)
    assert all(p.sink == "s3" and p.end <= http.start for p in parts[:-1])
    assert len({p.seed for p in parts}) == len(parts), "every part is a different crowd"


def test_plan_has_a_weekday_pattern_a_campaign_and_an_incident():
    parts = demo.plan(END, 400, 7)
    full = [p for p in parts if p.sink == "s3" and p.end - p.start == timedelta(days=1) and "incident" not in p.name]
    by_weekday = {p.start.weekday(): p.clients for p in full if "campaign" not in p.name}
    assert by_weekday[5] > by_weekday[3] > by_weekday[0]  # Saturday > Thursday > Monday
    campaign = [p for p in full if "campaign" in p.name]
    assert len(campaign) == 1 and campaign[0].clients >= 1.5 * max(by_weekday.values())
    assert (END.date() - campaign[0].start.date()).days == demo.CAMPAIGN_DAYS_AGO
    incident = [p for p in parts if "incident" in p.name]
    assert len(incident) == 1 and incident[0].malformed and incident[0].corrupt_lines > 0
    assert incident[0].end - incident[0].start == timedelta(hours=2)


@pytest.mark.integration
def test_demo_writes_the_past_to_the_bucket_and_the_last_day_over_http(aws_env, moto_server, capture,  # noqa: F811
                                                                        products):
    _bucket(moto_server, "demo-raw")
    capture.fail_left = 0
    parts = demo.plan(END, 40, 3)
    result = demo.run_demo(parts, products, bucket="demo-raw", endpoint_url=moto_server.url,
                           url=f"http://127.0.0.1:{capture.server_address[1]}/clickstream", progress=None)
    objects = _objects(moto_server.client("s3"), "demo-raw")
    http_start = parts[-1].start
    hours = {datetime.strptime(k.split("/", 1)[1][:13], "%Y/%m/%d/%H").replace(tzinfo=UTC) for k in objects}
    assert max(hours) <= http_start, "the last 24 hours go over HTTP only"
    lines = Counter()
    for key, body in objects.items():
        lines["rejected" if REJECTED_KEY.match(key) else "events"] += body.count(b"\n")
    s3_parts = [p for p in result["parts"] if p["sink"] == "s3"]
    assert lines["rejected"] == sum(p["malformed"] for p in s3_parts) == result["delivery"]["s3"]["rejected_lines"]
    assert lines["events"] == result["delivery"]["s3"]["event_lines"] + result["delivery"]["s3"]["corrupt_lines"]
    assert result["delivery"]["s3"]["corrupt_lines"] > 0, "the incident's truncated lines"
    incident = next(p for p in s3_parts if "incident" in p["name"])
    assert incident["malformed"] > 0.1 * incident["events"]
    sent = [json.loads(b) for b in capture.bodies]
    assert sum(len(b["events"]) for b in sent) == result["delivery"]["http"]["events"]
    assert result["delivery"]["http"]["failed_requests"] == 0
    assert len(result["events"]["by_day"]) == 30
    assert result["events"]["valid"] == sum(p["events"] for p in result["parts"])
    assert result["expected"]["warehouse_events"] == result["events"]["valid"]
