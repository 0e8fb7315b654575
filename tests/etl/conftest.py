"""Fixtures of the ETL tests: a fresh migrated warehouse database + bucket + SSM parameter per test, and the lake's
environment for the tests that switch it on."""

from __future__ import annotations

import uuid

import pytest

from .helpers import EtlWorld, make_world


@pytest.fixture
def world(request, pg_server, moto_server) -> EtlWorld:
    return make_world(pg_server, moto_server, request.node.name[:20])


@pytest.fixture
def lake(world, moto_server):
    """The world's ETL environment with the lake on: a Glue database of its own in a bucket of its own."""
    tag = uuid.uuid4().hex[:10]
    bucket = f"lake-{tag}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    return {"LAKE_ENABLED": "true", "LAKE_DATABASE": f"lake_{tag}", "LAKE_LOCATION": f"s3://{bucket}/iceberg"}
