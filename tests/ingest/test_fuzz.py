"""Property-based fuzzing of request bodies against the handler writing to the emulator's S3.

For any body: never a 5xx; a 4xx writes nothing; a 200 accounts for every event exactly once (accepted lines in
the one events object, rejected lines with a reason in the one rejected object) and every accepted event reads
back with the fields it was sent with.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from clickstream_ingest.config import Settings
from clickstream_ingest.contract import REJECTION_REASONS, event_validator
from clickstream_ingest.handler import process
from clickstream_ingest.storage import S3Store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import api_event, list_keys, read_ndjson, valid_event

pytestmark = pytest.mark.integration

_counter = itertools.count()
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(["page_view", "view_item", "2024-05-01T00:00:00Z", "/p", "logged_in"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=10)
FIELDS = ["event_name", "client_id", "event_timestamp", "event_id", "user_id", "page", "product", "quantity",
          "params", "is_first_visit", "user_login_state"]


@st.composite
def events(draw: Any) -> Any:
    kind = draw(st.sampled_from(["valid", "valid", "mutated", "junk"]))
    if kind == "junk":
        return draw(json_values)
    event = valid_event(event_id=draw(st.sampled_from([None, "6f1c2a9e-3b4d-4c5e-8f70-123456789abc"])),
                        event_timestamp=draw(st.sampled_from([None, 1714566900123, "2024-05-01T00:00:00+01:00"]))
                        or valid_event()["event_timestamp"])
    if kind == "mutated":
        for key in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
            if draw(st.booleans()):
                event.pop(key, None)
            else:
                event[key] = draw(json_values)
    return event


@st.composite
def bodies(draw: Any) -> tuple[str, bool]:
    """(body text, isBase64Encoded): batches and single events (valid, mutated, junk), any JSON, text, bytes."""
    kind = draw(st.sampled_from(["batch", "batch", "single", "json", "text", "bytes"]))
    if kind == "batch":
        evs = draw(st.lists(events(), min_size=0, max_size=12))
        return json.dumps({"events": evs}), False
    if kind == "single":
        return json.dumps(draw(events())), False
    if kind == "json":
        return json.dumps(draw(json_values)), False
    if kind == "text":
        return draw(st.text(max_size=200)), False
    return base64.b64encode(draw(st.binary(max_size=200))).decode(), True


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(bodies())
def test_any_body(moto_server, s3, raw_bucket, body):
    text, b64 = body
    n = next(_counter)
    prefix = f"fuzz/{n}/"
    cfg = Settings(raw_bucket=raw_bucket, events_prefix=prefix + "events/", rejected_prefix=prefix + "rejected/",
                   max_events_per_request=10, max_event_age_seconds=10**10, log_level="ERROR")
    store = S3Store(moto_server.client("s3"), raw_bucket)
    resp = process(api_event(None, raw=text, base64_encoded=b64), None, cfg, store, event_validator())
    status = resp["statusCode"]
    result = json.loads(resp["body"])
    assert status < 500, result
    keys = list_keys(s3, raw_bucket, prefix)
    if status != 200:
        assert keys == [], "a rejected request left objects behind"
        assert result["error"] and result["message"]
        return
    doc = json.loads(base64.b64decode(text) if b64 else text)
    assert isinstance(doc, dict), f"accepted a body that is not a JSON object: {text[:200]!r}"
    sent = doc.get("events", [doc])  # the two shapes of the contract
    assert isinstance(sent, list) and 1 <= len(sent) <= cfg.max_events_per_request
    ev_keys = [k for k in keys if k.startswith(prefix + "events/")]
    rj_keys = [k for k in keys if k.startswith(prefix + "rejected/")]
    assert len(ev_keys) == (1 if result["accepted"] else 0)
    assert len(rj_keys) == (1 if result["rejected"] else 0)
    accepted = read_ndjson(s3, raw_bucket, ev_keys[0]) if ev_keys else []
    rejected = read_ndjson(s3, raw_bucket, rj_keys[0]) if rj_keys else []
    assert (len(accepted), len(rejected)) == (result["accepted"], result["rejected"])
    indices = sorted([line["batch_index"] for line in accepted] + [line["batch_index"] for line in rejected])
    assert indices == list(range(len(sent))), "an event was dropped or stored twice"
    for line in accepted:
        original = sent[line["batch_index"]]
        assert line["event_name"] == original["event_name"] and line["client_id"] == original["client_id"]
        assert line["request_id"] == result["request_id"]
    for line in rejected:
        assert line["reason"] in REJECTION_REASONS
        assert line["event"] == json.loads(json.dumps(sent[line["batch_index"]]))
    assert sorted(e["index"] for e in result["errors"]) == sorted(line["batch_index"] for line in rejected)
