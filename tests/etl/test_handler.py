"""The Lambda handler in-process with the emulator's SSM and S3 (as Lambda would call it)."""

from __future__ import annotations

import pytest
from clickstream_etl import handler as etl_handler
from clickstream_etl.password import SecretError

from .golden import run1_files


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture
def lambda_env(world, monkeypatch):
    for key, value in world.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DW_PASSWORD", raising=False)
    etl_handler._clients.clear()
    yield world
    etl_handler._clients.clear()


@pytest.mark.integration
def test_scheduled_event_loads_with_the_password_from_ssm(lambda_env):
    world = lambda_env
    for key, body in run1_files().items():
        world.put(key, body)
    # the ingest's own rejects live under rejected/: never read by the ETL
    world.put("rejected/2024/05/01/10/rejected-x.json", b'{"reason": "unknown_field", "event": {}}\n')
    result = etl_handler.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, _Context())
    assert (result["status"], result["files_loaded"], result["events_loaded"], result["rejects"]) == \
        ("succeeded", 3, 10, 7)
    assert world.query("SELECT trigger FROM etl.runs") == [("schedule",)]
    assert world.query("SELECT count(*) FROM etl.files WHERE starts_with(object_key, 'rejected/')") == [(0,)]


@pytest.mark.integration
def test_a_plain_string_parameter_is_refused(lambda_env, monkeypatch):
    world = lambda_env
    world.moto.client("ssm").put_parameter(Name=world.parameter + "-plain", Value="x", Type="String")
    monkeypatch.setenv("DW_PASSWORD_PARAMETER", world.parameter + "-plain")
    with pytest.raises(SecretError, match="SecureString"):
        etl_handler.handler({}, _Context())
    assert world.query("SELECT count(*) FROM etl.runs") == [(0,)]


@pytest.mark.integration
def test_an_invocation_with_replay_loads_the_quarantined_objects(lambda_env):
    """A raw object with a client id over the btree's limit on an index row is quarantined by the scheduled run;
    once corrected in S3, an invocation {"replay": "all"} loads it, and the record is closed."""
    import json
    import secrets

    world = lambda_env
    files = run1_files()
    for key, body in files.items():
        world.put(key, body)
    key, body = next(iter(files.items()))
    long_client = "c-" + secrets.token_urlsafe(3000)  # every line of the object: quarantined, not line-rejected
    poisoned = [json.loads(line) | {"client_id": long_client} for line in body.decode().splitlines()]
    world.put(key, "".join(json.dumps(p) + "\n" for p in poisoned).encode())
    first = etl_handler.handler({"source": "aws.events"}, _Context())
    assert (first["status"], first["files_loaded"], first["files_quarantined"]) == ("succeeded", 2, 1)
    world.put(key, body)  # the fix: the object as it should have been
    replayed = etl_handler.handler({"replay": "all"}, _Context())
    assert (replayed["status"], replayed["files_loaded"], replayed["files_quarantined"]) == ("succeeded", 1, 0)
    assert world.query("SELECT resolved_at IS NOT NULL FROM etl.quarantine") == [(True,)]
    assert world.query("SELECT trigger FROM etl.runs ORDER BY run_id") == [("schedule",), ("replay",)]
    assert world.query("SELECT count(*) FROM dw.events") == [(10,)]
