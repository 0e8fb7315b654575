"""An instant outside the years 1 to 9999 (epoch milliseconds can name one; the ingest never writes one) is an
invalid timestamp: the ETL's rules and its sessionization work on Python's datetime, which holds no other year,
and an event stored with such a time would make every later read of its client's state fail. Written straight to
the bucket here, with a receipt time as far out (so that the freshness window alone would keep it), it is rejected
with its reason and the run goes on. Real moto S3 and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from .golden import t
from .helpers import event_line, ndjson, object_key

pytestmark = pytest.mark.integration

YEAR_10000_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z


def test_an_event_after_the_year_9999_is_an_invalid_timestamp(world):
    far = event_line("page_view", "c-far", t(10), page="/")
    far["event_timestamp"] = YEAR_10000_MS + 1_000
    far["received_at"] = YEAR_10000_MS
    lines = [event_line("page_view", "c-1", t(10), page="/"), far, event_line("page_view", "c-1", t(10, 1), page="/a")]
    world.put(object_key(t(10), "far"), ndjson([json.dumps(line).encode() for line in lines]))
    assert world.run_in_process(batch_max_files=1) == "succeeded"
    assert world.query("SELECT line_number, reason, detail FROM etl.rejects") == \
        [(2, "invalid_field", "event_timestamp")]
    assert world.query("SELECT source_line FROM dw.events ORDER BY 1") == [(1,), (3,)]
    # the client's next event loads: nothing the warehouse holds is out of Python's range
    world.put(object_key(t(11), "next"), ndjson([event_line("page_view", "c-far", t(11), page="/")]))
    assert world.run_in_process(batch_max_files=1) == "succeeded"
    assert world.query("SELECT count(*) FROM dw.events WHERE client_id = 'c-far'") == [(1,)]


@pytest.mark.parametrize("ms", [-62_135_596_800_001, YEAR_10000_MS])
def test_the_decoder_refuses_an_instant_python_cannot_hold(world, ms):
    line = event_line("page_view", "c-edge", t(10), page="/")
    line["event_timestamp"] = ms
    world.put(object_key(t(10), f"edge-{ms}"), ndjson([json.dumps(line).encode()]))
    assert world.run_in_process(batch_max_files=1) == "succeeded"
    assert world.query("SELECT reason, detail FROM etl.rejects") == [("invalid_field", "event_timestamp")]
