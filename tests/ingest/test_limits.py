"""The contract's limits fit the warehouse: every btree index of the migrated warehouse whose key holds a value the
client sent stays under PostgreSQL's index row limit for the longest value the schema accepts, counting the bytes
of the widest characters the field's pattern lets through (4 in UTF-8, 1 for an ASCII-only pattern).

An index added on a text column that is not listed here fails the test, so a new key is checked before it ships.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg2
import pytest
from clickstream_ingest.contract import SCHEMA_PATH

from tests.etl.helpers import _migrated
from tests.support.ansible import REPO

pytestmark = pytest.mark.integration

BTREE_MAX_ITEM = 2704  # PostgreSQL's btree version 4 limit with 8 kB pages ("index row size ... exceeds ...")
SCHEMA = json.loads(SCHEMA_PATH.read_text())

# Warehouse column -> the contract field whose value it holds.
FROM_CONTRACT = {
    "client_id": "client_id", "user_id": "user_id", "product_id": "product.id", "product_name": "product.name",
    "product_category": "product.category", "product_brand": "product.brand", "from_page": "page.url_path",
    "to_page": "page.url_path",
}
# Text key columns the server or the ETL fills (never a client's value), with their longest value in bytes.
SERVER_MADE = {
    "user_login_state": len("logged_out"), "part": len("products"), "reason": 64, "bucket": 63,
    "object_key": 1024, "source_file": 1100,
}


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


def test_the_longest_accepted_values_fit_every_warehouse_index(pg_server):
    dsn = _migrated(pg_server, "dw_limits")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT i.indexrelid::regclass::text, a.attname, t.typname, t.typlen
                  FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
                  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname IN ('dw', 'etl')
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                  JOIN pg_type t ON t.oid = a.atttypid""")
            rows = cur.fetchall()
    finally:
        conn.close()
    indexes: dict[str, int] = {}
    unknown = []
    for index, column, typname, typlen in rows:
        if typlen > 0:
            size = typlen
        elif column in FROM_CONTRACT:
            size = 4 + max_bytes(FROM_CONTRACT[column])
        elif column in SERVER_MADE:
            size = 4 + SERVER_MADE[column]
        elif typname == "numeric":
            size = 4 + 20
        else:
            unknown.append(f"{index}.{column} ({typname})")
            continue
        indexes[index] = indexes.get(index, 8) + size + 4  # tuple header; up to 4 bytes of alignment a column
    assert not unknown, f"index columns this test does not know the origin of: {unknown}"
    assert "dw.agg_daily_page_transitions_pkey" in indexes and "dw.agg_product_names_pkey" in indexes
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
