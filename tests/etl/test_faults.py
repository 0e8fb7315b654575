"""Kill -9 mid-load, concurrent runs, an unreachable warehouse, the Lambda time budget."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from clickstream_etl.config import Settings
from clickstream_etl.runner import run_etl

from scripts.harness.procs import children, exited

from .golden import t
from .helpers import event_line, ndjson, object_key

# Several objects, so a run has several batches (BATCH_MAX_FILES=2): sessions cross objects and batches.
CLIENTS = ("k1", "k2", "k3")


def _files() -> dict[str, bytes]:
    files = {}
    for n in range(7):
        lines = [event_line("page_view" if i % 2 == 0 else "view_item", CLIENTS[(n + i) % 3],
                            t(10) + timedelta(minutes=7 * n, seconds=11 * i), page=f"/p{i}",
                            product=None if i % 2 == 0 else {"id": f"p{i}", "category": "c", "brand": "b",
                                                             "price": 10.0 + i})
                 for i in range(6)]
        if n == 3:
            lines.append(b"not json at all")
        files[object_key(t(10) + timedelta(minutes=7 * n), f"f{n}")] = ndjson(lines)
    return files


def _reference(world) -> dict:
    for key, body in _files().items():
        world.put(key, body)
    r = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    assert r["status"] == "succeeded" and r["files_loaded"] == 7, r
    return world.snapshot()


def _parse_workers(parent: int) -> list[int]:
    """The parse worker processes (clickstream_etl.parse_worker) whose parent is ``parent``."""
    return [pid for pid, _, cmdline in children(parent) if "clickstream_etl.parse_worker" in cmdline]


def _wait_for(path: Path, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ETL exited before the checkpoint: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("ETL never reached the checkpoint")
        time.sleep(0.05)


@pytest.mark.integration
@pytest.mark.parametrize("checkpoint", ["after_copy:2", "before_commit:1", "after_commit:2", "after_commit:4",
                                        "before_aggregates_commit:1", "before_aggregates_commit:2",
                                        "before_aggregates_commit:3", "before_aggregates_clear:1"])
def test_sigkill_mid_load_then_rerun_gives_identical_tables(world, tmp_path, checkpoint):
    reference = _reference(world)
    world.fresh_database()
    marker = tmp_path / "paused"
    proc = world.popen_cli(env=world.env(BATCH_MAX_FILES="2", CLICKSTREAM_ETL_PAUSE_AT=checkpoint,
                                         CLICKSTREAM_ETL_PAUSE_FILE=str(marker), PARSE_WORKER="on"))
    try:
        _wait_for(marker, proc)
        workers = _parse_workers(proc.pid)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # the load parses in a worker process, ended with the load: killed mid-load, the run leaves no worker behind
    assert len(workers) == (0 if checkpoint.startswith("before_aggregates") else 1)
    deadline = time.monotonic() + 30
    while not all(exited(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(exited(pid) for pid in workers)
    # a killed run leaves nothing half-done: every object is either fully in the manifest or not at all
    loaded = world.query("SELECT object_key, events_loaded FROM etl.files")
    per_file = world.query("SELECT source_file, count(*) FROM dw.events GROUP BY 1")
    assert sum(n for _, n in loaded) == sum(n for _, n in per_file)
    if checkpoint.startswith("before_aggregates"):  # every batch is in; their aggregate changes are still pending
        assert len(loaded) == 7 and world.query("SELECT count(*) FROM etl.delta_clients")[0][0] > 0
    rerun = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    assert rerun["status"] == "succeeded", rerun
    assert rerun["files_loaded"] == 7 - len(loaded)
    assert world.snapshot() == reference
    statuses = sorted(r[0] for r in world.query("SELECT status FROM etl.runs"))
    assert statuses == ["abandoned", "succeeded"]


@pytest.mark.integration
def test_an_apply_cut_between_its_parts_is_finished_before_new_clients_become_pending(world, tmp_path):
    """Some parts of the aggregates' apply committed, another not (the process killed in between); then more
    objects arrive. The next run applies the missing parts for the clients pending then, and only then records
    the new ones: the tables equal a clean run's."""
    files = list(_files().items())
    for key, body in files:
        world.put(key, body)
    assert world.run_cli(env=world.env(BATCH_MAX_FILES="2"))["status"] == "succeeded"
    reference = world.snapshot()
    world.fresh_database()
    for key, _ in files[4:]:  # these arrive later
        world.s3.delete_object(Bucket=world.bucket, Key=key)
    marker = tmp_path / "paused"
    # the second part to reach its commit waits there to be killed: the first one is in by then (the third part,
    # on the other connection, may be in too)
    proc = world.popen_cli(env=world.env(BATCH_MAX_FILES="2", CLICKSTREAM_ETL_PAUSE_AT="before_aggregates_commit:2",
                                         CLICKSTREAM_ETL_PAUSE_FILE=str(marker)))
    try:
        _wait_for(marker, proc)
        for _ in range(100):  # in parallel, the other part may still be committing
            if world.query("SELECT count(*) FROM etl.delta_applied") >= [(1,)]:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert world.query("SELECT count(*) FROM etl.delta_applied") in ([(1,)], [(2,)])  # cut between the parts
    assert world.query("SELECT count(*) FROM etl.delta_clients")[0][0] > 0
    assert world.query("SELECT count(*) FROM etl.files") == [(4,)]
    for key, body in files[4:]:
        world.put(key, body)
    rerun = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    assert rerun["status"] == "succeeded" and rerun["files_loaded"] == 3, rerun
    assert world.query("SELECT count(*) FROM etl.delta_applied") == [(0,)]
    # the same tables (the manifest differs only in the later objects' upload times)
    assert world.query("SELECT count(*) FROM etl.files") == [(7,)]
    assert {k: v for k, v in world.snapshot().items() if k != "etl.files"} == {
        k: v for k, v in reference.items() if k != "etl.files"}


@pytest.mark.integration
def test_second_run_while_one_holds_the_lock_loads_nothing(world, tmp_path):
    reference = _reference(world)
    world.fresh_database()
    marker = tmp_path / "paused"
    first = world.popen_cli(env=world.env(BATCH_MAX_FILES="2", CLICKSTREAM_ETL_PAUSE_AT="after_commit:1",
                                          CLICKSTREAM_ETL_PAUSE_FILE=str(marker)))
    try:
        _wait_for(marker, first)
        second = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
        assert second["_rc"] == 0 and second["status"] == "skipped_locked"
        assert world.query("SELECT count(*) FROM etl.files") == [(2,)]  # only the first run's batch
    finally:
        first.kill()
        first.communicate(timeout=30)
    assert world.run_cli(env=world.env(BATCH_MAX_FILES="2"))["status"] == "succeeded"
    assert world.snapshot() == reference


@pytest.mark.integration
def test_two_runs_started_together_never_double_load(world):
    reference = _reference(world)
    world.fresh_database()
    env = world.env(BATCH_MAX_FILES="1")
    procs = [world.popen_cli(env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    # whichever order they ran in, every object and event is there exactly once
    assert world.query("SELECT count(*), count(DISTINCT object_key) FROM etl.files") == [(7, 7)]
    assert world.run_cli(env=env)["status"] == "succeeded"
    assert world.snapshot() == reference


@pytest.mark.integration
def test_unreachable_warehouse_fails_cleanly_and_files_stay_pending(world):
    for key, body in _files().items():
        world.put(key, body)
    from scripts.harness.net import free_port

    r = world.run_cli(env=world.env(DW_PORT=str(free_port()), DW_CONNECT_TIMEOUT_SECONDS="2"))
    assert r["_rc"] == 1 and r["status"] == "failed"
    assert "cannot connect to the warehouse" in r["error"]
    assert world.query("SELECT count(*) FROM etl.files") == [(0,)]
    assert world.query("SELECT count(*) FROM etl.runs") == [(0,)]
    ok = world.run_cli()
    assert ok["status"] == "succeeded" and ok["files_loaded"] == 7


@pytest.mark.integration
def test_stops_taking_batches_when_the_lambda_budget_runs_low(world):
    import psycopg2

    for key, body in _files().items():
        world.put(key, body)
    settings = Settings(raw_bucket=world.bucket, dw_host="127.0.0.1", batch_max_files=2, min_remaining_seconds=60)
    budget = iter([900_000, 900_000, 30_000])  # two batches fit, then less than a minute is left

    conn = psycopg2.connect(world.dsn)
    try:
        first = run_etl(conn, world.s3, settings, remaining_ms=lambda: next(budget), trigger="test")
    finally:
        conn.close()
    assert (first.status, first.files_loaded, first.files_remaining) == ("partial", 4, 3)
    assert "time budget" in first.message
    # what was loaded is complete, aggregates included; the next run takes the rest
    assert world.query("SELECT count(*) FROM etl.dirty_days") == [(0,)]
    assert world.query("SELECT count(*) FROM etl.delta_clients") == [(0,)]
    conn = psycopg2.connect(world.dsn)
    try:
        second = run_etl(conn, world.s3, settings, remaining_ms=lambda: 900_000, trigger="test")
    finally:
        conn.close()
    assert (second.status, second.files_loaded, second.files_remaining) == ("succeeded", 3, 0)
    assert world.query("SELECT status, files_remaining FROM etl.runs ORDER BY run_id") == [("partial", 3),
                                                                                            ("succeeded", 0)]


@pytest.mark.integration
def test_an_object_that_cannot_be_read_fails_the_run_and_the_rest_stays_pending(world):
    """A GET that fails mid-run (here: the object was deleted after the listing) fails the run: committed batches
    stay, nothing of the failing batch lands, the fetch and parse threads stop (the run returns), and once the
    object is back the next run loads the rest and ends with the same tables as a clean run."""
    import psycopg2
    from botocore.exceptions import ClientError
    from clickstream_etl import source

    reference = _reference(world)  # the objects stay in the bucket
    world.fresh_database()
    keys = sorted(o["Key"] for o in world.s3.list_objects_v2(Bucket=world.bucket)["Contents"])
    assert len(keys) == 7
    missing = world.s3.get_object(Bucket=world.bucket, Key=keys[4])["Body"].read()
    settings = Settings(raw_bucket=world.bucket, dw_host="127.0.0.1", batch_max_files=2)
    real_list = source.list_objects

    def list_then_delete(*args, **kwargs):
        listed = real_list(*args, **kwargs)
        world.s3.delete_object(Bucket=world.bucket, Key=keys[4])  # third batch: objects 4 and 5
        return listed

    conn = psycopg2.connect(world.dsn)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("clickstream_etl.runner.list_objects", list_then_delete)
            with pytest.raises(ClientError, match=r"NoSuchKey"):
                run_etl(conn, world.s3, settings, trigger="test")
    finally:
        conn.close()
    # whole batches before the failing one (the run fetches two batches ahead, so it may stop before loading the
    # batch just before it): a prefix of the keys, never the missing object's batch
    loaded = [k for (k,) in world.query("SELECT object_key FROM etl.files ORDER BY 1")]
    assert loaded == keys[:len(loaded)] and len(loaded) in (2, 4)
    assert world.query("SELECT status, files_loaded FROM etl.runs") == [("failed", len(loaded))]
    world.put(keys[4], missing)
    again = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    assert again["status"] == "succeeded" and again["files_loaded"] == 7 - len(loaded), again
    assert world.snapshot() == reference
