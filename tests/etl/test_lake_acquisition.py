"""The lake's Iceberg tables gain the device and acquisition columns (columns.py, lake/schema.py): tables made
before them, holding rows, get them by schema evolution when the ETL next exports (lake.catalog.ensure_tables,
also what the platform's iceberg_tables module runs), the old rows read back with them empty, and the new rows carry
them as the warehouse holds them. Against a real moto server (Glue, S3) and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from clickstream_etl.lake import catalog, schema
from pyiceberg.schema import Schema

from .helpers import event_line, ndjson, object_key
from .test_lake_export import _catalog, _lake_rows, _same, _warehouse

pytestmark = pytest.mark.integration

NEW = {schema.EVENTS_TABLE: ("device_category", "browser", "operating_system"),
       schema.SESSIONS_TABLE: ("source", "medium", "campaign", "channel_group", "device_category", "browser")}


def _before(table: str) -> Schema:
    """The table's schema as it was before these columns."""
    return Schema(*(f for f in schema.table_schema(table).fields if f.name not in NEW[table]))


def test_tables_made_before_the_columns_gain_them(world, lake):
    cat = _catalog(world)
    database, location = lake["LAKE_DATABASE"], lake["LAKE_LOCATION"]
    cat.create_namespace(database)
    old_session = None
    for table in schema.TABLES:
        old = _before(table)
        t = cat.create_table((database, table), schema=old, location=catalog.table_location(location, table),
                             partition_spec=schema.table_partition_spec(table, old),
                             properties={"format-version": "2"})
        if table == schema.SESSIONS_TABLE:  # a row written before: it must read back with the new columns empty
            start = datetime(2024, 1, 1, 12, tzinfo=UTC)
            old_session = {f.name: None for f in old.fields} | {
                "session_id": "00000000-0000-0000-0000-000000000001", "client_id": "old", "user_login_state":
                "logged_out", "session_start": start, "session_end": start, "session_date": start.date(),
                "duration_seconds": Decimal(0), "event_count": 1, "page_view_count": 1, "is_engaged": False,
                "is_converted": False, "is_first_visit": True, "purchase_count": 0, "revenue": Decimal(0)}
            t.append(pa.Table.from_pylist([old_session], schema=t.schema().as_arrow()))
    assert catalog.ensure_tables(cat, database, location, check=True) == [
        f"add columns {', '.join(NEW[t])} to {database}.{t}" for t in schema.TABLES]

    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)  # a closed day: its sessions are exported
    world.put(object_key(at, "acq"), ndjson([
        event_line("page_view", "lk", at, page="/?utm_source=newsletter&utm_medium=email", device=("tablet", "Chrome",
                                                                                                    "Android")),
        event_line("page_view", "lk", at + timedelta(minutes=1), page="/deals", referrer="https://www.google.com/"),
    ]))
    result = world.run_cli(env=world.env(**lake))
    assert result["status"] == "succeeded", result
    assert catalog.ensure_tables(cat, database, location, check=True) == []
    for table in schema.TABLES:
        fields = _catalog(world).load_table((database, table)).schema().fields
        # every column, the added ones after the table's own (evolution appends them)
        assert sorted(f.name for f in fields) == sorted(f.name for f in schema.table_schema(table).fields)
        assert [f.name for f in fields][-len(NEW[table]):] == list(NEW[table])
        assert all(not f.required for f in fields if f.name in NEW[table])
    events = _lake_rows(world, lake, "events")
    assert _same(events, _warehouse(world, "events"), "events")
    assert {(e["device_category"], e["browser"], e["operating_system"]) for e in events} == {
        ("tablet", "Chrome", "Android"), ("desktop", "Firefox", "Ubuntu")}
    sessions = {s["client_id"]: s for s in _lake_rows(world, lake, "sessions")}
    assert {k: sessions["old"][k] for k in NEW["sessions"]} == dict.fromkeys(NEW["sessions"])
    assert {k: sessions["lk"][k] for k in NEW["sessions"]} == {
        "source": "newsletter", "medium": "email", "campaign": "(not set)", "channel_group": "Email",
        "device_category": "tablet", "browser": "Chrome"}
    assert _same([s for c, s in sessions.items() if c != "old"], _warehouse(world, "sessions"), "sessions")
