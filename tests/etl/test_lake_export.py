"""The lake export (clickstream_etl.lake, docs/lake.md) against a real moto server (Glue, S3) and PostgreSQL:
every accepted event reaches the Iceberg table ``events`` exactly once, also when the ETL is killed inside the
export; the closed days' sessions equal the warehouse's; the backfill twice is the backfill once; with the lake
off nothing of it is made."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from .golden import run1_files, run2_files
from .helpers import event_line, ndjson, object_key
from .test_faults import _files, _wait_for

pytestmark = pytest.mark.integration


def _catalog(world):
    from clickstream_etl.lake import catalog

    return catalog.load(world.moto.env())


def _lake_rows(world, lake: dict, table: str) -> list[dict]:
    """Every row of the lake's table, read back through the Glue catalog (pyiceberg scan)."""
    t = _catalog(world).load_table((lake["LAKE_DATABASE"], table))
    return t.scan().to_arrow().to_pylist()


def _warehouse(world, table: str) -> list[dict]:
    from clickstream_etl.lake import schema

    cols = schema.event_columns() if table == "events" else schema.SESSION_COLUMNS
    select = ", ".join(f"{n}::text" if t == "uuid" else n for n, t, _ in cols)
    rows = world.query(f"SELECT {select} FROM dw.{table}")  # noqa: S608 - constant names
    return [dict(zip([c[0] for c in cols], r, strict=True)) for r in rows]


def _key(table: str):
    return (lambda r: r["event_id"]) if table == "events" else (lambda r: r["session_id"])


def _same(a: list[dict], b: list[dict], table: str) -> bool:
    k = _key(table)
    return sorted(a, key=k) == sorted(b, key=k)


def _put(world, files: dict[str, bytes]) -> None:
    for key, body in files.items():
        world.put(key, body)


def test_run_exports_every_event_once_and_closed_sessions(world, lake):
    _put(world, run1_files())
    first = world.run_cli(env=world.env(**lake))
    assert first["status"] == "succeeded", first
    _put(world, run2_files(run1_files()))  # late and duplicate events, sessions that grow
    second = world.run_cli(env=world.env(**lake))
    assert second["status"] == "succeeded", second
    events = _lake_rows(world, lake, "events")
    ids = Counter(r["event_id"] for r in events)
    assert ids and max(ids.values()) == 1
    assert set(ids) == {r[0] for r in world.query("SELECT event_id::text FROM dw.events")}
    # the golden days are long closed: the lake's sessions are the warehouse's, row for row
    assert _same(_lake_rows(world, lake, "sessions"), _warehouse(world, "sessions"), "sessions")
    assert world.query("SELECT count(*) FROM etl.lake_session_days") == [(0,)]
    # a run with nothing new commits nothing
    t = _catalog(world).load_table((lake["LAKE_DATABASE"], "events"))
    before = [s.snapshot_id for s in t.snapshots()]
    assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    t = _catalog(world).load_table((lake["LAKE_DATABASE"], "events"))
    assert [s.snapshot_id for s in t.snapshots()] == before


def test_event_rows_equal_the_warehouse_rows(world, lake):
    """Column for column (types included) the lake's events are the warehouse's for an event loaded once."""
    _put(world, run1_files())
    assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    assert _same(_lake_rows(world, lake, "events"), _warehouse(world, "events"), "events")
    prices = {r["product_price"] for r in _lake_rows(world, lake, "events")} - {None}
    assert prices and all(isinstance(p, Decimal) for p in prices)


def test_open_days_sessions_wait_until_closed(world, lake):
    """Sessions of a day still within the freshness window are not written; events are."""
    now = datetime.now(UTC).replace(microsecond=0)
    lines = [event_line("page_view", "fresh", now - timedelta(minutes=5 - i), page=f"/{i}") for i in range(3)]
    world.put(object_key(now, "fresh"), ndjson(lines))
    assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    assert len(_lake_rows(world, lake, "events")) == 3
    assert _lake_rows(world, lake, "sessions") == []
    assert world.query("SELECT count(*) FROM etl.lake_session_days")[0][0] >= 1


KILL_POINTS = ["lake_before_events_commit:1", "lake_before_events_commit:3", "lake_after_events_commit:2",
               "lake_before_sessions_commit:1", "lake_after_sessions_commit:1", "before_commit:3",
               "after_commit:4"]


@pytest.mark.parametrize("checkpoint", KILL_POINTS)
def test_sigkill_inside_the_export_then_rerun_gives_the_uninterrupted_lake(world, lake, tmp_path, checkpoint):
    files = _files()
    # several export commits per run: at most 10 events per Iceberg commit, one batch of 2 objects per load
    env = {**lake, "BATCH_MAX_FILES": "2", "LAKE_EXPORT_MAX_EVENTS": "10"}
    _put(world, files)
    reference = world.run_cli(env=world.env(**env))
    assert reference["status"] == "succeeded", reference
    ref_events = _lake_rows(world, lake, "events")
    ref_sessions = _lake_rows(world, lake, "sessions")
    assert len(ref_events) == world.query("SELECT count(*) FROM dw.events")[0][0] > 10

    world.fresh_database()
    lake2 = {**env, "LAKE_DATABASE": lake["LAKE_DATABASE"] + "_k"}
    marker = tmp_path / "paused"
    proc = world.popen_cli(env=world.env(**lake2, CLICKSTREAM_ETL_PAUSE_AT=checkpoint,
                                         CLICKSTREAM_ETL_PAUSE_FILE=str(marker)))
    try:
        _wait_for(marker, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    rerun = world.run_cli(env=world.env(**lake2))
    assert rerun["status"] == "succeeded", rerun
    events = _lake_rows(world, lake2, "events")
    ids = Counter(r["event_id"] for r in events)
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    assert _same(events, ref_events, "events")
    assert _same(_lake_rows(world, lake2, "sessions"), ref_sessions, "sessions")
    assert _same(ref_sessions, _warehouse(world, "sessions"), "sessions")


def test_backfill_twice_is_backfill_once(world, lake):
    """History loaded with the lake off, then the backfill: the lake holds it all once; a second backfill and a
    run after it add nothing."""
    _put(world, run1_files())
    _put(world, run2_files(run1_files()))
    assert world.run_cli()["status"] == "succeeded"  # lake off
    assert world.query("SELECT count(*) FROM etl.lake_outbox") == [(0,)]
    first = world.run_cli("lake-backfill", env=world.env(**lake))
    assert first["status"] == "succeeded", first
    events = _lake_rows(world, lake, "events")
    sessions = _lake_rows(world, lake, "sessions")
    assert _same(events, _warehouse(world, "events"), "events")
    assert _same(sessions, _warehouse(world, "sessions"), "sessions")
    second = world.run_cli("lake-backfill", env=world.env(**lake))
    assert second["status"] == "succeeded" and second["events_loaded"] == 0, second
    assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    assert _same(_lake_rows(world, lake, "events"), events, "events")
    assert len(_lake_rows(world, lake, "events")) == len(events)
    assert _same(_lake_rows(world, lake, "sessions"), sessions, "sessions")


def test_backfill_needs_the_lake_on(world):
    r = world.run_cli("lake-backfill")
    assert r["_rc"] == 1 and "LAKE_ENABLED" in r["error"]


def test_lake_off_creates_nothing_of_the_lake(world, moto_server):
    """The switch off: a run touches no Glue database and writes no outbox row."""
    glue = moto_server.client("glue")
    before = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    _put(world, run1_files())
    assert world.run_cli()["status"] == "succeeded"
    assert {d["Name"] for d in glue.get_databases()["DatabaseList"]} == before
    assert world.query("SELECT count(*) FROM etl.lake_outbox") == [(0,)]
    assert world.query("SELECT count(*) FROM etl.lake_session_days") == [(0,)]


def test_a_failing_lake_leaves_the_warehouse_loaded_and_catches_up(world, lake):
    """The lake's bucket missing: the run loads the warehouse, reports partial with the lake's error; once the
    bucket exists the next run exports everything once."""
    bad = {**lake, "LAKE_LOCATION": lake["LAKE_LOCATION"].replace("lake-", "missing-")}
    _put(world, run1_files())
    r = world.run_cli(env=world.env(**bad))
    assert r["status"] == "partial" and "lake export failed" in r["message"], r
    assert r["lake_export_failures"] == 1  # the metric LakeExportFailures and its alarm
    loaded = world.query("SELECT count(*) FROM dw.events")[0][0]
    assert loaded > 0
    world.s3.create_bucket(Bucket=bad["LAKE_LOCATION"].split("/")[2])
    ok = world.run_cli(env=world.env(**bad))
    assert ok["status"] == "succeeded" and ok["lake_export_failures"] == 0, ok
    assert len(_lake_rows(world, bad, "events")) == loaded


def test_a_lake_exported_by_another_warehouse_is_refused_not_skipped_into(world, lake, moto_server):
    """A lake kept through a teardown (teardown_keep_lake) and given to a NEW warehouse: the new warehouse's outbox
    starts at row 1 again, so exporting after the lake's recorded position would skip its events silently. The run
    loads the warehouse, refuses the lake naming the reason (partial), appends nothing; the outbox keeps every row,
    and a lake of its own takes them all."""
    _put(world, run1_files())
    assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    exported = len(_lake_rows(world, lake, "events"))
    assert exported > 0
    world.fresh_database()  # a new warehouse; the same raw objects are loaded again
    r = world.run_cli(env=world.env(**lake))
    assert r["status"] == "partial" and "exported by another warehouse" in r["message"], r
    assert world.query("SELECT count(*) FROM dw.events")[0][0] == exported
    assert len(_lake_rows(world, lake, "events")) == exported  # nothing appended: no repeat, no skip into it
    bucket = lake["LAKE_LOCATION"].split("/")[2] + "-own"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    own = {**lake, "LAKE_DATABASE": lake["LAKE_DATABASE"] + "_own", "LAKE_LOCATION": f"s3://{bucket}/iceberg"}
    ok = world.run_cli(env=world.env(**own))
    assert ok["status"] == "succeeded", ok
    assert Counter(r["event_id"] for r in _lake_rows(world, own, "events")) == Counter(
        r[0] for r in world.query("SELECT event_id::text FROM dw.events"))


def test_a_warehouse_behind_its_lake_is_refused(world, lake):
    """The same warehouse restored to a time before the lake's last export: its outbox row at the lake's position
    names another object now (the objects loaded since the restore point are loaded again, in another order). The
    restore is simulated by renaming that outbox row (a real point-in-time restore is tests/backups' and takes
    minutes); the export refuses instead of skipping or repeating events."""
    _put(world, run1_files())
    assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    exported = len(_lake_rows(world, lake, "events"))
    world.execute("UPDATE etl.lake_outbox SET source_file = source_file || '#reloaded' "
                  "WHERE seq = (SELECT max(seq) FROM etl.lake_outbox)")
    _put(world, run2_files(run1_files()))
    r = world.run_cli(env=world.env(**lake))
    assert r["status"] == "partial" and "restored to a time before the lake's last export" in r["message"], r
    assert len(_lake_rows(world, lake, "events")) == exported
