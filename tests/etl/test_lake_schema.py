"""The lake's Iceberg schemas (clickstream_etl.lake.schema) against the migrated warehouse's own tables."""

from __future__ import annotations

import psycopg2
import pytest
from clickstream_etl.columns import NAMES
from clickstream_etl.lake import schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DecimalType, StringType, TimestamptzType

from .helpers import _migrated


@pytest.fixture(scope="module")
def warehouse_columns(pg_server) -> dict[str, list[tuple[str, str, bool]]]:
    """(name, SQL type, NOT NULL) of dw.events and dw.sessions after every migration, in column order."""
    dsn = _migrated(pg_server, "dw_lake_schema")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            out = {}
            for table in ("events", "sessions"):
                cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
                            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
                            "AND NOT a.attisdropped ORDER BY a.attnum", (f"dw.{table}",))
                out[table] = [(n, t.replace("timestamp with time zone", "timestamptz").replace(",", ", "), nn)
                              for n, t, nn in cur.fetchall()]
            return out
    finally:
        conn.close()


@pytest.mark.parametrize(("table", "make"), [("events", schema.events_schema), ("sessions", schema.sessions_schema)])
def test_schema_has_the_warehouse_columns_types_and_nullability(warehouse_columns, table, make):
    iceberg = make()
    expected = {name: (schema.iceberg_type(schema.WAREHOUSE_TYPE_IN_LAKE.get((table, name), sql_type)), not_null)
                for name, sql_type, not_null in warehouse_columns[table]}
    got = {f.name: (f.field_type, f.required) for f in iceberg.fields}
    assert got == expected
    assert len({f.field_id for f in iceberg.fields}) == len(iceberg.fields)


def test_events_columns_come_from_the_one_list():
    names = [f.name for f in schema.events_schema().fields]
    assert tuple(names[:len(NAMES)]) == NAMES


@pytest.mark.parametrize(("make_schema", "make_spec", "source"), [
    (schema.events_schema, schema.events_partition_spec, "event_timestamp"),
    (schema.sessions_schema, schema.sessions_partition_spec, "session_start"),
])
def test_hidden_partitioning_by_day(make_schema, make_spec, source):
    sch, spec = make_schema(), make_spec()
    (field,) = spec.fields
    assert isinstance(field.transform, DayTransform)
    assert sch.find_field(field.source_id).name == source
    assert isinstance(sch.find_field(source).field_type, TimestamptzType)
    # the spec binds to the schema: Iceberg's own check of a partition spec against a schema
    assert spec.partition_type(sch).fields[0].name == f"{source}_day"


def test_types():
    assert schema.iceberg_type("numeric(14, 2)") == DecimalType(14, 2)
    assert schema.iceberg_type("uuid") == StringType()
    with pytest.raises(ValueError, match="bytea"):
        schema.iceberg_type("bytea")


def test_table_lookup():
    assert schema.table_schema(schema.EVENTS_TABLE) == schema.events_schema()
    assert schema.table_partition_spec(schema.SESSIONS_TABLE) == schema.sessions_partition_spec()
    assert schema.TABLES == ("events", "sessions")
