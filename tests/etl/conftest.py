"""Fixtures of the ETL tests: a fresh migrated warehouse database + bucket + SSM parameter per test."""

from __future__ import annotations

import pytest

from .helpers import EtlWorld, make_world


@pytest.fixture
def world(request, pg_server, moto_server) -> EtlWorld:
    return make_world(pg_server, moto_server, request.node.name[:20])
