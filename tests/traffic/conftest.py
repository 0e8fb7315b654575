"""Shared pieces of the traffic generator tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from traffic import TrafficConfig, load_catalog_csv
from traffic.catalog import Product

FIXED_END = datetime(2030, 3, 14, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def products() -> tuple[Product, ...]:
    return load_catalog_csv()


def config(**overrides: object) -> TrafficConfig:
    """A resolved config with a fixed window (so runs are comparable)."""
    base: dict[str, object] = {"end": FIXED_END, "clients": 300}
    base.update(overrides)
    return TrafficConfig(**base).resolved()  # type: ignore[arg-type]
