"""Fixtures of the browser tracker tests: headless chromium, the demo shop, and the real ingest endpoint."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickstream_ingest.config import Settings
from clickstream_ingest.contract import event_validator
from clickstream_ingest.handler import _s3_client, process
from clickstream_ingest.storage import S3Store
from clickstream_local.ingest_server import CorsConfig, make_server
from traffic.browser import DemoShop, chromium
from traffic.local_ingest import LocalIngestServer

from scripts.harness.net import free_port

_bucket_numbers = itertools.count()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def aws_env(moto_server, monkeypatch: pytest.MonkeyPatch):
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server


@pytest.fixture
def raw_bucket(aws_env) -> str:
    name = f"tracker-raw-{os.getpid()}-{next(_bucket_numbers)}"
    aws_env.client("s3").create_bucket(Bucket=name)
    return name


class InProcessIngest:
    """The local endpoint's server code around the real handler (`process`), with fault injection:
    the next `fail_next` POSTs get 503 storage_unavailable without storing anything, as the handler does when S3
    is down. `requests` records each POST's headers and how many events it carried."""

    def __init__(self, bucket: str, origin: str) -> None:
        settings = Settings(raw_bucket=bucket)
        store = S3Store(_s3_client(), bucket, attempts=2, backoff_base=0.01, backoff_max=0.05)
        validator = event_validator()
        self.fail_next = 0
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with self.lock:
                fail = self.fail_next > 0 and event["requestContext"]["http"]["method"] == "POST"
                self.fail_next -= int(fail)
                self.requests.append({"headers": event["headers"], "failed": fail, "body": event.get("body")})
            if fail:
                return {
                    "statusCode": 503,
                    "headers": {"content-type": "application/json"},
                    "body": '{"error":"storage_unavailable","message":"injected","request_id":"x"}',
                }
            return process(event, context, settings, store, validator)

        self.server = make_server("127.0.0.1", 0, handler, CorsConfig(allow_origins=(origin,)), access_log=False)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/clickstream"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["body"] is not None]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop_and_ingest(raw_bucket: str) -> Iterator[tuple[DemoShop, InProcessIngest]]:
    shop = DemoShop(endpoint="http://placeholder.invalid/", port=free_port())
    ingest = InProcessIngest(raw_bucket, shop.origin)
    shop.tracker_config["endpoint"] = ingest.url
    with shop:
        yield shop, ingest
    ingest.close()


@pytest.fixture
def ingest_process(aws_env, raw_bucket: str, artifacts_dir: Path) -> Iterator[dict[str, Any]]:
    """The local ingest endpoint as the services run it: `python -m clickstream_local.ingest_server`."""
    page_port = free_port()
    with LocalIngestServer(
        raw_bucket,
        aws_env.env(),
        cors_origins=[f"http://127.0.0.1:{page_port}"],
        log=artifacts_dir / f"tracker-ingest-{page_port}.log",
    ) as ingest:
        yield {"url": ingest.url, "page_port": page_port, "bucket": raw_bucket}
