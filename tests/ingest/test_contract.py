"""Contract tests over real HTTP: the local endpoint (same handler) writing to the emulator's S3, read back."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from scripts.harness.net import free_port

from .conftest import start_endpoint, stop_endpoint
from .helpers import list_keys, read_ndjson, valid_event

pytestmark = pytest.mark.integration

KEY_RE = re.compile(r"^(events|rejected)/(\d{4})/(\d{2})/(\d{2})/(\d{2})/(events|rejected)-"
                    r"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\.json$")


def post(url: str, body: Any = None, *, raw: bytes | None = None, method: str = "POST",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, hdrs, payload = r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, payload = e.code, dict(e.headers.items()), e.read()
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    return status, hdrs, (json.loads(payload) if payload else None)


def objects_of_request(s3: Any, bucket: str, request_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every object (key -> lines) holding lines of this request."""
    found = {}
    for key in list_keys(s3, bucket, "events/") + list_keys(s3, bucket, "rejected/"):
        lines = read_ndjson(s3, bucket, key)
        if any(line["request_id"] == request_id for line in lines):
            found[key] = lines
    return found


def test_batch_is_stored_as_one_ndjson_object_with_rejects_beside_it(local_endpoint, s3):
    sent = [valid_event(), valid_event(event_id=None), {"event_name": "login", "client_id": "x"}, valid_event()]
    status, headers, body = post(local_endpoint.url, {"events": sent})
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    assert (body["accepted"], body["rejected"]) == (3, 1)
    assert body["errors"] == [{"index": 2, "reason": "missing_required_field", "field": "event_timestamp",
                               "detail": "'event_timestamp' is a required property"}]
    objects = objects_of_request(s3, local_endpoint.bucket, body["request_id"])
    assert len(objects) == 2, objects.keys()
    (events_key, events), (rejected_key, rejected) = sorted(objects.items())
    m_ev, m_rj = KEY_RE.match(events_key), KEY_RE.match(rejected_key)
    assert m_ev and m_rj and m_ev.group(1) == "events" and m_rj.group(1) == "rejected"
    assert m_ev.group(7) == m_rj.group(7)
    received = events[0]["received_at"]
    assert m_ev.group(2, 3, 4, 5) == (received[0:4], received[5:7], received[8:10], received[11:13])
    assert [line["batch_index"] for line in events] == [0, 1, 3]
    assert [line["client_id"] for line in events] == [sent[i]["client_id"] for i in (0, 1, 3)]
    assert events[0]["event_id"] == sent[0]["event_id"] and events[1]["event_id_generated"] is True
    assert events[0]["source_ip_prefix"] == "127.0.0.0/24"
    assert events[0]["user_agent"].startswith("Python-urllib")
    assert rejected == [{**rejected[0], "reason": "missing_required_field", "field": "event_timestamp",
                         "batch_index": 2, "event": sent[2]}]


def test_single_event_body(local_endpoint, s3):
    event = valid_event(event_name="search", search_term="gaming laptop", product=None)
    status, _, body = post(local_endpoint.url, event)
    assert status == 200 and body["accepted"] == 1
    objects = objects_of_request(s3, local_endpoint.bucket, body["request_id"])
    assert len(objects) == 1
    [lines] = objects.values()
    assert lines[0]["search_term"] == "gaming laptop" and lines[0]["client_id"] == event["client_id"]


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"", 400, "empty_body"), (b"{oops", 400, "invalid_json"), (b"\xff\xfe", 400, "invalid_json"),
    (b"[]", 400, "invalid_shape"), (b'{"events": []}', 400, "empty_batch"),
    (json.dumps({"events": [valid_event()] * 51}).encode(), 413, "too_many_events"),
    (json.dumps({"events": [valid_event(page={"url_path": "/", "referrer": "r" * 2000}) for _ in range(40)]}).encode(),
     413, "payload_too_large"),
], ids=["empty", "not_json", "not_utf8", "array", "no_events", "51_events", "too_large"])  # stable across workers
def test_malformed_requests_get_4xx_and_write_nothing(local_endpoint, s3, raw, status, code):
    before = list_keys(s3, local_endpoint.bucket)
    got, _, body = post(local_endpoint.url, raw=raw)
    assert (got, body["error"]) == (status, code), body
    assert body["message"] and body["request_id"]
    assert list_keys(s3, local_endpoint.bucket) == before


def test_routes_and_methods(local_endpoint):
    base = local_endpoint.url.rsplit("/", 1)[0]
    assert post(f"{base}/other", {})[0] == 404
    status, _, body = post(local_endpoint.url, method="GET")
    assert (status, body["error"]) == (405, "method_not_allowed")
    assert post(f"{base}/healthz", method="GET")[2] == {"status": "ok"}


def test_cors_preflight_and_response_headers(local_endpoint):
    allowed = {"origin": "https://shop.example.com", "access-control-request-method": "POST",
               "access-control-request-headers": "content-type"}
    status, headers, _ = post(local_endpoint.url, method="OPTIONS", headers=allowed)
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "POST" in headers["access-control-allow-methods"].split(",")
    assert headers["access-control-allow-headers"] == "content-type"
    assert int(headers["access-control-max-age"]) > 0
    status, headers, _ = post(local_endpoint.url, method="OPTIONS",
                              headers={**allowed, "origin": "https://evil.example.net"})
    assert status == 204 and "access-control-allow-origin" not in headers
    status, headers, _ = post(local_endpoint.url, valid_event(), headers={"origin": "https://shop.example.com"})
    assert status == 200 and headers["access-control-allow-origin"] == "https://shop.example.com"
    status, headers, _ = post(local_endpoint.url, valid_event(), headers={"origin": "https://evil.example.net"})
    assert status == 200 and "access-control-allow-origin" not in headers


def test_concurrent_requests_each_get_their_own_object(local_endpoint, s3):
    batches = [[valid_event() for _ in range(10)] for _ in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda b: post(local_endpoint.url, {"events": b}), batches))
    assert all(status == 200 and body["accepted"] == 10 for status, _, body in results), results
    request_ids = [body["request_id"] for _, _, body in results]
    assert len(set(request_ids)) == 16
    by_request: dict[str, list[str]] = {}
    keys = list_keys(s3, local_endpoint.bucket, "events/")
    for key in keys:
        lines = read_ndjson(s3, local_endpoint.bucket, key)
        ids = {line["request_id"] for line in lines}
        assert len(ids) == 1, f"{key} mixes requests"
        by_request.setdefault(ids.pop(), []).append(key)
    for request_id, batch in zip(request_ids, batches, strict=True):
        assert len(by_request[request_id]) == 1
        lines = read_ndjson(s3, local_endpoint.bucket, by_request[request_id][0])
        assert [line["event_id"] for line in lines] == [e["event_id"] for e in batch]


def test_storage_down_gives_503_with_retries_logged(artifacts_dir, moto_server):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**moto_server.env(), "AWS_ENDPOINT_URL": dead, "RAW_BUCKET_NAME": "any", "S3_MAX_ATTEMPTS": "3",
           "S3_BACKOFF_BASE_SECONDS": "0.01"}
    endpoint = start_endpoint(artifacts_dir, env)
    try:
        status, _, body = post(endpoint.url, {"events": [valid_event()]})
    finally:
        stop_endpoint(endpoint)
    assert (status, body["error"]) == (503, "storage_unavailable")
    log = [json.loads(line) for line in endpoint.log().splitlines() if line.startswith("{")]
    retries = [r for r in log if r["message"] == "s3 retry"]
    assert [r["operation"] for r in retries if r["operation"] == "put_object"] == ["put_object"] * 2
    assert any(r["message"] == "storage unavailable" for r in log)


def test_endpoint_refuses_a_non_loopback_address(artifacts_dir, moto_server):
    import subprocess
    import sys

    from .conftest import PYTHONPATH

    proc = subprocess.run([sys.executable, "-m", "clickstream_local.ingest_server", "--host", "0.0.0.0",  # noqa: S104 - the point: it must refuse
                           "--port", str(free_port())], capture_output=True, text=True, timeout=60,
                          env={**moto_server.env(), "PYTHONPATH": PYTHONPATH, "RAW_BUCKET_NAME": "b",
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "loopback only" in proc.stderr
