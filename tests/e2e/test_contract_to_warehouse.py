"""End to end from the contract (issue 19): requests generated from the event JSON Schema itself
(hypothesis-jsonschema) and the contract's edges, through the real ingest endpoint (HTTP, both content types) into
the emulator's S3 and through the real ETL into PostgreSQL. For every event the ingest accepted, exactly one of a
row in dw.events or a reject with its reason; every refused event has a reason; no ETL run fails
(scripts/harness/contract_fuzz.py keeps the books). Seeded (derandomize) and bounded for CI; bench/fuzz runs it
longer.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.harness.contract_fuzz import CONTENT_TYPES, Books, Endpoint, contract_bodies, edge_bodies, now_ms
from tests.etl.helpers import make_world

pytestmark = pytest.mark.integration

NOW_MS = now_ms()  # the strategies' "recent" timestamps are relative to it (a test run lasts minutes)


@pytest.fixture(scope="module")
def books(pg_server, moto_server, artifacts_dir):
    world = make_world(pg_server, moto_server, "contract-e2e")
    endpoint = Endpoint(moto_server.env(), world.bucket, artifacts_dir)
    try:
        yield Books(world, endpoint)
    finally:
        endpoint.close()


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_the_contract_edges_are_loaded_or_refused_with_a_reason(books, content_type):
    for name, body, n_events, expected in edge_bodies(now_ms()):
        status, answer = books.send(body, content_type, n_events)
        if expected == "request":
            assert 400 <= status < 500, (name, status, answer)
        elif expected == "accepted":
            assert status == 200 and answer["accepted"] == n_events, (name, answer)
        else:
            assert status == 200 and answer["accepted"] == 0, (name, answer)
            assert {e["index"] for e in answer["errors"]} == set(range(n_events)), (name, answer)
    books.check()
    assert books.tally.loaded > 0


@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(st.lists(contract_bodies(NOW_MS), min_size=1, max_size=4))
def test_requests_generated_from_the_schema_are_loaded_or_rejected_with_a_reason(books, bodies):
    for body, content_type, n_events in bodies:
        books.send(body, content_type, n_events)
    books.check()


def test_the_generated_requests_reached_the_warehouse(books):
    """The property above is not vacuous: generated events were accepted and loaded (runs after it: same module)."""
    assert books.tally.accepted > 20 and books.tally.loaded > 20, books.tally.as_dict()
