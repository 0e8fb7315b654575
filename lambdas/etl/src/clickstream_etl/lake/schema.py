"""The lake's Iceberg tables ``events`` and ``sessions``: their schemas and partition specs.

``events`` is made from ``columns.EVENT_COLUMNS`` (the one list of event columns), then the provenance
(``columns.PROVENANCE``), the columns the sessionization assigns (``columns.SESSION_ASSIGNED``) and what the ETL
derives from the event by a rule (``columns.DERIVED``: its revenue): the columns of ``dw.events``, in its order.
``sessions`` has the columns of ``dw.sessions`` (``sql/dw/0002``, ``0010``).
Types follow the warehouse's: ``uuid`` is kept as its canonical lowercase text (Athena has no uuid type for
Iceberg), ``timestamptz`` is Iceberg's ``timestamptz`` (microseconds, UTC), ``numeric(p, s)`` is ``decimal(p, s)``.
A column is required where the warehouse's is ``NOT NULL``.

Both tables use hidden partitioning by day: ``events`` by ``day(event_timestamp)``, ``sessions`` by
``day(session_start)``; a query filters on the timestamp itself and Iceberg prunes the files.

Field ids here are positional; an existing table is matched by column name (``update_schema().union_by_name``),
so adding a column to ``EVENT_COLUMNS`` adds it to the lake table without renumbering anything.
"""

from __future__ import annotations

import re

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    IcebergType,
    IntegerType,
    NestedField,
    StringType,
    TimestamptzType,
)

from ..columns import DERIVED, EVENT_COLUMNS, PROVENANCE, SESSION_ASSIGNED

NAMESPACE_DEFAULT = "clickstream"  # the Glue database when none is configured (the platform passes its own)
EVENTS_TABLE = "events"
SESSIONS_TABLE = "sessions"
TABLES = (EVENTS_TABLE, SESSIONS_TABLE)
# The partition source of each table (hidden partitioning by day of it).
EVENTS_PARTITION_SOURCE = "event_timestamp"
SESSIONS_PARTITION_SOURCE = "session_start"
# The first partition field id (Iceberg's convention: partition field ids start at 1000).
_PARTITION_FIELD_ID = 1000

_NUMERIC = re.compile(r"numeric\((\d+),\s*(\d+)\)")


def iceberg_type(sql_type: str) -> IcebergType:
    """The Iceberg type of a warehouse column's SQL type."""
    simple: dict[str, IcebergType] = {
        "uuid": StringType(), "text": StringType(), "timestamptz": TimestamptzType(), "integer": IntegerType(),
        "boolean": BooleanType(), "date": DateType(),
    }
    if sql_type in simple:
        return simple[sql_type]
    match = _NUMERIC.fullmatch(sql_type)
    if match:
        return DecimalType(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"no Iceberg type for the SQL type {sql_type!r}")


# Columns of dw.events that are NOT NULL although the raw line may omit them: the rules fill them in
# (rules.login_state, rules.Freshness's receipt time), the sessionization assigns the session ones, the load the
# provenance.
_FILLED_IN = frozenset({"user_login_state", "received_at"})
# (name, SQL type, required) of dw.events after the event's own columns, in COPY order.
_EVENT_EXTRA: dict[str, tuple[str, bool]] = {
    "source_file": ("text", True), "source_line": ("integer", True),
    "session_id": ("uuid", True), "is_first_visit": ("boolean", True),
    # dw.events.revenue is numeric without a precision (sql/dw/0020): its values are a numeric(14, 2) price times
    # an integer quantity (rules.revenue), scale 2 and at most 24 digits; Iceberg's decimal needs a precision:
    # decimal(38, 2), as dw.sessions.revenue
    "revenue": ("numeric(38, 2)", True),
}
_EVENT_EXTRA_ORDER = (*PROVENANCE, *SESSION_ASSIGNED, *DERIVED)
if set(_EVENT_EXTRA) != set(_EVENT_EXTRA_ORDER):  # a change in columns.py must be mirrored here
    raise RuntimeError("lake.schema: _EVENT_EXTRA does not match columns.PROVENANCE + SESSION_ASSIGNED + DERIVED")
# The lake's type of a warehouse column whose SQL type has no Iceberg type of its own (numeric without precision).
WAREHOUSE_TYPE_IN_LAKE: dict[tuple[str, str], str] = {("events", "revenue"): _EVENT_EXTRA["revenue"][0]}

# dw.sessions (sql/dw/0002_events_sessions.sql; revenue widened by 0010_unbounded_sums.sql; acquisition and device
# by 0031): (name, type, required).
SESSION_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("session_id", "uuid", True),
    ("client_id", "text", True),
    ("user_id", "text", False),
    ("user_login_state", "text", True),
    ("session_start", "timestamptz", True),
    ("session_end", "timestamptz", True),
    ("session_date", "date", True),
    ("duration_seconds", "numeric(12, 3)", True),
    ("event_count", "integer", True),
    ("page_view_count", "integer", True),
    ("landing_page", "text", False),
    ("exit_page", "text", False),
    ("is_engaged", "boolean", True),
    ("is_converted", "boolean", True),
    ("is_first_visit", "boolean", True),
    ("purchase_count", "integer", True),
    ("revenue", "numeric(38, 2)", True),
    # sql/dw/0031_session_acquisition.sql: optional, so that tables made before them gain them (ensure_tables)
    ("source", "text", False),
    ("medium", "text", False),
    ("campaign", "text", False),
    ("channel_group", "text", False),
    ("device_category", "text", False),
    ("browser", "text", False),
)


def event_columns() -> tuple[tuple[str, str, bool], ...]:
    """(name, SQL type, required) of every column of the lake's ``events`` (the order of ``dw.events``' COPY)."""
    own = tuple((c.name, c.sql_type, c.required or c.name in _FILLED_IN) for c in EVENT_COLUMNS)
    extra = tuple((name, *_EVENT_EXTRA[name]) for name in _EVENT_EXTRA_ORDER)
    return own + extra


def _schema(columns: tuple[tuple[str, str, bool], ...]) -> Schema:
    return Schema(*(NestedField(field_id=i, name=name, field_type=iceberg_type(sql_type), required=required)
                    for i, (name, sql_type, required) in enumerate(columns, start=1)))


def events_schema() -> Schema:
    """The Iceberg schema of the lake's ``events`` table."""
    return _schema(event_columns())


def sessions_schema() -> Schema:
    """The Iceberg schema of the lake's ``sessions`` table."""
    return _schema(SESSION_COLUMNS)


def _day_spec(schema: Schema, source: str) -> PartitionSpec:
    field = schema.find_field(source)
    return PartitionSpec(PartitionField(source_id=field.field_id, field_id=_PARTITION_FIELD_ID,
                                        transform=DayTransform(), name=f"{source}_day"))


def events_partition_spec(schema: Schema | None = None) -> PartitionSpec:
    """``day(event_timestamp)`` (hidden partitioning), against ``schema`` (default: ``events_schema()``)."""
    return _day_spec(schema or events_schema(), EVENTS_PARTITION_SOURCE)


def sessions_partition_spec(schema: Schema | None = None) -> PartitionSpec:
    """``day(session_start)`` (hidden partitioning), against ``schema`` (default: ``sessions_schema()``)."""
    return _day_spec(schema or sessions_schema(), SESSIONS_PARTITION_SOURCE)


def table_schema(table: str) -> Schema:
    """The schema of one of ``TABLES``."""
    return {EVENTS_TABLE: events_schema, SESSIONS_TABLE: sessions_schema}[table]()


def table_partition_spec(table: str, schema: Schema | None = None) -> PartitionSpec:
    """The partition spec of one of ``TABLES``."""
    return {EVENTS_TABLE: events_partition_spec, SESSIONS_TABLE: sessions_partition_spec}[table](schema)
