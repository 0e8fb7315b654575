"""S3 writes: retries with backoff, all-or-nothing per request, 503 on final failure (stub client + real moto)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from clickstream_ingest.config import Settings
from clickstream_ingest.contract import event_validator
from clickstream_ingest.handler import process
from clickstream_ingest.storage import S3Store, StorageError, backoff_delay, is_retryable

from .helpers import api_event, list_keys, read_ndjson, valid_event


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


class FlakyClient:
    """Unit-test stand-in for the S3 client: fails the first `failures` puts of each key, records everything."""

    def __init__(self, failures: dict[str, list[Exception]] | None = None, delete_fails: bool = False) -> None:
        self.failures = failures or {}
        self.delete_fails = delete_fails
        self.puts: list[str] = []
        self.deletes: list[str] = []
        self.stored: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        self.puts.append(Key)
        for prefix, errors in self.failures.items():
            if Key.startswith(prefix) and errors:
                raise errors.pop(0)
        assert ContentType == "application/x-ndjson"
        self.stored[Key] = Body
        return {}

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.deletes.append(Key)
        if self.delete_fails:
            raise client_error("InternalError", 500)
        self.stored.pop(Key, None)
        return {}


def store_for(client: FlakyClient, attempts: int = 4) -> tuple[S3Store, list[float]]:
    sleeps: list[float] = []
    return S3Store(client, "b", attempts=attempts, backoff_base=0.05, backoff_max=1.0, sleep=sleeps.append), sleeps


def test_transient_errors_are_retried_with_backoff():
    client = FlakyClient({"events/": [client_error("SlowDown", 503), EndpointConnectionError(endpoint_url="x")]})
    store, sleeps = store_for(client)
    store.put_all([("events/k", b"x\n")])
    assert client.puts == ["events/k"] * 3
    assert client.stored == {"events/k": b"x\n"}
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.05 and 0 <= sleeps[1] <= 0.1


def test_final_failure_raises_and_removes_everything_of_the_request():
    client = FlakyClient({"events/": [client_error("InternalError", 500)] * 10})
    store, _sleeps = store_for(client, attempts=3)
    with pytest.raises(StorageError):
        store.put_all([("rejected/k", b"r\n"), ("events/k", b"e\n")])
    assert client.puts.count("events/k") == 3
    assert set(client.deletes) == {"rejected/k", "events/k"}
    assert client.stored == {}


def test_non_retryable_error_fails_at_once():
    client = FlakyClient({"events/": [client_error("AccessDenied", 403)]})
    store, sleeps = store_for(client)
    with pytest.raises(StorageError):
        store.put_all([("events/k", b"e\n")])
    assert client.puts == ["events/k"] and sleeps == []


def test_failed_cleanup_is_logged_not_raised_over_the_original_error(caplog, monkeypatch):
    client = FlakyClient({"events/": [client_error("InternalError", 500)] * 10}, delete_fails=True)
    store, _ = store_for(client, attempts=2)
    # The package logger does not propagate once logs.configure() ran (in whichever test came first in this
    # process): listen on it directly, and keep it from propagating here too, so each record is seen once.
    logger = logging.getLogger("clickstream_ingest")
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(caplog.handler)
    try:
        with pytest.raises(StorageError):
            store.put_all([("rejected/k", b"r\n"), ("events/k", b"e\n")])
    finally:
        logger.removeHandler(caplog.handler)
    assert [r.fields["key"] for r in caplog.records if r.getMessage().startswith("cleanup failed")] == [
        "rejected/k", "events/k"]


@pytest.mark.parametrize(("exc", "retry"), [
    (client_error("SlowDown", 503), True), (client_error("InternalError", 500), True),
    (client_error("RequestTimeout", 400), True), (client_error("NoSuchBucket", 404), False),
    (client_error("AccessDenied", 403), False), (EndpointConnectionError(endpoint_url="x"), True),
])
def test_is_retryable(exc, retry):
    assert is_retryable(exc) is retry


def test_backoff_is_capped_and_jittered():
    assert backoff_delay(10, 0.05, 1.0, rand=lambda: 1.0) == 1.0
    assert backoff_delay(2, 0.05, 1.0, rand=lambda: 1.0) == pytest.approx(0.2)
    assert backoff_delay(2, 0.05, 1.0, rand=lambda: 0.0) == 0.0


def test_handler_answers_503_and_leaves_nothing_when_s3_fails():
    client = FlakyClient({"events/": [client_error("ServiceUnavailable", 503)] * 10})
    store, _ = store_for(client, attempts=2)
    resp = process(api_event({"events": [valid_event(), 7]}), None, Settings(raw_bucket="b", log_level="ERROR"),
                   store, event_validator())
    assert resp["statusCode"] == 503
    assert json.loads(resp["body"])["error"] == "storage_unavailable"
    assert client.stored == {}


@pytest.mark.integration
def test_missing_bucket_on_the_emulator_gives_503_and_no_object(moto_server, s3, raw_bucket):
    store = S3Store(moto_server.client("s3"), "no-such-bucket-here", attempts=2, sleep=lambda _s: None)
    resp = process(api_event(valid_event()), None, Settings(raw_bucket="no-such-bucket-here", log_level="ERROR"),
                   store, event_validator())
    assert resp["statusCode"] == 503


@pytest.mark.integration
def test_real_write_to_the_emulator(moto_server, s3, raw_bucket):
    settings = Settings(raw_bucket=raw_bucket, events_prefix="storage-test/events/", log_level="ERROR")
    store = S3Store(moto_server.client("s3"), raw_bucket)
    resp = process(api_event({"events": [valid_event(), valid_event()]}), None, settings, store, event_validator())
    assert resp["statusCode"] == 200
    keys = list_keys(s3, raw_bucket, "storage-test/events/")
    assert len(keys) == 1
    assert len(read_ndjson(s3, raw_bucket, keys[0])) == 2
    head = s3.head_object(Bucket=raw_bucket, Key=keys[0])
    assert head["ContentType"] == "application/x-ndjson"
