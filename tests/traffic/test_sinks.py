"""The sinks against real servers: raw objects in the emulator's S3, requests to a local HTTP endpoint, the CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from traffic import TrafficReport, iter_clients
from traffic.http_sink import send_http
from traffic.runner import run, run_s3

from .conftest import FIXED_END, config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(
    r"^events/(\d{4})/(\d{2})/(\d{2})/(\d{2})/events-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json$"
)
REJECTED_KEY = re.compile(r"^rejected/\d{4}/\d{2}/\d{2}/\d{2}/rejected-[0-9a-f-]{36}\.json$")


@pytest.fixture
def aws_env(moto_server, monkeypatch: pytest.MonkeyPatch):
    """boto3 clients made by the sink (also in forked workers) talk to this session's emulator."""
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server


def _bucket(moto_server, name: str):
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=name)
    return s3


def _objects(s3, bucket: str) -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def test_s3_sink_writes_the_ingest_layout_and_exactly_the_reported_lines(aws_env, moto_server, products):
    s3 = _bucket(moto_server, "traffic-s3-sink")
    cfg = config(clients=300, malformed=0.02, duplicate=0.02)
    report, stats = run_s3(
        cfg, products, bucket="traffic-s3-sink", endpoint_url=moto_server.url, lines_per_object=250, corrupt_lines=0.01
    )
    out = report.as_dict()
    objects = _objects(s3, "traffic-s3-sink")
    event_ids: Counter[str] = Counter()
    corrupt = rejected = 0
    names: Counter[str] = Counter()
    for key, body in objects.items():
        assert body.endswith(b"\n") and b"\n\n" not in body
        if key.startswith("rejected/"):
            assert REJECTED_KEY.match(key), key
            assert key.replace("rejected", "events") in objects  # same uuid as its events object
            rejected += body.count(b"\n")
            continue
        m = KEY.match(key)
        assert m, key
        for raw in body.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                corrupt += 1
                continue
            assert line["received_at"][:13] == "{}-{}-{}T{}".format(*m.groups())  # key hour = receive hour
            assert line["received_at"] >= line["event_timestamp"]
            assert line["received_at"] <= FIXED_END.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            assert isinstance(line["product"]["id"], str) if line["product"] else True
            event_ids[line["event_id"]] += 1
            if event_ids[line["event_id"]] == 1:
                names[line["event_name"]] += 1
    assert len(event_ids) == out["events"]["valid"] == out["expected"]["warehouse_events"]
    assert sum(event_ids.values()) == out["expected"]["ingest_accepted"] == stats.event_lines
    assert sum(c - 1 for c in event_ids.values()) == out["events"]["duplicates"] > 0
    assert rejected == out["events"]["malformed"] == stats.rejected_lines > 0
    assert corrupt == stats.corrupt_lines > 0
    assert dict(sorted(names.items())) == out["events"]["by_name"]
    assert stats.event_objects == sum(1 for k in objects if k.startswith("events/")) > 5  # many per hour: bounded


def test_s3_sink_in_parallel_workers_writes_the_same_lines(aws_env, moto_server, products):
    cfg = config(clients=120)
    s3 = _bucket(moto_server, "traffic-one")
    _bucket(moto_server, "traffic-two")
    one, _ = run_s3(cfg, products, bucket="traffic-one", endpoint_url=moto_server.url, workers=1)
    two, _ = run_s3(cfg, products, bucket="traffic-two", endpoint_url=moto_server.url, workers=2)
    assert one.as_dict() == two.as_dict()

    def lines(bucket: str) -> list[bytes]:
        return sorted(line for body in _objects(s3, bucket).values() for line in body.splitlines())

    assert lines("traffic-one") == lines("traffic-two")
    again = _bucket(moto_server, "traffic-again")
    run_s3(cfg, products, bucket="traffic-again", endpoint_url=moto_server.url, workers=1)
    assert _objects(again, "traffic-again") == _objects(s3, "traffic-one")  # same seed: same keys, same bytes


class _Capture(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fail_first: int) -> None:
        super().__init__(("127.0.0.1", 0), _CaptureHandler)
        self.fail_left = fail_first
        self.bodies: list[bytes] = []
        self.agents: set[str] = set()
        self.lock = threading.Lock()


class _CaptureHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    server: _Capture

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            fail = self.server.fail_left > 0
            self.server.fail_left -= 1
            if not fail:
                self.server.bodies.append(body)
                self.server.agents.add(self.headers["User-Agent"])
        if fail:
            self._answer(503, {"error": "storage_unavailable"})
        else:
            self._answer(200, {"accepted": len(json.loads(body)["events"]), "rejected": 0, "errors": []})

    def _answer(self, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[_Capture]:
    server = _Capture(fail_first=5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_sink_posts_every_batch_once_and_retries_a_503(capture, products):
    cfg = config(clients=60)
    url = f"http://127.0.0.1:{capture.server_address[1]}/clickstream"
    expected = sorted(b.body_bytes() for c in iter_clients(cfg, products) for b in c.batches)
    stats = send_http(iter_clients(cfg, products), url, concurrency=3, backoff_base=0.01)
    assert sorted(capture.bodies) == expected
    assert stats.requests == len(expected) and stats.failed_requests == 0
    assert stats.retries == 5 and stats.status[503] == 5 and stats.status[200] == len(expected)
    assert stats.accepted == sum(len(json.loads(b)["events"]) for b in expected)
    assert len(capture.agents) > 1


def test_http_sink_gives_up_after_its_attempts_and_says_so(capture, products):
    capture.fail_left = 10**6
    cfg = config(clients=2)
    url = f"http://127.0.0.1:{capture.server_address[1]}/clickstream"
    stats = send_http(iter_clients(cfg, products), url, max_attempts=2, backoff_base=0.001)
    assert stats.failed_requests == stats.requests > 0 and stats.accepted == 0
    assert stats.failed_events == sum(len(b.items) for c in iter_clients(cfg, products) for b in c.batches)
    assert "503" in (stats.last_error or "")


def test_run_reports_the_delivery_next_to_the_truth(capture, products):
    cfg = config(clients=40)
    url = f"http://127.0.0.1:{capture.server_address[1]}/clickstream"
    result = run(cfg, products, "http", url=url, progress=None)
    assert result["delivery"]["accepted"] == result["events"]["sent"]
    assert result["delivery"]["requests"] == result["requests"]


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "traffic" / "cli.py"), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def test_cli_is_reproducible_and_reports_what_it_wrote(tmp_path: Path):
    end = "--end=2030-01-02T00:00:00Z"
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    first = _cli("--clients", "80", "--seed", "9", end, "--sink", "ndjson", "--out", str(a), "--quiet")
    _cli("--clients", "80", "--seed", "9", end, "--sink", "ndjson", "--out", str(b), "--quiet")
    assert a.read_bytes() == b.read_bytes()
    report = json.loads(first.stdout)
    bodies = [json.loads(line) for line in a.read_text().splitlines()]
    assert report["delivery"]["requests"] == len(bodies) == report["requests"]
    assert sum(len(x["events"]) for x in bodies) == report["events"]["sent"]
    assert report["window"] == {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}


def test_cli_events_option_and_module_entry_point(tmp_path: Path):
    out = subprocess.run(
        [sys.executable, "-m", "traffic", "--events", "3000", "--end", "2030-01-02T00:00:00Z", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT / "bench"), "PATH": "/usr/bin:/bin"},
    )
    sent = json.loads(out.stdout)["events"]["sent"]
    assert 2400 < sent < 3600


def test_cli_bad_input_is_a_clear_error(tmp_path: Path):
    bad = _cli("--funnel", "view_item=2", "--quiet", check=False)
    assert bad.returncode == 2 and "funnel.view_item" in bad.stderr
    unknown = _cli("--funnel", "checkout=0.5", check=False)
    assert unknown.returncode == 2 and "unknown funnel step" in unknown.stderr
    missing = _cli("--catalog", str(tmp_path / "nope.csv"), check=False)
    assert missing.returncode == 2 and "catalog file not found" in missing.stderr
    no_url = _cli("--sink", "http", "--clients", "1", "--quiet", check=False)
    assert no_url.returncode == 2 and "--url" in no_url.stderr


def test_catalog_from_the_oltp_database_gives_the_same_traffic(pg_server, products, tmp_path: Path):
    import psycopg2

    dsn = pg_server.create_database("traffic_catalog")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE products (product_id integer PRIMARY KEY, sku text, name text, category text, brand text,"
            " price numeric(10,2), discount_price numeric(10,2), url_path text, popularity double precision)"
        )
        for p in products:
            cur.execute(
                "INSERT INTO products VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                tuple(getattr(p, f.name) for f in dataclasses.fields(p)),
            )
    conn.close()
    args = ["--clients", "50", "--end", "2030-01-02T00:00:00Z", "--sink", "ndjson", "--quiet"]
    _cli(*args, "--out", str(tmp_path / "csv.ndjson"))
    _cli(*args, "--out", str(tmp_path / "db.ndjson"), "--catalog-dsn", dsn)
    assert (tmp_path / "csv.ndjson").read_bytes() == (tmp_path / "db.ndjson").read_bytes()


def test_report_of_a_run_is_stable(products):
    cfg = config(clients=50)
    a, b = TrafficReport(cfg), TrafficReport(cfg)
    for client in iter_clients(cfg, products):
        a.add(client)
    for client in iter_clients(cfg, products):
        b.add(client)
    assert a.to_json() == b.to_json()


def test_http_sink_through_the_real_local_ingest_endpoint_matches_the_report(aws_env, products, artifacts_dir):
    """Generator -> HTTP -> `clickstream_local.ingest_server` -> emulator S3: the answers and the stored lines
    are exactly what the report predicts (accepted incl. re-sent copies, rejected by reason, unique events)."""
    from traffic.browser import read_event_lines
    from traffic.local_ingest import LocalIngestServer

    s3 = _bucket(aws_env, "traffic-http-e2e")
    cfg = config(end=None, clients=30, malformed=0.06, duplicate=0.05)  # a demo day ending now
    with LocalIngestServer("traffic-http-e2e", aws_env.env(), log=artifacts_dir / "traffic-http-ingest.log") as ingest:
        result = run(cfg, products, "http", url=ingest.url, concurrency=8, progress=None)
    expected, delivery = result["expected"], result["delivery"]
    assert delivery["failed_requests"] == 0
    assert delivery["accepted"] == expected["ingest_accepted"] > 250
    assert delivery["rejected"] == expected["ingest_rejected"] > 10
    assert delivery["rejected_by_reason"] == expected["ingest_rejected_by_reason"]
    lines = read_event_lines(s3, "traffic-http-e2e")
    assert len(lines) == expected["ingest_accepted"]
    assert len({line["event_id"] for line in lines}) == expected["warehouse_events"]
    assert len({line["request_id"] for line in lines}) <= result["requests"]
    rejected = read_event_lines(s3, "traffic-http-e2e", prefix="rejected/")
    assert len(rejected) == expected["ingest_rejected"]
