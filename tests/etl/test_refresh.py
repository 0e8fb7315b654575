"""The aggregate refresh on two connections: the same tables on one, and all or nothing when a half fails."""

from __future__ import annotations

import psycopg2
import pytest
from clickstream_etl import load
from clickstream_etl.config import Settings
from clickstream_etl.runner import run_etl

from .test_faults import _files

AGGREGATES = ("dw.agg_hourly_activity", "dw.agg_daily_sessions", "dw.agg_daily_funnel", "dw.agg_daily_product",
              "dw.agg_daily_page_transitions", "dw.agg_daily_client_returns")


def _run(world) -> str:
    conn = psycopg2.connect(world.dsn)
    try:
        return run_etl(conn, world.s3, Settings(raw_bucket=world.bucket, dw_host="unused", listing_lookback_hours=0,
                                                batch_max_files=2)).status
    finally:
        conn.close()


def _load(world) -> dict:
    assert _run(world) == "succeeded"
    return world.snapshot()


@pytest.fixture
def objects_put(world):
    """The fault tests' seven objects, put once (their event ids are random): every run below loads the same."""
    for key, body in _files().items():
        world.put(key, body)
    return world


def test_refresh_uses_a_second_connection_and_without_one_gives_the_same_tables(objects_put, monkeypatch):
    world = objects_put
    opened = []
    real = load.sibling_connection

    def spy(conn):
        other = real(conn)
        opened.append(other)
        return other

    monkeypatch.setattr(load, "sibling_connection", spy)
    parallel = _load(world)
    assert len(opened) == 1 and opened[0] is not None and opened[0].closed
    assert all(parallel[table] for table in AGGREGATES), "every aggregate has rows"

    world.fresh_database()
    monkeypatch.setattr(load, "sibling_connection", lambda conn: None)
    assert _load(world) == parallel


def test_a_failing_half_commits_neither_half_and_the_next_run_refreshes_the_days(objects_put, monkeypatch):
    world = objects_put
    reference = _load(world)
    world.fresh_database()
    real = load._refresh_engagement

    def fail_after(cur, days):
        real(cur, days)  # its rows are written in its transaction, then it fails
        raise RuntimeError("injected: the second connection failed")

    monkeypatch.setattr(load, "_refresh_engagement", fail_after)
    with pytest.raises(RuntimeError, match="injected"):
        _run(world)
    for table in AGGREGATES:
        assert world.query(f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608 - constant names
    assert world.query("SELECT count(*) FROM etl.dirty_days")[0][0] > 0
    assert world.query("SELECT count(*) FROM etl.files") == [(7,)]  # the batches committed before the refresh

    monkeypatch.setattr(load, "_refresh_engagement", real)
    assert _run(world) == "succeeded"
    assert world.snapshot() == reference
