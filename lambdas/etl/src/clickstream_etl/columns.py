"""The event columns: the one list from which the parser, the COPY column lists and the SQL fallback are made.

Each ``Column`` of ``EVENT_COLUMNS`` is one value of a raw line that the ETL loads into ``dw.events``: its name
there, where it comes from in the raw JSON line (``source``: a key, or an object and a key), its ``kind`` (how it
is checked and typed: see below) and its SQL type in the batch's normalized table. Adding a field to the warehouse
is one entry here plus a migration that adds the column to ``dw.events``.

Limits are not repeated here: a value's range is its SQL type's (``numeric(14, 2)``, ``integer``), and the byte
bounds of the text that ends up in an index key are the warehouse's own CHECK constraints
(``sql/dw/0011_text_bounds.sql``, ``<column>_max_bytes``), which refuse a longer value at load time.

Kinds:
- ``uuid``: the event id, lowercase hex in the canonical form (anything else is left to PostgreSQL's cast);
- ``timestamp``: RFC 3339 text (or, in the general decoder, epoch milliseconds), years 1 to 9999;
- ``name``: required text, lowercased (ASCII only in the Python decoders);
- ``required``: required text;
- ``login``: ``logged_in`` / ``logged_out`` or absent (``rules.login_state`` fills it in);
- ``money``: a non-negative decimal that fits ``numeric(14, 2)``;
- ``quantity``: a non-negative integer;
- ``text``: optional text.
Every text is trimmed of spaces and an empty one is NULL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str  # the column of dw.events (and of the batch's etl_decoded)
    source: tuple[str, ...]  # its path in the raw line: ("search_term",) or ("product", "price")
    kind: str
    sql_type: str

    @property
    def raw(self) -> str:
        """The name of the value as read from the line, before its check and cast (the general decoder)."""
        return self.name if self.kind in ("text", "required", "name") else f"{self.name}_raw"

    @property
    def required(self) -> bool:
        return self.kind in ("uuid", "name", "required") or self.name == "event_timestamp"


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("event_id", ("event_id",), "uuid", "uuid"),
    Column("event_timestamp", ("event_timestamp",), "timestamp", "timestamptz"),
    Column("event_name", ("event_name",), "name", "text"),
    Column("user_id", ("user_id",), "text", "text"),
    Column("user_login_state", ("user_login_state",), "login", "text"),
    Column("identity_source", ("identity_source",), "text", "text"),
    Column("client_id", ("client_id",), "required", "text"),
    Column("client_session_id", ("session_id",), "text", "text"),
    Column("page_url_path", ("page", "url_path"), "text", "text"),
    Column("page_referrer", ("page", "referrer"), "text", "text"),
    Column("page_title", ("page", "title"), "text", "text"),
    Column("product_id", ("product", "id"), "text", "text"),
    Column("product_name", ("product", "name"), "text", "text"),
    Column("product_category", ("product", "category"), "text", "text"),
    Column("product_brand", ("product", "brand"), "text", "text"),
    Column("product_price", ("product", "price"), "money", "numeric(14, 2)"),
    Column("product_discount_price", ("product", "discount_price"), "money", "numeric(14, 2)"),
    Column("product_url_path", ("product", "url_path"), "text", "text"),
    Column("quantity", ("quantity",), "quantity", "integer"),
    Column("order_id", ("order_id",), "text", "text"),
    Column("search_term", ("search_term",), "text", "text"),
    # the ingest's receipt time; absent: the raw object's last-modified time (rules.Freshness)
    Column("received_at", ("received_at",), "timestamp", "timestamptz"),
    Column("request_id", ("request_id",), "text", "text"),
    # the device of the request, derived by the ingest from its User-Agent (the server's own keys of the line)
    Column("device_category", ("device_category",), "text", "text"),
    Column("browser", ("browser",), "text", "text"),
    Column("operating_system", ("operating_system",), "text", "text"),
)
BY_NAME = {c.name: c for c in EVENT_COLUMNS}
NAMES: tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS)
# Where each line came from: added by the load after the event's own columns.
PROVENANCE = ("source_file", "source_line")
# The session columns the sessionization adds.
SESSION_ASSIGNED = ("session_id", "is_first_visit")
# What the ETL derives from an event by a rule (rules.revenue), after the session columns.
DERIVED = ("revenue",)
# The nested objects of a raw line, each with its keys, in column order.
OBJECTS: dict[str, tuple[str, ...]] = {}
for _c in EVENT_COLUMNS:
    if len(_c.source) == 2:
        OBJECTS.setdefault(_c.source[0], ())
        OBJECTS[_c.source[0]] += (_c.source[1],)
del _c
# The top-level keys of a raw line that the ETL reads (objects included), in column order.
TOP_KEYS: tuple[str, ...] = tuple(dict.fromkeys(c.source[0] for c in EVENT_COLUMNS))


def column_list(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names)


def index(name: str) -> int:
    """The position of ``name`` in ``EVENT_COLUMNS`` (rows of them are lists in that order)."""
    return NAMES.index(name)
