"""Fixtures of the ingest tests: a raw bucket in the session's moto server and the local endpoint process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scripts.harness.ansible import REPO
from scripts.harness.net import free_port, wait_for_port

PYTHONPATH = f"{REPO / 'lambdas/ingest/src'}:{REPO / 'lambdas/local_runtime'}"


@pytest.fixture(scope="session")
def s3(moto_server) -> Any:
    return moto_server.client("s3")


@pytest.fixture(scope="session")
def raw_bucket(moto_server, s3) -> str:
    """A raw bucket of this test session (its own name, so a reset elsewhere is noticed by create)."""
    name = f"ingest-test-raw-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(autouse=True)
def _raw_bucket_is_there(request) -> None:
    """Tests of other packages that run in the same process may reset the emulator (tests/hosts, tests/foundation,
    tests/monitoring, ... do, to start from an empty account), which deletes this session's raw bucket: put it
    back before each ingest test that uses it."""
    if "raw_bucket" not in request.fixturenames:
        return
    s3, name = request.getfixturevalue("s3"), request.getfixturevalue("raw_bucket")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        s3.create_bucket(Bucket=name)


@dataclass
class LocalEndpoint:
    url: str
    port: int
    log_path: Path
    proc: subprocess.Popen
    bucket: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_endpoint(artifacts_dir: Path, env_extra: dict[str, str], cors: str = "") -> LocalEndpoint:
    port = free_port()
    log_path = artifacts_dir / f"ingest-endpoint-{port}.log"
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, **env_extra}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clickstream_local.ingest_server", "--host", "127.0.0.1", "--port", str(port),
             "--cors-origins", cors],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    try:
        wait_for_port(port, timeout=30)
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"local endpoint did not start:\n{log_path.read_text()}") from None
    return LocalEndpoint(f"http://127.0.0.1:{port}/clickstream", port, log_path, proc, env_extra["RAW_BUCKET_NAME"])


def stop_endpoint(endpoint: LocalEndpoint) -> None:
    endpoint.proc.terminate()
    try:
        endpoint.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        endpoint.proc.kill()


@pytest.fixture(scope="session")
def local_endpoint(moto_server, raw_bucket, artifacts_dir) -> Iterator[LocalEndpoint]:
    """`python -m clickstream_local.ingest_server` on a free port, writing to the session's moto S3."""
    endpoint = start_endpoint(artifacts_dir, {**moto_server.env(), "RAW_BUCKET_NAME": raw_bucket,
                                              "MAX_EVENTS_PER_REQUEST": "50", "MAX_BODY_BYTES": "65536"},
                              cors="https://shop.example.com")
    yield endpoint
    stop_endpoint(endpoint)
