"""Session-wide fixtures: a real moto server and a real PostgreSQL, both on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness.moto import MotoServer
from scripts.harness.postgres import PostgresServer

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def moto_server(artifacts_dir: Path) -> Iterator[MotoServer]:
    """A moto server of this test session (fresh, own port). Tests that need an empty account reset it."""
    server = MotoServer(artifacts_dir)
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL 15 server of this test session (superuser postgres, trust auth)."""
    server = PostgresServer()
    yield server
    server.close()
