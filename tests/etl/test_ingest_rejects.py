"""The ETL counts what the ingest rejected (rejected/ objects of the raw bucket) into dw.agg_hourly_ingest_rejects:
by received hour, reason and field; each object once, whatever the number of runs; no line stops it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from clickstream_etl.ingest_rejects import OTHER_FIELD, UNREADABLE, classify

from .golden import t
from .helpers import event_line, ndjson, object_key


def _rejected(reason: str, field: str, event: object = None) -> dict:
    """A rejected/ line as the ingest writes it (clickstream_ingest.contract.rejected_line)."""
    return {"schema_version": 1, "reason": reason, "field": field, "detail": "test", "received_at": "x",
            "request_id": "r", "batch_index": 0, "user_agent": "pytest", "source_ip_prefix": "203.0.113.0/24",
            "event": event if event is not None else {"event_name": "Bad Name!"}}


def _key(hour: int, name: str) -> str:
    return f"rejected/{t(hour):%Y/%m/%d/%H}/rejected-{name}.json"


def _counts(world) -> dict[tuple[str, str, str], int]:
    rows = world.query("SELECT to_char(received_hour AT TIME ZONE 'UTC', 'HH24'), reason, field, rejects "
                       "FROM dw.agg_hourly_ingest_rejects")
    return {(h, r, f): n for h, r, f, n in rows}


def test_classify_folds_hostile_lines_into_few_keys() -> None:
    assert classify(json.dumps(_rejected("invalid_value", "product.price")).encode()) == ("invalid_value",
                                                                                        "product.price")
    assert classify(b'{"reason": "missing_required_field", "field": ""}') == ("missing_required_field", "")
    assert classify(b"{not json") == (UNREADABLE, "")
    assert classify(b"[1, 2]") == (UNREADABLE, "")
    assert classify(b'{"reason": "DROP TABLE x; --"}') == (UNREADABLE, "")
    assert classify(json.dumps({"reason": "unknown_field", "field": "x" * 500}).encode()) == ("unknown_field",
                                                                                             OTHER_FIELD)
    assert classify(json.dumps({"reason": "unknown_field", "field": {"a": 1}}).encode()) == ("unknown_field", "")


@pytest.mark.integration
def test_ingest_rejects_are_counted_by_hour_reason_and_field_once(world):
    world.put(object_key(t(10), "ok"), ndjson([event_line("page_view", "c1", t(10, 5), page="/")]))
    world.put(_key(10, "a"), ndjson([_rejected("invalid_value", "event_name"),
                                     _rejected("invalid_value", "event_name"),
                                     _rejected("missing_required_field", "client_id")]))
    world.put(_key(11, "b"), ndjson([_rejected("invalid_value", "event_name"),
                                     b"{truncated", b"",
                                     _rejected("unknown_field", "f" * 300)]))
    first = world.run_cli()
    assert first["status"] == "succeeded", first
    expected = {("10", "invalid_value", "event_name"): 2, ("10", "missing_required_field", "client_id"): 1,
                ("11", "invalid_value", "event_name"): 1, ("11", UNREADABLE, ""): 1,
                ("11", "unknown_field", OTHER_FIELD): 1}
    assert _counts(world) == expected
    assert world.query("SELECT object_key, lines FROM etl.ingest_reject_files ORDER BY 1") == [
        (_key(10, "a"), 3), (_key(11, "b"), 3)]
    assert world.query("SELECT count(*) FROM dw.events")[0][0] == 1

    # a second run counts nothing again; a new object is added to its hour
    assert world.run_cli()["status"] == "succeeded"
    assert _counts(world) == expected
    world.put(_key(11, "c"), ndjson([_rejected("invalid_value", "event_name")]))
    assert world.run_cli()["status"] == "succeeded"
    assert _counts(world) == {**expected, ("11", "invalid_value", "event_name"): 2}


@pytest.mark.integration
def test_ingest_rejects_of_a_later_hour_than_the_events_are_listed_from_the_newest_counted(world):
    """The listing of rejected/ starts from its own newest counted key (less the look-back), not the events'."""
    for hour in (1, 5, 30):
        world.put(_key(hour, f"h{hour}"), ndjson([_rejected("invalid_timestamp", "event_timestamp")]))
        assert world.run_cli(env=world.env(LISTING_LOOKBACK_HOURS="2"))["status"] == "succeeded"
    late = t(30) - timedelta(hours=1)  # inside the look-back of the newest counted object: still found
    world.put(f"rejected/{late:%Y/%m/%d/%H}/rejected-late.json", ndjson([_rejected("not_an_object", "")]))
    assert world.run_cli(env=world.env(LISTING_LOOKBACK_HOURS="2"))["status"] == "succeeded"
    assert sum(_counts(world).values()) == 4


@pytest.mark.integration
def test_ingest_rejects_are_counted_in_groups_and_a_run_out_of_time_leaves_the_rest(world, monkeypatch):
    import psycopg2
    from clickstream_etl import ingest_rejects

    monkeypatch.setattr(ingest_rejects, "GROUP_OBJECTS", 2)
    for n in range(5):
        world.put(_key(10, f"g{n}"), ndjson([_rejected("invalid_value", "event_name")] * (n + 1)))
    conn = psycopg2.connect(world.dsn)
    try:
        budget = iter([True, False])  # time for one group only
        counted = ingest_rejects.count_pending(conn, world.s3, world.bucket, "rejected/", 1,
                                               allows=lambda: next(budget))
        assert counted == 1 + 2
        assert _counts(world) == {("10", "invalid_value", "event_name"): 3}
        counted = ingest_rejects.count_pending(conn, world.s3, world.bucket, "rejected/", 2)
    finally:
        conn.close()
    assert counted == 3 + 4 + 5
    assert _counts(world) == {("10", "invalid_value", "event_name"): 15}
    assert world.query("SELECT run_id, count(*) FROM etl.ingest_reject_files GROUP BY 1 ORDER BY 1") == [(1, 2), (2, 3)]
