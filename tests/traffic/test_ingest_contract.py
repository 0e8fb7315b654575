"""The generator against the ingest's own code: what it calls valid/malformed is what the ingest accepts/rejects,
and the S3 sink writes byte-for-byte the lines the ingest would have written for the same requests."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from clickstream_ingest.config import Settings
from clickstream_ingest.contract import RequestInfo, event_validator, format_timestamp
from clickstream_ingest.handler import classify, request_info
from traffic import TrafficReport, iter_clients
from traffic.generator import INGEST_REJECTIONS, MALFORMED, iso_ms
from traffic.http_sink import user_agent_for
from traffic.s3_sink import (
    dumps_line,
    dumps_rejected,
    encode_stored_line,
    ip_prefix_for,
    rejected_line,
    request_id_for,
    stored_line,
)

from .conftest import config


def _info(batch, client, seed: int, batch_no: int) -> RequestInfo:
    """What the ingest's request_info makes of the request the HTTP sink sends for this batch."""
    received = datetime.fromtimestamp(batch.sent_ms / 1000, UTC)
    event = {"requestContext": {"requestId": request_id_for(seed, client.index, batch_no),
                                "timeEpoch": batch.sent_ms,
                                "http": {"userAgent": user_agent_for(client.client_id), "sourceIp": "203.0.113.9"}}}
    info = request_info(event, None)
    assert info.received_at == received
    return dataclasses.replace(info, source_ip_prefix=ip_prefix_for(client.client_id))


def test_ingest_accepts_exactly_the_valid_events_and_rejects_the_malformed_with_the_expected_reason(products):
    cfg = config(clients=400, malformed=0.05, duplicate=0.05)
    settings = Settings(raw_bucket="unused")
    validator = event_validator()
    report = TrafficReport(cfg)
    accepted = rejected = 0
    reasons: dict[str, int] = {}
    for client in iter_clients(cfg, products):
        report.add(client)
        for batch_no, batch in enumerate(client.batches):
            info = _info(batch, client, cfg.seed, batch_no)
            body = json.loads(batch.body_bytes())
            outcome = classify(body["events"], info, settings, validator)
            accepted += len(outcome.accepted)
            rejected += len(outcome.rejected)
            errors = {e["index"]: e for e in outcome.errors}
            for index, item in enumerate(batch.items):
                if item.kind == MALFORMED:
                    code, field = INGEST_REJECTIONS[item.reason]
                    assert (errors[index]["reason"], errors[index]["field"]) == (code, field), item.reason
                    reasons[code] = reasons.get(code, 0) + 1
                else:
                    assert index not in errors, (item.kind, errors.get(index))
            ua, ip = info.user_agent, info.source_ip_prefix
            ours = [
                dumps_line(stored_line(it.event, info.received_at_text, info.request_id, i, ua, ip))
                for i, it in enumerate(batch.items)
                if it.kind != MALFORMED
            ]
            assert [line + b"\n" for line in outcome.accepted] == ours
            fast = [
                encode_stored_line(it.event, info.received_at_text, info.request_id, i, ua, ip)
                for i, it in enumerate(batch.items)
                if it.kind != MALFORMED
            ]
            assert fast == ours
            ours_rejected = [
                json.loads(
                    dumps_rejected(
                        rejected_line(it.event, it.reason, info.received_at_text, info.request_id, i, ua, ip)
                    )
                )
                for i, it in enumerate(batch.items)
                if it.kind == MALFORMED
            ]
            theirs = [json.loads(line) for line in outcome.rejected]
            for line in (*ours_rejected, *theirs):
                line.pop("detail")  # the validator's own wording
            assert theirs == ours_rejected
    expected = report.as_dict()["expected"]
    assert accepted == expected["ingest_accepted"] > 2000
    assert rejected == expected["ingest_rejected"] > 50
    assert reasons == expected["ingest_rejected_by_reason"]


def test_generated_timestamps_are_the_ingest_normal_form(products):
    cfg = config(clients=20)
    for client in iter_clients(cfg, products):
        for batch in client.batches:
            for item in batch.items:
                if item.kind != MALFORMED:
                    ts = datetime.fromtimestamp(item.ts_ms / 1000, UTC)
                    assert item.event["event_timestamp"] == format_timestamp(ts) == iso_ms(item.ts_ms)


def test_fast_line_encoder_equals_the_reference_on_awkward_values():
    events = [
        {"event_name": "page_view", "client_id": 'c "quoted" \\ back', "event_timestamp": "2030-01-01T00:00:00.000Z",
         "page": {"url_path": "/ü/ñ", "referrer": None, "title": "Line\nbreak \u2028 ☃"}},
        {"event_name": "purchase", "client_id": "c", "event_timestamp": "2030-01-01T00:00:00.001Z",
         "event_id": "6F1C2A9E-3B4D-4C5E-8F70-123456789ABC", "is_first_visit": True, "quantity": 3,
         "product": {"id": 7, "name": None, "price": 1e-7, "discount_price": 12.0, "url_path": "/p"},
         "params": {"coupon": "SPRING", "n": 2, "ok": False, "x": None}, "order_id": "o-1", "search_term": ""},
    ]  # fmt: skip
    for i, event in enumerate(events):
        args = (event, "2030-01-01T00:00:01.000Z", "rid==", i, "UA ☃", None)
        assert encode_stored_line(*args) == dumps_line(stored_line(*args))
