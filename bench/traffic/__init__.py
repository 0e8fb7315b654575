"""Synthetic e-commerce clickstream for the clickstream platform: seeded generator, ground-truth report, sinks.

from traffic import TrafficConfig, load_catalog_csv, iter_clients, TrafficReport
"""

from .catalog import CatalogError, Product, load_catalog_csv, load_catalog_db
from .config import ConfigError, Funnel, TrafficConfig
from .generator import Batch, ClientTraffic, Emitted, iter_clients, simulate_client
from .report import TrafficReport, sessionize

__all__ = [
    "Batch",
    "CatalogError",
    "ClientTraffic",
    "ConfigError",
    "Emitted",
    "Funnel",
    "Product",
    "TrafficConfig",
    "TrafficReport",
    "iter_clients",
    "load_catalog_csv",
    "load_catalog_db",
    "sessionize",
    "simulate_client",
]
