"""Unit tests of request checks, per-event validation (every rejection reason) and enrichment."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickstream_ingest.config import ConfigError, Settings, settings_from_env
from clickstream_ingest.contract import (
    REJECTION_REASONS,
    check_timestamp_range,
    event_validator,
    format_timestamp,
    parse_timestamp,
    truncate_ip,
)
from clickstream_ingest.handler import classify, process, request_info
from clickstream_ingest.request import REQUEST_ERRORS

from .helpers import api_event, now_ms, valid_event


class MemoryStore:
    """Unit-test stand-in for S3Store: keeps what would be written."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_all(self, objects: list[tuple[str, bytes]]) -> None:
        for key, body in objects:
            self.objects[key] = body

    def lines(self, prefix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key, body in self.objects.items():
            if key.startswith(prefix):
                out += [json.loads(line) for line in body.decode().splitlines()]
        return out


SETTINGS = Settings(raw_bucket="unit", max_events_per_request=5, max_body_bytes=4096, log_level="ERROR")


def run(body: Any = None, settings: Settings = SETTINGS, **kwargs: Any) -> tuple[dict[str, Any], MemoryStore]:
    store = MemoryStore()
    resp = process(api_event(body, **kwargs), None, settings, store, event_validator())
    return resp, store


def body_of(resp: dict[str, Any]) -> dict[str, Any]:
    return json.loads(resp["body"])


# --- request level: 4xx, nothing written ---------------------------------------------------------------------

REQUEST_CASES = {
    "empty_body": dict(raw=""),
    "invalid_json": dict(raw='{"events": [}'),
    "invalid_shape": dict(raw='[{"event_name": "page_view"}]'),
    "empty_batch": dict(raw='{"events": []}'),
    "payload_too_large": dict(raw=json.dumps({"events": [valid_event(search_term="x" * 250)] * 5}) + " " * 4096),
    "too_many_events": dict(raw=json.dumps({"events": [valid_event() for _ in range(6)]})),
    "method_not_allowed": dict(raw="{}", method="GET"),
}


def test_every_request_error_code_has_a_case():
    assert set(REQUEST_CASES) == set(REQUEST_ERRORS)


@pytest.mark.parametrize("code", sorted(REQUEST_CASES))
def test_malformed_request_gets_4xx_with_reason_and_writes_nothing(code):
    resp, store = run(**REQUEST_CASES[code])
    assert resp["statusCode"] == REQUEST_ERRORS[code]
    assert 400 <= resp["statusCode"] < 500
    body = body_of(resp)
    assert body["error"] == code
    assert body["message"]
    assert body["request_id"]
    assert store.objects == {}


@pytest.mark.parametrize("raw", [
    "   \n ", "NaN", '{"events": [{"price": Infinity}]}', "[" * 5000 + "]" * 5000, '"just a string"', "42",
    '{"events": {"event_name": "x"}}', '{"events": [], "extra": 1}', "1" * 5000,
])
def test_more_malformed_bodies(raw):
    resp, store = run(raw=raw, settings=Settings(raw_bucket="unit", max_body_bytes=20000, log_level="ERROR"))
    assert resp["statusCode"] == 400, resp
    assert body_of(resp)["error"] in {"empty_body", "invalid_json", "invalid_shape", "empty_batch"}
    assert store.objects == {}


def test_base64_body_and_invalid_utf8():
    good = json.dumps(valid_event()).encode()
    resp, store = run(raw=base64.b64encode(good).decode(), base64_encoded=True)
    assert resp["statusCode"] == 200 and body_of(resp)["accepted"] == 1
    resp, store = run(raw=base64.b64encode(b'{"a": "\xff"}').decode(), base64_encoded=True)
    assert resp["statusCode"] == 400 and body_of(resp)["error"] == "invalid_json"
    resp, store = run(raw="***", base64_encoded=True)
    assert resp["statusCode"] == 400 and body_of(resp)["error"] == "invalid_json"
    assert store.objects == {}


def test_size_limit_counts_utf8_bytes_not_characters():
    text = json.dumps(valid_event(search_term="é" * 200), ensure_ascii=False)  # 200 more bytes than characters
    n_bytes = len(text.encode())
    fits = Settings(raw_bucket="unit", max_body_bytes=n_bytes, log_level="ERROR")
    assert run(raw=text, settings=fits)[0]["statusCode"] == 200
    between = Settings(raw_bucket="unit", max_body_bytes=n_bytes - 100, log_level="ERROR")  # > characters
    assert len(text) < n_bytes - 100
    resp, store = run(raw=text, settings=between)
    assert body_of(resp)["error"] == "payload_too_large" and store.objects == {}


# --- per event: every rejection reason --------------------------------------------------------------------------

def _dup_batch() -> list[Any]:
    eid = "6f1c2a9e-3b4d-4c5e-8f70-123456789abc"
    return [valid_event(event_id=eid), valid_event(event_id=eid.upper())]


REJECTION_CASES: dict[str, tuple[Any, str]] = {
    "not_an_object": (["page_view"], ""),
    "missing_required_field": ([valid_event(client_id=None)], "client_id"),
    "unknown_field": ([valid_event(colour="red")], "colour"),
    "wrong_type": ([valid_event(is_first_visit="yes")], "is_first_visit"),
    "invalid_value": ([valid_event(event_name="Page View")], "event_name"),
    "invalid_timestamp": ([valid_event(event_timestamp="2024-05-01 12:00")], "event_timestamp"),
    "timestamp_out_of_range": ([valid_event(event_timestamp=now_ms() + 3 * 86_400_000)], "event_timestamp"),
    "duplicate_event_id": (_dup_batch(), "event_id"),
}


def test_every_rejection_reason_has_a_case():
    assert set(REJECTION_CASES) == set(REJECTION_REASONS)


@pytest.mark.parametrize("reason", sorted(REJECTION_CASES))
def test_rejection_reason_is_reported_and_the_event_stored_under_rejected(reason):
    events, field = REJECTION_CASES[reason]
    resp, store = run({"events": [valid_event(), *events]})
    assert resp["statusCode"] == 200
    body = body_of(resp)
    bad = [e for e in body["errors"]]
    assert len(bad) == 1, body
    assert bad[0]["reason"] == reason
    assert bad[0]["field"] == field
    assert bad[0]["detail"]
    rejected = store.lines("rejected/")
    assert [r["reason"] for r in rejected] == [reason]
    assert rejected[0]["event"] == events[-1]          # exactly as sent
    assert rejected[0]["batch_index"] == bad[0]["index"] == len(events)
    assert body["accepted"] == len(store.lines("events/")) == len(events)  # the valid ones are kept
    assert body["accepted"] + body["rejected"] == len(events) + 1


@pytest.mark.parametrize(("event", "reason", "field"), [
    (valid_event(event_name="page_view", page=None), "missing_required_field", "page"),
    (valid_event(event_name="page_view", page={"title": "x"}), "missing_required_field", "page.url_path"),
    (valid_event(event_name="add_to_cart", product=None), "missing_required_field", "product"),
    (valid_event(product={"name": "no id"}), "missing_required_field", "product.id"),
    (valid_event(product={"id": "p1", "price": -1}), "invalid_value", "product.price"),
    (valid_event(product={"id": "p1", "price": "12"}), "wrong_type", "product.price"),
    (valid_event(product={"id": "p1", "sku": "x"}), "unknown_field", "product.sku"),
    (valid_event(page={"url_path": "no-slash"}), "invalid_value", "page.url_path"),
    (valid_event(event_id="not-a-uuid"), "invalid_value", "event_id"),
    (valid_event(user_login_state="maybe"), "invalid_value", "user_login_state"),
    (valid_event(quantity=0), "invalid_value", "quantity"),
    (valid_event(quantity=1.5), "wrong_type", "quantity"),
    (valid_event(params={"Bad-Name": 1}), "invalid_value", "params"),
    (valid_event(params={"nested": {"a": 1}}), "wrong_type", "params.nested"),
    (valid_event(event_name="page_view\n"), "invalid_value", "event_name"),
    (valid_event(client_id=""), "invalid_value", "client_id"),
    (valid_event(event_timestamp=True), "wrong_type", "event_timestamp"),
    (valid_event(event_timestamp=1e300), "invalid_timestamp", "event_timestamp"),
    (valid_event(event_timestamp="2024-02-30T00:00:00Z"), "invalid_timestamp", "event_timestamp"),
    (valid_event(event_timestamp="2001-01-01T00:00:00Z"), "timestamp_out_of_range", "event_timestamp"),
])
def test_field_level_reasons(event, reason, field):
    resp, store = run(event)  # also exercises the single-event body
    body = body_of(resp)
    assert resp["statusCode"] == 200
    assert (body["accepted"], body["rejected"]) == (0, 1)
    assert (body["errors"][0]["reason"], body["errors"][0]["field"]) == (reason, field), body
    assert not store.lines("events/")
    assert len(store.lines("rejected/")) == 1


def test_params_with_non_finite_numbers_are_rejected_not_crashed():
    resp, store = run(raw='{"events": [' + json.dumps(valid_event())[:-1] + ', "params": {"x": 1e999}}]}')
    body = body_of(resp)
    assert resp["statusCode"] == 200 and body["rejected"] == 1
    assert body["errors"][0]["reason"] == "invalid_value"
    line = store.lines("rejected/")[0]
    assert line["event"]["params"]["x"] == "inf"


def test_lone_surrogate_is_rejected_and_the_rejected_line_is_valid_json():
    raw = ('{"event_name": "search", "client_id": "c", "event_timestamp": ' + str(now_ms())
           + ', "search_term": "\\ud800"}')
    resp, store = run(raw=raw)
    assert resp["statusCode"] == 200 and body_of(resp)["errors"][0]["reason"] == "invalid_value"
    assert store.lines("rejected/")[0]["event"]["search_term"] == "\ud800"


@pytest.mark.parametrize(("fragment", "field"), [
    ('"search_term": "a\\udfff"', "search_term"),
    ('"product": {"id": "p", "name": "\\ud800"}', "product.name"),
    ('"params": {"k": "x\\udbff"}', "params.k"),
])
def test_a_lone_surrogate_is_named_in_the_rejection(fragment, field):
    raw = ('{"event_name": "search", "client_id": "c", "event_timestamp": ' + str(now_ms()) + ", " + fragment + "}")
    resp, _ = run(raw=raw)
    (error,) = body_of(resp)["errors"]
    assert (error["reason"], error["field"]) == ("invalid_value", field)
    assert "surrogate" in error["detail"]


# --- enrichment and the stored line -------------------------------------------------------------------------------

STORED_KEYS = [
    "schema_version", "event_id", "event_id_generated", "event_name", "event_timestamp", "received_at", "client_id",
    "user_id", "session_id", "user_login_state", "identity_source", "is_first_visit", "page", "product",
    "search_term", "order_id", "quantity", "params", "request_id", "batch_index", "user_agent", "source_ip_prefix",
    "device_category", "browser", "operating_system",
]


def test_stored_line_format_matches_the_contract():
    epoch = 1_714_566_901_004  # 2024-05-01T12:35:01.004Z
    sent = [
        valid_event(event_timestamp="2024-05-01T14:35:00.123456+02:00",
                    event_id="6F1C2A9E-3B4D-4C5E-8F70-123456789ABC"),
        {"event_name": "login", "client_id": "c-2", "event_timestamp": epoch - 1000},
        valid_event(product={"id": 42.0, "price": 10}, quantity=2.0, event_id=None, page=None,
                    event_timestamp=epoch - 2000),
    ]
    settings = Settings(raw_bucket="unit", max_event_age_seconds=10**9, log_level="ERROR")
    resp, store = run({"events": sent}, settings=settings, time_epoch=epoch, request_id="req-1",
                      source_ip="198.51.100.23", user_agent="UA/1")
    assert body_of(resp) == {"request_id": "req-1", "accepted": 3, "rejected": 0, "errors": []}
    assert list(store.objects) == [next(iter(store.objects))]  # one object for the whole request
    key = next(iter(store.objects))
    assert key.startswith("events/2024/05/01/12/events-") and key.endswith(".json")
    lines = store.lines("events/")
    assert [list(line) for line in lines] == [STORED_KEYS] * 3
    first, second, third = lines
    assert first["event_id"] == "6f1c2a9e-3b4d-4c5e-8f70-123456789abc" and first["event_id_generated"] is False
    assert first["event_timestamp"] == "2024-05-01T12:35:00.123Z"
    assert first["received_at"] == "2024-05-01T12:35:01.004Z"
    assert first["source_ip_prefix"] == "198.51.100.0/24"
    assert "198.51.100.23" not in store.objects[key].decode()
    assert first["user_agent"] == "UA/1" and first["request_id"] == "req-1"
    assert [line["batch_index"] for line in lines] == [0, 1, 2]
    assert first["product"] == sent[0]["product"] and first["page"] == sent[0]["page"]
    assert second["page"] is None and second["product"] is None and second["user_id"] is None
    assert second["event_timestamp"] == "2024-05-01T12:35:00.004Z"
    assert third["event_id_generated"] is True and len(third["event_id"]) == 36
    assert third["product"] == {"id": "42", "name": None, "category": None, "brand": None, "price": 10,
                                "discount_price": None, "url_path": None}
    assert third["quantity"] == 2 and isinstance(third["quantity"], int)


def test_generated_event_ids_are_unique():
    _resp, store = run({"events": [valid_event(event_id=None) for _ in range(5)]})
    ids = [line["event_id"] for line in store.lines("events/")]
    assert len(set(ids)) == 5


def test_all_rejected_writes_only_the_rejected_object():
    resp, store = run({"events": [1, 2]})
    assert body_of(resp)["accepted"] == 0
    assert all(k.startswith("rejected/") for k in store.objects) and len(store.objects) == 1


def test_events_and_rejected_objects_share_the_request_uuid_and_hour():
    _resp, store = run({"events": [valid_event(), 3]})
    keys = sorted(store.objects)
    assert len(keys) == 2
    ev, rj = keys
    assert ev.split("events-")[1] == rj.split("rejected-")[1]
    assert ev.split("/")[1:5] == rj.split("/")[1:5]


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
    ("2024-05-01t12:00:00.5z", "2024-05-01T12:00:00.500Z"),
    ("2024-05-01T12:00:00.123456789-05:30", "2024-05-01T17:30:00.123Z"),
    (0, "1970-01-01T00:00:00.000Z"),
    (1714566900123, "2024-05-01T12:35:00.123Z"),
])
def test_parse_timestamp(value, expected):
    assert format_timestamp(parse_timestamp(value)) == expected


@pytest.mark.parametrize("value", ["2024-05-01T12:00:00", "2024-05-01", "yesterday", "2024-13-01T00:00:00Z",
                                   "2024-05-01T24:00:00Z", "2024-05-01T12:00:00+25:00", True, None, 10**20])
def test_parse_timestamp_rejects(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_timestamp_range():
    received = datetime(2024, 5, 1, tzinfo=UTC)
    assert check_timestamp_range(received - timedelta(seconds=100), received, 100, 10) is None
    assert check_timestamp_range(received - timedelta(seconds=101), received, 100, 10)
    assert check_timestamp_range(received + timedelta(seconds=10), received, 100, 10) is None
    assert check_timestamp_range(received + timedelta(seconds=11), received, 100, 10)


@pytest.mark.parametrize(("ip", "prefix"), [
    ("203.0.113.77", "203.0.113.0/24"), ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::/48"),
    ("::ffff:192.0.2.9", "192.0.2.0/24"), ("garbage", None), ("", None), (None, None),
])
def test_truncate_ip(ip, prefix):
    assert truncate_ip(ip) == prefix


def test_request_info_falls_back_without_request_context():
    class Ctx:
        aws_request_id = "lambda-req"

    info = request_info({}, Ctx())
    assert info.request_id == "lambda-req" and info.source_ip_prefix is None and info.user_agent is None
    assert abs((datetime.now(UTC) - info.received_at).total_seconds()) < 60


def test_user_agent_is_cut():
    info = request_info(api_event({}, user_agent="x" * 2000), None)
    assert info.user_agent == "x" * 512


def test_classify_keeps_every_event_exactly_once():
    events = [valid_event(), 5, valid_event(client_id=None), valid_event()]
    info = request_info(api_event({}), None)
    out = classify(events, info, SETTINGS, event_validator())
    assert len(out.accepted) + len(out.rejected) == len(events)
    assert [e["index"] for e in out.errors] == [1, 2]


# --- configuration --------------------------------------------------------------------------------------------

def test_settings_from_env():
    s = settings_from_env({"RAW_BUCKET_NAME": "b", "MAX_BODY_BYTES": "1000", "EVENTS_PREFIX": "ev",
                           "S3_BACKOFF_BASE_SECONDS": "0.2", "LOG_LEVEL": "debug"})
    assert (s.raw_bucket, s.max_body_bytes, s.events_prefix, s.s3_backoff_base_seconds, s.log_level) == (
        "b", 1000, "ev/", 0.2, "DEBUG")
    assert s.max_events_per_request == 100 and s.rejected_prefix == "rejected/"


@pytest.mark.parametrize("env", [{}, {"RAW_BUCKET_NAME": " "}, {"RAW_BUCKET_NAME": "b", "MAX_BODY_BYTES": "x"},
                                 {"RAW_BUCKET_NAME": "b", "MAX_EVENTS_PER_REQUEST": "0"},
                                 {"RAW_BUCKET_NAME": "b", "S3_BACKOFF_MAX_SECONDS": "-1"}])
def test_bad_settings_name_the_variable(env):
    with pytest.raises(ConfigError):
        settings_from_env(env)


def test_handler_without_bucket_answers_500_and_logs(monkeypatch, capsys):
    from clickstream_ingest import handler as h

    monkeypatch.delenv("RAW_BUCKET_NAME", raising=False)
    h.reset_runtime()
    try:
        resp = h.handler(api_event(valid_event()), None)
    finally:
        h.reset_runtime()
    assert resp["statusCode"] == 500 and body_of(resp)["error"] == "internal_error"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(r["message"] == "configuration error" and "RAW_BUCKET_NAME" in r["detail"] for r in logged)


def test_logs_are_json_without_full_ip(capsys):
    run({"events": [valid_event(), 1]}, settings=Settings(raw_bucket="unit", log_level="INFO"),
        source_ip="192.0.2.201")
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    stored = [r for r in records if r["message"] == "request stored"]
    assert stored and stored[0]["accepted"] == 1 and stored[0]["rejected"] == 1
    assert stored[0]["source_ip_prefix"] == "192.0.2.0/24"
    assert "192.0.2.201" not in out
