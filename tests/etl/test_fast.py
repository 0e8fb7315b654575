"""Unit tests of the Python fast path (fast.py): what it types itself and what it leaves to the SQL path."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from clickstream_etl.fast import EVENT_COLUMNS, TYPED_COLUMNS, Slow, split_object, typed_row
from clickstream_etl.prepare import split_lines

EID = "0b7e2a52-3c1e-4f6a-9d0e-1a2b3c4d5e6f"


def _doc(**over: object) -> dict:
    doc: dict = {"event_id": EID, "event_name": " View_Item ", "event_timestamp": "2024-05-01T10:00:00.123Z",
                 "received_at": "2024-05-01T10:00:01Z", "client_id": " c-1 ", "user_id": "",
                 "page": {"url_path": "/p/1", "title": "P"}, "request_id": "r1",
                 "product": {"id": "p-1", "price": 19.99, "discount_price": "  ", "category": "mice"},
                 "quantity": 2}
    doc.update(over)
    return doc


def test_typed_row_trims_lowercases_and_nulls_empty_strings():
    row = dict(zip(TYPED_COLUMNS, typed_row(_doc()), strict=True))
    assert row["event_id"] == EID
    assert row["event_name"] == "view_item"
    assert row["client_id"] == "c-1"
    assert row["user_id"] is None and row["login_t"] is None
    assert row["product_price"] == "19.99" and row["product_discount_price"] is None
    assert row["quantity"] == "2" and row["page_url_path"] == "/p/1" and row["page_referrer"] is None
    assert row["event_timestamp"] == (datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC), "2024-05-01T10:00:00.123Z")
    offset = typed_row(_doc(event_timestamp="2024-05-01 12:30+02:30"))[1]
    assert offset == (datetime(2024, 5, 1, 10, 0, tzinfo=UTC), "2024-05-01T10:00:00+00:00")


@pytest.mark.parametrize("over", [
    {"event_id": EID.upper()}, {"event_id": "not-a-uuid"}, {"event_id": None},
    {"event_name": "  "}, {"event_name": "vïew"}, {"client_id": 42},
    {"event_timestamp": 1714557600000}, {"event_timestamp": "yesterday"}, {"event_timestamp": "2024-02-30T10:00Z"},
    {"event_timestamp": "2024-05-01T10:00:00Z\n"}, {"received_at": "now"},
    {"product": {"price": -1}}, {"product": {"price": "1e3"}}, {"product": {"price": True}},
    {"product": {"price": 0.1 + 0.2}}, {"quantity": 1.0}, {"quantity": -1}, {"quantity": "2 units"},
    {"user_login_state": "guest"}, {"user_id": 123}, {"page": {"title": ["x"]}},
])
def test_anything_unusual_is_left_to_sql(over: dict):
    with pytest.raises(Slow):
        typed_row(_doc(**over))


def test_split_object_routes_lines_and_escapes_for_copy():
    lines = [json.dumps(_doc()), "not json", "", json.dumps(_doc(page={"title": "a\tb\\c"})),
             json.dumps(_doc(search_term="x\u0000y")), json.dumps([1])]
    data = ("\n".join(lines) + "\n").encode()
    split = split_object(data, 3, split_lines(data), "s3://b/k", datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC))
    assert split.lines == 6
    assert [n for n, _ in split.slow] == [2, 5, 6]
    assert [(r.file_idx, r.line_no) for r in split.rows] == [(3, 1), (3, 4)]
    texts = [r.text.split("\t") for r in split.rows]
    assert all(len(t) == len(EVENT_COLUMNS) for t in texts)
    assert texts[0][-2:] == ["s3://b/k", "1"]
    assert "a\\tb\\\\c" in split.rows[1].text
