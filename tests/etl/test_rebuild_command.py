"""The rebuild command (``python -m clickstream_etl rebuild --from DAY --to DAY``, ``make etl-rebuild``): recomputes
every aggregate of those days from the warehouse's events, under the ETL's lock, recorded in etl.runs; the
incremental aggregates of the runs equal what it writes."""

from __future__ import annotations

import psycopg2
import pytest

from .helpers import AGGREGATES
from .test_faults import _files


@pytest.mark.integration
def test_rebuild_recomputes_the_days_as_the_runs_kept_them(world):
    for key, body in _files().items():
        world.put(key, body)
    assert world.run_cli(env=world.env(BATCH_MAX_FILES="2"))["status"] == "succeeded"
    incremental = world.snapshot()
    days = world.query("SELECT min(event_timestamp)::date, max(event_timestamp)::date FROM dw.events")[0]
    world.execute(*(f"DELETE FROM {t}" for t in AGGREGATES))  # noqa: S608 - constant names
    assert all(world.query(f"SELECT count(*) FROM {t}") == [(0,)] for t in AGGREGATES)  # noqa: S608

    r = world.run_cli("rebuild", "--from", str(days[0]), "--to", str(days[1]))
    assert r["_rc"] == 0 and r["status"] == "succeeded" and r["days_refreshed"] >= 1, r
    after = world.snapshot()
    assert {k: v for k, v in after.items() if k != "etl.runs"} == {
        k: v for k, v in incremental.items() if k != "etl.runs"}
    assert world.query("SELECT trigger, status FROM etl.runs ORDER BY run_id DESC LIMIT 1") == [
        ("rebuild", "succeeded")]
    assert world.query("SELECT count(*) FROM etl.dirty_days") == [(0,)]


@pytest.mark.integration
def test_rebuild_waits_for_a_run_holding_the_lock(world):
    conn = psycopg2.connect(world.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (0x636C6B45544C,))
        r = world.run_cli("rebuild", "--from", "2024-05-01", "--to", "2024-05-02")
        assert r["status"] == "skipped_locked", r
    finally:
        conn.close()


def test_rebuild_needs_both_days(world):
    r = world.run_cli("rebuild", "--from", "2024-05-01")
    assert r["_rc"] == 2 and "rebuild needs --from DAY and --to DAY" in r["_stderr"]
