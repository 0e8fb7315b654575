"""Fault isolation: an object whose own data fails its load is quarantined and the run goes on; replay after a
fix loads it exactly once; a transient error (the warehouse gone mid-run) stops the run and leaves the objects
pending; the aggregates' apply respects the Lambda's time budget."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import psycopg2
import pytest
from clickstream_etl import faults
from clickstream_etl.config import Settings
from clickstream_etl.runner import run_etl

from .golden import t
from .helpers import event_line, ndjson, object_key

CLIENTS = ("k1", "k2", "k3")


def _lines(n: int, client_of=None) -> list:
    return [event_line("page_view" if i % 2 == 0 else "view_item", (client_of or CLIENTS)[(n + i) % 3],
                       t(10) + timedelta(minutes=7 * n, seconds=11 * i), page=f"/p{i}",
                       product=None if i % 2 == 0 else {"id": f"p{i}", "category": "c", "brand": "b",
                                                        "price": 10.0 + i})
            for i in range(6)]


def _files() -> dict[str, bytes]:
    return {object_key(t(10) + timedelta(minutes=7 * n), f"f{n}"): ndjson(_lines(n)) for n in range(7)}


# A client id the contract bounds but that a file written straight to the bucket can still hold: over the
# warehouse's byte bound on client_id (sql/dw/0011), which the load's first write (etl.delta_clients) refuses with a
# CheckViolation, an IntegrityError, not a DataError. Random, so that without the bound PostgreSQL could not
# compress it below the btree's limit on an index row either.
LONG_CLIENT = "c-" + secrets.token_urlsafe(3000)
POISON_KEY = object_key(t(10) + timedelta(minutes=7 * 2, seconds=30), "poison")


def _poisoned(client: str) -> bytes:
    """Two events of ``client``: with a client id over the limit, every line of the object fails (too many to
    reject line by line: the object is quarantined, replayable)."""
    return ndjson([event_line("page_view", client, t(10, 14, 40), page="/landing"),
                   event_line("page_view", client, t(10, 14, 50), page="/next", referrer="/landing")])


@pytest.mark.integration
def test_an_object_failing_mid_load_is_quarantined_the_run_goes_on_and_replay_loads_it_once(world):
    # the reference: the same objects, the poisoned one as it is once fixed, loaded by one clean run
    fixed = _poisoned("k-fixed")
    files = _files()  # event ids are random: made once
    for key, body in files.items():
        world.put(key, body)
    world.put(POISON_KEY, fixed)
    assert world.run_cli(env=world.env(BATCH_MAX_FILES="2"))["status"] == "succeeded"
    reference = world.snapshot()
    world.fresh_database()

    poisoned = _poisoned(LONG_CLIENT)
    world.put(POISON_KEY, poisoned)
    etag = world.s3.head_object(Bucket=world.bucket, Key=POISON_KEY)["ETag"].strip('"')
    later = dict(list(files.items())[5:])
    for key in later:  # these arrive after the first run
        world.s3.delete_object(Bucket=world.bucket, Key=key)

    first = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    # the poisoned object shares its batch with a good one: the run completes, only the poisoned object is out
    assert first["_rc"] == 0 and first["status"] == "succeeded", first
    assert (first["files_seen"], first["files_loaded"], first["files_quarantined"]) == (6, 5, 1)
    assert world.query("SELECT object_key, etag, error_class, attempts, resolved_at IS NULL FROM etl.quarantine") \
        == [(POISON_KEY, etag, "psycopg2.errors.CheckViolation", 1, True)]
    assert '"client_id_max_bytes"' in world.query("SELECT error_message FROM etl.quarantine")[0][0]
    assert world.query("SELECT count(*) FROM etl.files WHERE object_key = %s", (POISON_KEY,)) == [(0,)]
    assert world.query("SELECT count(*) FROM dw.events WHERE source_file LIKE %s", ("%poison%",)) == [(0,)]
    assert world.query("SELECT files_quarantined FROM etl.runs") == [(1,)]
    # the object is untouched in S3
    assert world.s3.get_object(Bucket=world.bucket, Key=POISON_KEY)["Body"].read() == poisoned

    # later objects load; the quarantined one is skipped, not tried again
    for key, body in later.items():
        world.put(key, body)
    second = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    assert second["status"] == "succeeded", second
    assert (second["files_seen"], second["files_loaded"], second["files_quarantined"]) == (2, 2, 0)
    assert world.query("SELECT attempts FROM etl.quarantine") == [(1,)]

    # replay before the fix: fails again, stays quarantined, one more attempt, nothing loaded
    again = world.run_cli("replay", "--all")
    assert again["_rc"] == 1 and again["files_quarantined"] == 1, again
    assert world.query("SELECT attempts, resolved_at IS NULL FROM etl.quarantine") == [(2, True)]
    assert world.query("SELECT count(*) FROM etl.files WHERE object_key = %s", (POISON_KEY,)) == [(0,)]

    # the fix: the object corrected in place (docs/warehouse.md, "Quarantine and replay"); replay loads it
    world.put(POISON_KEY, fixed)
    replayed = world.run_cli("replay", "--key", POISON_KEY)
    assert replayed["_rc"] == 0 and replayed["status"] == "succeeded", replayed
    assert (replayed["files_loaded"], replayed["events_loaded"], replayed["files_quarantined"]) == (1, 2, 0)
    assert world.query("SELECT resolved_at IS NOT NULL, resolved_run_id = %s FROM etl.quarantine",
                       (replayed["run_id"],)) == [(True, True)]
    # exactly once: a second replay and a later run find nothing to do
    twice = world.run_cli("replay", "--all")
    assert twice["_rc"] == 0 and (twice["files_seen"], twice["files_loaded"]) == (0, 0), twice
    assert world.run_cli(env=world.env(BATCH_MAX_FILES="2"))["files_loaded"] == 0
    # and the warehouse equals a clean load of the fixed objects, aggregates included
    assert world.snapshot() == reference


@pytest.mark.integration
def test_one_line_that_cannot_load_becomes_a_reject_and_its_object_loads(world):
    """The line-level fallback: one line of an object fails on its own (a client id over the warehouse's byte bound,
    which PostgreSQL refuses with a CheckViolation, not a DataError): that line becomes a reject with reason
    ``value_too_large`` naming the column and its limit, the object's other lines load, nothing is quarantined, and
    the object's batch-mate loads too."""
    good = _lines(0)
    bad = event_line("page_view", LONG_CLIENT, t(10, 3), page="/x")
    key = object_key(t(10), "mixed")
    world.put(key, ndjson([*good[:3], bad, *good[3:]]))
    world.put(object_key(t(10, 30), "after"), ndjson(_lines(4)))
    r = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    assert r["status"] == "succeeded" and (r["files_loaded"], r["files_quarantined"]) == (2, 0), r
    assert r["rejects_by_reason"] == {"value_too_large": 1} and r["events_loaded"] == 12
    rejects = world.query("SELECT source_file, line_number, reason, detail, event_id, raw_line FROM etl.rejects")
    assert [(f.rsplit("/", 1)[1], n, reason) for f, n, reason, *_ in rejects] == [("events-mixed.json", 4,
                                                                                    "value_too_large")]
    assert rejects[0][3] == "client_id over 512 bytes, the warehouse's limit (check constraint client_id_max_bytes)"
    assert rejects[0][5] == ndjson([bad]).decode().rstrip("\n")  # the line as stored
    assert world.query("SELECT lines, events_loaded, rejects FROM etl.files WHERE object_key = %s", (key,)) \
        == [(7, 6, 1)]
    assert world.query("SELECT count(*) FROM etl.quarantine") == [(0,)]
    assert world.query("SELECT count(*) FROM dw.clients WHERE length(client_id) > 100") == [(0,)]


@pytest.mark.integration
def test_the_warehouse_gone_mid_run_stops_it_and_quarantines_nothing(world, monkeypatch):
    """The warehouse ends the run's session after its second batch commits (an administrator's shutdown, as when
    the server restarts): a transient error, not the data's. The run stops, no object is quarantined, what
    committed stays and the rest is pending; the next run loads the rest and the tables equal a clean run's."""
    for key, body in _files().items():
        world.put(key, body)
    assert world.run_cli(env=world.env(BATCH_MAX_FILES="2"))["status"] == "succeeded"
    reference = world.snapshot()
    world.fresh_database()

    hits = []
    real = faults.checkpoint

    def terminate_after_second_commit(name: str) -> None:
        real(name)
        if name == "after_commit":
            hits.append(name)
            if len(hits) == 2:
                with psycopg2.connect(world.dsn) as other, other.cursor() as cur:
                    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                other.close()

    monkeypatch.setattr(faults, "checkpoint", terminate_after_second_commit)
    conn = psycopg2.connect(world.dsn)
    try:
        with pytest.raises(psycopg2.OperationalError):
            run_etl(conn, world.s3, Settings(raw_bucket=world.bucket, dw_host="127.0.0.1", batch_max_files=2,
                                             parse_worker="off"), trigger="test")
    finally:
        conn.close()
    monkeypatch.setattr(faults, "checkpoint", real)
    assert world.query("SELECT count(*) FROM etl.quarantine") == [(0,)]
    assert world.query("SELECT count(*) FROM etl.files") == [(4,)]
    rerun = world.run_cli(env=world.env(BATCH_MAX_FILES="2"))
    assert rerun["status"] == "succeeded" and rerun["files_loaded"] == 3, rerun
    assert world.snapshot() == reference
    # the cut run could not record its end; the next one found it running and marked it abandoned
    assert sorted(r[0] for r in world.query("SELECT status FROM etl.runs")) == ["abandoned", "succeeded"]


@pytest.mark.integration
def test_the_aggregates_apply_does_not_start_without_the_time_to_finish(world):
    """Too little time left for the apply: the run stops before it, leaving the loaded batches' aggregate changes
    pending (nothing applied in part); the next run applies them first and the tables equal a clean run's."""
    for key, body in _files().items():
        world.put(key, body)
    assert world.run_cli(env=world.env(BATCH_MAX_FILES="2"))["status"] == "succeeded"
    reference = world.snapshot()
    world.fresh_database()

    settings = Settings(raw_bucket=world.bucket, dw_host="127.0.0.1", batch_max_files=2, min_remaining_seconds=60,
                        min_apply_seconds=20)
    readings = [900_000, 900_000, 900_000, 10_000]  # three batches fit, then 10 s are left: no batch, no apply

    def remaining() -> int:
        return readings.pop(0) if len(readings) > 1 else readings[0]

    conn = psycopg2.connect(world.dsn)
    try:
        first = run_etl(conn, world.s3, settings, remaining_ms=remaining, trigger="test")
    finally:
        conn.close()
    assert (first.status, first.files_loaded, first.files_remaining) == ("partial", 6, 1)
    assert "aggregates left pending" in first.message
    assert world.query("SELECT count(*) FROM etl.delta_clients")[0][0] > 0  # the change is pending, not applied
    assert world.query("SELECT count(*) FROM etl.delta_applied") == [(0,)]  # no part of it applied
    assert world.query("SELECT count(*) FROM dw.agg_hourly_activity") == [(0,)]
    conn = psycopg2.connect(world.dsn)
    try:
        second = run_etl(conn, world.s3, settings, remaining_ms=lambda: 900_000, trigger="test")
    finally:
        conn.close()
    assert (second.status, second.files_loaded) == ("succeeded", 1)
    assert world.snapshot() == reference


def test_transient_errors_are_told_from_data_errors():
    from botocore.exceptions import ClientError, EndpointConnectionError
    from clickstream_etl.quarantine import is_transient

    def pg(code: str) -> psycopg2.Error:
        exc = psycopg2.errors.lookup(code)("x")
        return exc

    assert is_transient(psycopg2.OperationalError("connection refused"))  # no SQLSTATE: no server answer
    assert all(is_transient(pg(c)) for c in ("08006", "40001", "40P01", "55P03", "57P01", "57014", "53100"))
    assert not any(is_transient(pg(c)) for c in ("54000", "22003", "22P05", "23505", "42703"))
    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert is_transient(ClientError({"Error": {"Code": "SlowDown"}}, "GetObject"))
    assert not is_transient(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert not is_transient(ValueError("bad input"))


def test_a_line_error_other_than_a_byte_bound_is_unloadable_with_the_error():
    """The reason of a line the line-level fallback found: only a byte bound's CheckViolation is value_too_large
    (tested against the warehouse above); any other error keeps its class and message (no connection needed)."""
    from clickstream_etl.quarantine import line_reject

    assert line_reject(None, ValueError("bad input")) == ("unloadable", "builtins.ValueError: bad input")
    other_check = psycopg2.errors.lookup("23514")("new row violates check constraint \"events_check\"")
    assert line_reject(None, other_check)[0] == "unloadable"


def test_a_transient_error_of_the_apply_stays_transient_and_another_names_the_part():
    """aggregates._apply_part with a stand-in connection whose statements raise (the warehouse cannot be made to fail a
    chosen statement of the apply on demand): a transient error is raised as it is (the run stops as for a batch),
    any other as ApplyError naming the part."""
    from clickstream_etl import aggregates

    class Conn:
        def __init__(self, error: Exception) -> None:
            self.error, self.rolled_back = error, False

        def cursor(self):
            conn = self

            class Cur:
                rowcount = 1

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    return False

                def execute(self, statement, params=None):
                    if not statement.startswith("INSERT INTO etl.delta_applied"):
                        raise conn.error

            return Cur()

        def rollback(self):
            self.rolled_back = True

    gone = Conn(psycopg2.OperationalError("server closed the connection"))
    with pytest.raises(psycopg2.OperationalError):
        aggregates._apply_part(gone, "products")
    assert gone.rolled_back
    with pytest.raises(aggregates.ApplyError, match=re.escape("part 'products', failed reading the pending facts: "
                                                          "builtins.ValueError: odd")):
        aggregates._apply_part(Conn(ValueError("odd")), "products")


def test_replay_needs_a_key_or_all_and_a_run_takes_neither(world):
    assert world.run_cli("replay")["_rc"] == 2
    assert "replay needs --key KEY or --all" in world.run_cli("replay")["_stderr"]
    assert world.run_cli("--all")["_rc"] == 2
    assert world.query("SELECT count(*) FROM etl.runs") == [(0,)]


@pytest.mark.integration
def test_the_etl_connection_carries_its_session_limits(world):
    """The limits that keep a dead or hung ETL from holding its lock (docs/warehouse.md, "Session limits"), as the
    server sees them on the ETL's own connection (TCP, as from the Lambda)."""
    from clickstream_etl.handler import connect

    conn = connect(Settings(raw_bucket=world.bucket, dw_host="127.0.0.1", dw_port=world.port, dw_name=world.dbname,
                            dw_user="postgres", dw_sslrootcert=str(world.pg.ca_file)), "unused-with-trust-auth")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('statement_timeout'), "
                        "current_setting('idle_in_transaction_session_timeout'), "
                        "current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'), "
                        "current_setting('tcp_keepalives_count')")
            assert cur.fetchone() == ("10min", "15min", "60", "10", "3")
        assert conn.info.dsn_parameters["keepalives"] == "1"
    finally:
        conn.close()
