"""The contract's limits fit the warehouse, and the warehouse bounds what it indexes (issue 19).

The warehouse holds the limits: a CHECK (octet_length(column) <= N) on every text column the load writes whose
values reach a btree index key (sql/dw/0011_text_bounds.sql). Read from a migrated warehouse's catalog, this checks
(a) every text column of every btree index (key or INCLUDE) is bounded: by its own CHECK, by the CHECK of the
dw.events column an aggregate copies it from, or as a value the server makes; (b) the longest value the contract
accepts fits each bound, counting the bytes of the widest characters the field's pattern lets through (4 in UTF-8,
1 for an ASCII-only pattern); (c) with every column at its bound, every index row stays under PostgreSQL's limit.

An index added on a text column that is not bounded fails the test, so a new key is checked before it ships.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg2
import pytest
from clickstream_etl.acquisition import CHANNEL_GROUPS, VALUE_MAX
from clickstream_ingest.contract import SCHEMA_PATH

from scripts.harness.ansible import REPO
from tests.etl.helpers import _migrated

pytestmark = pytest.mark.integration

BTREE_MAX_ITEM = 2704  # PostgreSQL's btree version 4 limit with 8 kB pages ("index row size ... exceeds ...")
SCHEMA = json.loads(SCHEMA_PATH.read_text())

# Bounded warehouse column -> the contract field whose value it holds.
FROM_CONTRACT = {
    "client_id": "client_id", "user_id": "user_id", "product_id": "product.id", "product_name": "product.name",
    "product_category": "product.category", "product_brand": "product.brand", "page_url_path": "page.url_path",
}
# The tables the load writes from raw lines: a text column of theirs in an index key needs its own bound.
LOAD_WRITES = {"dw.events", "dw.clients", "dw.sessions", "etl.delta_clients", "etl.delta_facts", "etl.delta_sfacts"}
# Index key columns of the aggregates -> the dw.events column they are copied from (aggregates.py, queries/rebuild.sql;
# besides the copies, only constants shorter than any bound: '(none)', '(all)', '(entrance)', '(exit)').
FROM_EVENTS = {
    "from_page": "page_url_path", "to_page": "page_url_path", "product_id": "product_id",
    "product_name": "product_name", "product_category": "product_category", "product_brand": "product_brand",
    "user_id": "user_id",
}
# Text key columns the server or the ETL fills (never a client's value), with their longest value in bytes.
SERVER_MADE = {
    "user_login_state": len("logged_out"), "part": len("products"), "reason": 64, "bucket": 63,
    "object_key": 1024, "source_file": 1100,
}
# Bounds on values the ETL makes itself, not a client's field: clickstream_etl.ingest_rejects folds a long or odd
# reason code or field path into one key (reason at most 64 bytes, field at most 129).
# The anomaly checks' subjects are the detector's own names (clickstream_etl.anomalies: event names it watches, funnel
# step pairs).
_DIMS_0048 = ("dw.session_journeys", "dw.agg_daily_transitions_dims", "dw.agg_weekly_retention_dims",
              "dw.agg_retention_dims_members")
ETL_CAPPED = {("dw.agg_hourly_ingest_rejects", "reason"): 64, ("dw.agg_hourly_ingest_rejects", "field"): 129,
              ("dw.anomaly_flags", "subject"): 64,
              # acquisition.py: source/medium/campaign at most VALUE_MAX characters, 4 bytes each in UTF-8;
              # channel_group one of CHANNEL_GROUPS
              ("dw.agg_daily_attribution", "source"): 4 * VALUE_MAX,
              ("dw.agg_daily_attribution", "medium"): 4 * VALUE_MAX,
              ("dw.agg_daily_attribution", "campaign"): 4 * VALUE_MAX,
              ("dw.agg_daily_attribution", "channel_group"): max(len(g.encode()) for g in CHANNEL_GROUPS),
              # the same in dw.agg_daily_acquisition (a session without acquisition: Unassigned, one of
              # CHANNEL_GROUPS, and '(not set)': rules.SQL, sql/dw/0045)
              ("dw.agg_daily_acquisition", "source"): 4 * VALUE_MAX,
              ("dw.agg_daily_acquisition", "medium"): 4 * VALUE_MAX,
              ("dw.agg_daily_acquisition", "campaign"): 4 * VALUE_MAX,
              ("dw.agg_daily_acquisition", "channel_group"): max(len(g.encode()) for g in CHANNEL_GROUPS),
              # dw.agg_hourly_dims / agg_dims_members (sql/dw/0041): a channel group (Unassigned without one); the
              # device category the ingest writes (clickstream_ingest/device.py: desktop, mobile, tablet, bot, other)
              # or '(unknown)'
              **{(t, "channel_group"): max(len(g.encode()) for g in CHANNEL_GROUPS)
                 for t in ("dw.agg_hourly_dims", "dw.agg_dims_members")},
              **{(t, "device_category"): len(b"(unknown)") for t in ("dw.agg_hourly_dims", "dw.agg_dims_members")},
              # dw.agg_daily_acquisition_dims / agg_acquisition_dims_members (sql/dw/0046): both of the above
              **{(t, c): 4 * VALUE_MAX for t in ("dw.agg_daily_acquisition_dims", "dw.agg_acquisition_dims_members")
                 for c in ("source", "medium", "campaign")},
              **{(t, "channel_group"): max(len(g.encode()) for g in CHANNEL_GROUPS)
                 for t in ("dw.agg_daily_acquisition_dims", "dw.agg_acquisition_dims_members")},
              **{(t, "device_category"): len(b"(unknown)")
                 for t in ("dw.agg_daily_acquisition_dims", "dw.agg_acquisition_dims_members")},
              # dw.agg_daily_product_dims / agg_product_dims_members (sql/dw/0047): the same channel and device
              **{(t, "channel_group"): max(len(g.encode()) for g in CHANNEL_GROUPS)
                 for t in ("dw.agg_daily_product_dims", "dw.agg_product_dims_members")},
              **{(t, "device_category"): len(b"(unknown)")
                 for t in ("dw.agg_daily_product_dims", "dw.agg_product_dims_members")},
              # dw.agg_daily_users_dims (sql/dw/0047): the same, or '(all)'
              ("dw.agg_daily_users_dims", "channel_group"): max(len(g.encode()) for g in CHANNEL_GROUPS),
              ("dw.agg_daily_users_dims", "device_category"): len(b"(unknown)"),
              # the same in the journeys' and cohorts' tables by dimension (sql/dw/0048)
              **{(t, c): max(len(g.encode()) for g in (*CHANNEL_GROUPS, "(unknown)")) if c == "channel_group"
                 else len(b"(unknown)") for t in _DIMS_0048 for c in ("channel_group", "device_category")}}
# the same in the attribution by device and segment (sql/dw/0054): channel, source / medium / campaign, device
ETL_CAPPED.update({(t, c): 4 * VALUE_MAX if c in ("source", "medium", "campaign")
                   else max(len(g.encode()) for g in CHANNEL_GROUPS) if c == "channel_group" else len(b"(unknown)")
                   for t in ("dw.agg_daily_attribution_dims", "dw.agg_attribution_dims_members")
                   for c in ("channel_group", "source", "medium", "campaign", "device_category")})
# Array columns of an index key or INCLUDE, with their most elements (a CHECK of the migration): dw.session_journeys'
# path ids, one per path of its first 1..5 pages (sql/dw/0048: cardinality(path_ids) = least(cardinality(pages), 5)).
ARRAY_CAPPED = {("dw.session_journeys", "path_ids"): 5}
_BOUND = re.compile(r"CHECK \(\(octet_length\((\w+)\) <= (\d+)\)\)")
# A column limited to listed values (CHECK (col IN (...))): bounded by its longest value.
_ENUM = re.compile(r"CHECK \(\((\w+) = ANY \(ARRAY\[(.*)\]\)\)\)")
_ENUM_VALUE = re.compile(r"'((?:[^']|'')*)'::text")


def _field(path: str) -> dict[str, Any]:
    """The event schema's subschema of a dotted field, its $ref merged in."""
    defs = SCHEMA["$defs"]
    node: dict[str, Any] = defs["event"]
    for part in path.split("."):
        node = node["properties"][part]
        if "$ref" in node and set(node) - {"$ref"}:
            node = {**defs[node["$ref"].split("/")[-1]], **node}
        elif "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
    return node


def max_bytes(path: str) -> int:
    """The longest UTF-8 value the contract accepts in a field (strings, or integers as the ETL writes them)."""
    schema = _field(path)
    longest = 0
    if "maxLength" in schema:
        pattern = re.compile(schema.get("pattern", ""))
        wide = pattern.search("/" + "\U00020000") is not None or pattern.search("\U00020000") is not None
        longest = schema["maxLength"] * (4 if wide else 1)
    if "maximum" in schema:
        longest = max(longest, len(str(int(schema["maximum"]))))
    assert longest, f"{path} has no bound"
    return longest


def test_every_string_and_number_of_the_contract_is_bounded():
    unbounded = []

    def walk(node: dict[str, Any], where: str) -> None:
        if "$ref" in node:
            node = {**SCHEMA["$defs"][node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        types = node.get("type", [])
        types = types if isinstance(types, list) else [types]
        if "string" in types and "maxLength" not in node and "pattern" not in node and "enum" not in node:
            unbounded.append(where)
        if "string" in types and "pattern" not in node:
            unbounded.append(f"{where} (characters)")
        if ({"integer", "number"} & set(types)) and "maximum" not in node and where != "event_timestamp":
            unbounded.append(where)  # event_timestamp: bounded by the receive-time window (invalid_timestamp)
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{where}.{name}".lstrip("."))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{where}.*")

    walk(SCHEMA["$defs"]["event"], "")
    assert unbounded == [] or unbounded == ["event_timestamp (characters)"], unbounded


def _catalog(pg_server) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], list[tuple]]:
    """(the byte bounds of a migrated warehouse: (table, column) -> N; the longest value of each column limited to
    listed values; its btree index columns of dw and etl)."""
    dsn = _migrated(pg_server, "dw_limits")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid)
                  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                 WHERE c.contype = 'c' AND n.nspname IN ('dw', 'etl')""")
            bounds, enums = {}, {}
            for table, definition in cur.fetchall():
                bound = _BOUND.match(definition)
                if bound:
                    bounds[table, bound.group(1)] = int(bound.group(2))
                enum = _ENUM.match(definition)
                if enum:
                    enums[table, enum.group(1)] = max(len(v.replace("''", "'").encode())
                                                      for v in _ENUM_VALUE.findall(enum.group(2)))
            cur.execute("""
                SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, a.attname, t.typname, t.typlen
                  FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
                  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname IN ('dw', 'etl')
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                  JOIN pg_type t ON t.oid = a.atttypid""")
            columns = cur.fetchall()
    finally:
        conn.close()
    return bounds, enums, columns


def test_the_warehouse_bounds_every_indexed_text_and_the_contract_fits_them(pg_server):
    bounds, enums, columns = _catalog(pg_server)
    assert {k: n for k, n in bounds.items() if k in ETL_CAPPED and ETL_CAPPED[k] > n} == {}
    contract_bounds = {k: n for k, n in bounds.items() if k not in ETL_CAPPED}
    # (b) every bound holds the longest value the contract accepts in its field
    assert {c for _, c in contract_bounds} == set(FROM_CONTRACT), \
        f"bounds without a contract field or the reverse: {contract_bounds}"
    too_long = {f"{t}.{c}": (max_bytes(FROM_CONTRACT[c]), n) for (t, c), n in contract_bounds.items()
                if max_bytes(FROM_CONTRACT[c]) > n}
    assert not too_long, f"the contract accepts values longer than the warehouse's bound (bytes, bound): {too_long}"
    # (a) every text column of an index is bounded; (c) every index row fits
    indexes: dict[str, int] = {}
    unbounded = []
    for index, table, column, typname, typlen in columns:
        if typlen > 0:
            size = typlen
        elif typname == "numeric":
            size = 4 + 20
        elif typname == "_int8" and (table, column) in ARRAY_CAPPED:  # varlena, ndim, offset, type, dim, lbound
            size = 24 + 8 * ARRAY_CAPPED[table, column]
        elif (table, column) in bounds:
            size = 4 + bounds[table, column]
        elif (table, column) in enums:
            size = 4 + enums[table, column]
        elif column in SERVER_MADE:
            size = 4 + SERVER_MADE[column]
        elif table not in LOAD_WRITES and ("dw.events", FROM_EVENTS.get(column)) in bounds:
            size = 4 + bounds["dw.events", FROM_EVENTS[column]]
        else:
            unbounded.append(f"{index}: {table}.{column} ({typname})")
            continue
        indexes[index] = indexes.get(index, 8) + size + 4  # tuple header; up to 4 bytes of alignment a column
    assert not unbounded, f"index columns with no byte bound in the warehouse: {unbounded}"
    assert {"dw.agg_daily_page_transitions_pkey", "dw.agg_daily_page_transitions_from_idx",
            "dw.agg_product_names_pkey", "etl.delta_clients_pkey"} <= set(indexes)
    too_big = {i: n for i, n in indexes.items() if n > BTREE_MAX_ITEM}
    assert not too_big, f"worst-case index rows over {BTREE_MAX_ITEM} bytes: {too_big}"


def test_the_tracker_cuts_url_paths_to_the_contract_limit():
    tracker = (REPO / "files/tracker/clickstream.js").read_text()
    cut = re.search(r"page\.url_path = page\.url_path\.slice\(0, (\d+)\)", tracker)
    assert cut and int(cut.group(1)) == _field("page.url_path")["maxLength"]


def test_the_contract_document_shows_every_limit():
    contract = (REPO / "docs/event-contract.md").read_text()
    section = contract[contract.index("### Limits"):]
    section = section[:section.index("\n## ")]
    for field in ("client_id", "user_id", "session_id", "identity_source", "order_id", "search_term", "page.url_path",
                  "page.referrer", "page.title", "product.id", "product.name", "product.category", "product.brand",
                  "product.url_path", "params.*"):
        schema = _field(field) if field != "params.*" else SCHEMA["$defs"]["event"]["properties"]["params"][
            "additionalProperties"]
        row = next((line for line in section.splitlines() if line.startswith(f"| `{field}` |")), None)
        assert row is not None, f"docs/event-contract.md, Limits: no row for {field}"
        assert str(schema["maxLength"]) in row, (field, row)
