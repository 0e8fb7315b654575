"""The batches reach dw.clients through its primary key, however large the table and whatever its statistics.

A batch touches a few thousand clients. Without statistics on dw.clients (a table that grew since autovacuum last
analyzed it) the planner hashed the whole table for each batch's clients update and for the SQL path's first-visit
statements, so every batch read all of dw.clients: a cost that grew with the warehouse, not with the batch.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from clickstream_etl import sql

from .helpers import event_line, ndjson, object_key

CLIENTS = 1500
PADDING = 30_000  # clients that the batches never touch


def _run(world) -> str:
    return world.run_in_process(batch_max_files=1)


def _objects(start: datetime, tag: str) -> dict[str, bytes]:
    """One event per client, two objects; a client's event in the second object is 10 minutes after the first."""
    out = {}
    for n, at in enumerate((start, start + timedelta(minutes=10))):
        lines = [event_line("page_view", f"c-{i}", at + timedelta(seconds=i % 60), page="/") for i in range(CLIENTS)]
        out[object_key(at, f"{tag}-{n}")] = ndjson(lines)
    return out


def _clients_scans(world) -> tuple[int, int]:
    """(sequential, index) scans of dw.clients since the reset. A backend reports its counters when it exits, just
    after the run closed its connection: wait for them (every run looks its clients up through the index)."""
    deadline = time.monotonic() + 15
    while True:
        world.query("SELECT pg_stat_clear_snapshot()")
        seq, idx = world.query("SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                               "WHERE relid = 'dw.clients'::regclass")[0]
        if idx > 0 or time.monotonic() > deadline:
            return seq, idx
        time.sleep(0.1)


@pytest.mark.parametrize("index_only", [True, False], ids=["as shipped", "planner left alone"])
def test_batches_read_dw_clients_through_its_primary_key(world, monkeypatch, index_only):
    if not index_only:  # the check below must be able to fail: without the plan settings it does
        monkeypatch.setattr(sql, "INDEX_ONLY", ())
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    with psycopg2.connect(world.dsn) as conn, conn.cursor() as cur:
        # a warehouse that knows many more clients than a batch touches, with no statistics to say so
        cur.execute("ALTER TABLE dw.clients SET (autovacuum_enabled = false)")
        cur.execute("""INSERT INTO dw.clients (client_id, first_event_id, first_seen_at, last_seen_at)
                       SELECT 'old-' || g, gen_random_uuid(), %s, %s FROM generate_series(1, %s) g""",
                    (start - timedelta(days=1), start - timedelta(days=1), PADDING))
    conn.close()
    for key, body in _objects(start, "a").items():  # new clients, then the same clients seen again
        world.put(key, body)
    # late events for some of them (before their first): the SQL path, with its first-visit statements
    late = [event_line("page_view", f"c-{i}", start - timedelta(minutes=5), page="/") for i in range(0, CLIENTS, 50)]
    world.put(object_key(start + timedelta(minutes=20), "late"), ndjson(late))
    world.query("SELECT pg_stat_reset_single_table_counters('dw.clients'::regclass)")
    assert _run(world) == "succeeded"
    assert world.query("SELECT count(*) FROM dw.events") == [(2 * CLIENTS + len(late),)]
    assert world.query("SELECT count(*) FROM dw.events WHERE is_first_visit AND event_timestamp < %s",
                       (start,)) == [(len(late),)]  # the late events took the first visits: the SQL path ran
    seq_scans, idx_scans = _clients_scans(world)
    if index_only:
        assert seq_scans == 0 and idx_scans > 0
    else:
        assert seq_scans > 0
