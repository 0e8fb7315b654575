"""Unit tests of the Python path (parse.py): what it types itself and what it leaves to the SQL path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import orjson
import pytest
from clickstream_etl import parse, rules
from clickstream_etl.columns import NAMES as TYPED_COLUMNS
from clickstream_etl.parse import ROW_COLUMNS, Slow, is_plain, parse_lines, plain_row, typed_row
from clickstream_etl.prepare import split_lines
from clickstream_etl.sessions import SESSION_COLUMNS, Session, duration, duration_millis
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert row["user_id"] is None and row["user_login_state"] is None
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
    split = parse_lines(data, 3, split_lines(data), "s3://b/k", datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC))
    assert split.lines == 6
    assert [n for n, _ in split.slow] == [2, 5, 6]
    assert [(r.file_idx, r.line_no) for r in split.rows] == [(3, 1), (3, 4)]
    texts = [r.text.split("\t") for r in split.rows]
    assert all(len(t) == len(ROW_COLUMNS) for t in texts)
    assert texts[0][-2:] == ["s3://b/k", "1"]
    assert "a\\tb\\\\c" in split.rows[1].text


# --- the plain-line path (msgspec): same outcome as typed_row + accept + make_row, or it declines -----------------

_WINDOW = parse.Freshness(timedelta(hours=72), timedelta(minutes=15))
_MODIFIED = datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC)


def _plain(line: bytes, source: str = "s3://b/k") -> object:
    return plain_row(line, 3, 7, source, _MODIFIED, _WINDOW)


def _typed(line: bytes, source: str = "s3://b/k") -> object:
    """parse_lines's outcome for the line through the general path (every value escaped for COPY)."""
    v = typed_row(orjson.loads(line))
    received, problem = parse.accept(v, _MODIFIED, _WINDOW)
    if problem is not None:
        return 7, problem[0], problem[1], v[0]
    return parse.make_row(v, 3, 7, source, received, escape=True)


_TEXT = st.one_of(st.none(), st.sampled_from(["", " ", "a", " a", "a ", "View_Item", "logged_in", "logged_out",
                                              "guest", "vïew", "é t", "x\ty", "q\"s", "b\\s", EID, EID.upper()]),
                  st.text(max_size=8))
_NUMBER = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**40), st.floats(allow_nan=False),
                    st.sampled_from(["12.50", " 3 ", "1e3", "-1", "", "7"]), st.just([1]))
_TIME = st.one_of(st.none(), st.sampled_from(["2024-05-01T10:00:00.123Z", "2024-05-01 12:30+02:30", "2024-02-30T10:00Z",
                                              "2024-05-01T10:00:00Z\n", "yesterday", " 2024-05-01T10:00:00Z"]),
                  st.integers(0, 2**41))
_NESTED = st.one_of(st.none(), st.just("x"), st.just([]), st.fixed_dictionaries({}, optional={
    "url_path": _TEXT, "referrer": _TEXT, "title": _TEXT, "id": _TEXT, "name": _TEXT, "category": _TEXT,
    "brand": _TEXT, "price": _NUMBER, "discount_price": _NUMBER}))


_FIELDS = {"event_id": _TEXT, "event_name": _TEXT, "event_timestamp": _TIME, "client_id": _TEXT, "user_id": _TEXT,
           "user_login_state": _TEXT, "received_at": _TIME, "page": _NESTED, "product": _NESTED, "quantity": _NUMBER,
           "order_id": _TEXT, "search_term": _TEXT, "request_id": _TEXT, "params": _NESTED}
_PLAIN_DOC = {"event_id": EID, "event_name": "add_to_cart", "event_timestamp": "2024-05-01T10:00:00.123Z",
              "received_at": "2024-05-01T10:00:01Z", "client_id": "c-1", "user_id": "u-1",
              "user_login_state": "logged_in", "page": {"url_path": "/p/1", "title": "P 1"}, "request_id": "r1",
              "product": {"id": "p-1", "name": "Mouse", "price": 19.99, "discount_price": "17.5", "category": "mice",
                          "brand": "Logi"}, "quantity": 2, "params": {"k": [1, None]}}


@settings(max_examples=500, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(sorted(_FIELDS)), st.data()), max_size=3), drop=st.booleans())
def test_plain_row_gives_typed_rows_result_or_declines(changes: list, drop: bool):
    """A valid plain line with up to three fields replaced (or removed) by odd values: plain_row gives exactly the
    row (text included) or the reject that the general path gives, or declines (never accepts a line typed_row
    sends to SQL)."""
    doc = dict(_PLAIN_DOC)
    for name, data in changes:
        if drop and name in doc:
            del doc[name]
        else:
            doc[name] = data.draw(_FIELDS[name])
    line = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        expected = _typed(line)
    except (Slow, orjson.JSONDecodeError):  # e.g. Infinity: not JSON
        expected = None
    if not is_plain(line):
        return
    try:
        got = _plain(line)
    except (Slow, ValueError, msgspec.MsgspecError):
        return  # declined: parse_lines asks typed_row
    assert got == expected


def test_ordinary_lines_take_the_plain_path():
    line = json.dumps(_doc(event_name="view_item", client_id="c-1", user_id="u-1",
                           product={"id": "p-1", "price": 19.99, "category": "mice"}),
                      ensure_ascii=False, separators=(",", ":")).encode()
    assert is_plain(line)
    row = _plain(line)
    assert isinstance(row, parse.EventRow) and row == _typed(line)
    assert row.text.split("\t")[-2:] == ["s3://b/k", "7"]
    # a source file name that needs COPY escapes is escaped by the caller, once per object
    assert _plain(line, "s3://b/a\\tb").text == _typed(line, "s3://b/a\tb").text
    stale = orjson.loads(line) | {"event_timestamp": "2024-04-20T10:00:00.000Z"}
    stale_line = json.dumps(stale, separators=(",", ":")).encode()
    assert _plain(stale_line) == _typed(stale_line) == (7, "stale_event", rules.STALE[1], EID)
    for spaced in (line.replace(b'"c-1"', b'" c-1"'), line.replace(b"mice", b"a\\tb"), json.dumps(_doc()).encode()):
        assert not is_plain(spaced)
    # empty strings are plain: the SQL path makes them NULL, and so does plain_row
    empty = line.replace(b'"u-1"', b'""').replace(b'"mice"', b'""')
    assert is_plain(empty)
    row = _plain(empty)
    assert row == _typed(empty) and row.user_id is None and not row.logged_in
    assert row.text.split("\t")[3:5] == ["\\N", "logged_out"]
    with pytest.raises(Slow):
        _plain(line.replace(b'"c-1"', b'""'))  # a required field


@pytest.mark.parametrize(("ts", "received", "outcome"), [
    ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:01.456Z", "row"),  # the ingest's shapes: one match for all three
    ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:01Z", "row"),  # received_at in another shape: checked alone
    ("2024-04-20T10:00:00.000Z", "2024-05-01T10:00:01.456Z", "stale_event"),
    ("2024-05-01T11:00:00.000Z", "2024-05-01T10:00:01.456Z", "future_event"),
    ("2024-02-30T10:00:00.000Z", "2024-05-01T10:00:01.456Z", "slow"),  # the shape, but no such day
    ("2024-05-01T10:00:00.123Z", "2024-13-01T10:00:01.456Z", "slow"),
])
def test_the_ingests_shapes_decide_as_the_general_path(ts: str, received: str, outcome: str):
    line = json.dumps(_doc(event_name="view_item", client_id="c-1", user_id="u-1", event_timestamp=ts,
                           received_at=received, product={"id": "p-1", "price": 19.99, "category": "mice"}),
                      separators=(",", ":")).encode()
    assert is_plain(line)
    if outcome == "slow":
        with pytest.raises(Slow):
            _plain(line)
        with pytest.raises(Slow):
            _typed(line)
        return
    got = _plain(line)
    assert got == _typed(line)
    assert (got.ts_text == ts) if outcome == "row" else (got[1] == outcome)


def test_split_object_uses_typed_row_when_plain_row_declines(monkeypatch):
    lines = [json.dumps(_doc(event_name="page_view", client_id="c-1", user_id="u", page={"url_path": "/"},
                             product=None), separators=(",", ":")),
             json.dumps(_doc(event_name="page_view", client_id="c-2", user_id="u", page="not an object",
                             product=None), separators=(",", ":"))]
    data = ("\n".join(lines) + "\n").encode()
    calls = []
    real = parse.typed_row
    monkeypatch.setattr(parse, "typed_row", lambda doc: calls.append(doc["client_id"]) or real(doc))
    split = parse_lines(data, 0, split_lines(data), "s3://b/k", datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC))
    assert [r.client_id for r in split.rows] == ["c-1", "c-2"]
    assert calls == ["c-2"]  # the first line took the plain path; msgspec refused the second's page


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_the_ingests_timestamp_shape_reads_as_the_general_path(when: datetime):
    """YYYY-MM-DDTHH:MM:SS.mmmZ takes a cheaper check first: a shape the general one accepts, same value and text."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    text = f"{when.year:04d}" + text[text.index("-"):]  # strftime does not pad years below 1000 everywhere
    assert parse._ISO.fullmatch(text)
    assert parse._timestamp(text) == (datetime.fromisoformat(text), text)


@pytest.mark.parametrize("text", ["2024-02-30T10:00:00.000Z", "2024-13-01T10:00:00.000Z", "2024-05-01T24:00:00.000Z"])
def test_an_impossible_date_in_the_ingests_shape_goes_to_sql(text: str):
    with pytest.raises(Slow):
        parse._timestamp(text)


def test_a_plain_object_splits_as_its_lines_do_one_by_one():
    """One scan answers for a plain object; the same lines in an object that is not plain are checked one by one
    (and escaped where needed): the rows of the lines they share are the same."""
    plain = [json.dumps(_doc(event_name="page_view", client_id=f"c-{i}", user_id="u", page={"url_path": f"/{i}"},
                             product={"id": "p-1", "price": 19.99}), separators=(",", ":")) for i in range(5)]
    odd = json.dumps(_doc(event_name="page_view", client_id="c-9", page={"title": "a\tb"}), separators=(",", ":"))
    when = datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC)
    data = ("\n".join(plain) + "\n").encode()
    mixed = ("\n".join([*plain, odd]) + "\n").encode()
    assert is_plain(data) and not is_plain(mixed)
    one_scan = parse_lines(data, 0, split_lines(data), "s3://b/k", when)
    per_line = parse_lines(mixed, 0, split_lines(mixed), "s3://b/k", when)
    assert [r.text for r in one_scan.rows] == [r.text for r in per_line.rows[:5]]
    assert len(one_scan.rows) == 5 and "a\\tb" in per_line.rows[5].text


@settings(max_examples=400, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       st.one_of(st.integers(0, 20_000_000), st.integers(0, 10**13)))
def test_a_sessions_duration_text_is_the_numeric_rounding(start: datetime, micros: int):
    """Session.copy_text writes the duration from whole milliseconds: the same text as numeric(12, 3) rounding
    (``sessions.duration``), and the same engaged threshold (more than 10 s)."""
    end = start + timedelta(microseconds=micros)
    exact = duration(start, end)
    ms = duration_millis(start, end)
    assert f"{ms // 1000}.{ms % 1000:03d}" == str(exact)
    assert (ms > 10_000) == (exact > 10)


def test_a_sessions_row_escapes_only_what_came_from_events():
    start = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    s = Session("9f1c2d3e-0000-4000-8000-000000000001", "c\t1", "u\\1", True, start,
                start + timedelta(seconds=10, microseconds=500), 3, 2, "/a\nb", "/x\ry", True, 1, Decimal("19.99"))
    values = s.copy_text().split("\t")
    assert len(values) == len(SESSION_COLUMNS)
    row = dict(zip(SESSION_COLUMNS, values, strict=True))
    assert row["client_id"] == "c\\t1" and row["user_id"] == "u\\\\1"
    assert row["landing_page"] == "/a\\nb" and row["exit_page"] == "/x\\ry"
    assert row["session_start"] == "2024-05-01T10:00:00.123000+00:00" and row["session_date"] == "2024-05-01"
    assert row["duration_seconds"] == "10.001" and row["is_engaged"] == "t"  # 10.0005 s rounds up: engaged
    assert (row["user_login_state"], row["is_converted"], row["is_first_visit"]) == ("logged_in", "t", "t")
    assert (row["event_count"], row["page_view_count"], row["purchase_count"], row["revenue"]) == ("3", "2", "1",
                                                                                                    "19.99")
    quiet = Session("id", "c", None, False, start, start + timedelta(seconds=10), 1, 1, None, None, False, 0,
                    Decimal(0)).copy_text().split("\t")
    assert quiet[SESSION_COLUMNS.index("user_id")] == "\\N" and quiet[SESSION_COLUMNS.index("landing_page")] == "\\N"
    assert quiet[SESSION_COLUMNS.index("duration_seconds")] == "10.000"
    assert quiet[SESSION_COLUMNS.index("is_engaged")] == "f"  # exactly 10 s, one page view, no purchase


@settings(max_examples=1000, deadline=None)
@given(st.floats(min_value=0, max_value=1e11, exclude_max=True, allow_nan=False))
def test_a_short_float_price_is_taken_as_written(price: float):
    """The shortcut for reprs of at most 16 characters agrees with the digit count it skips."""
    r = repr(price)
    digits = len(r.replace(".", "").replace("-", "").lstrip("0").split("e")[0])
    try:
        taken = parse._money(price)
    except Slow:
        taken = None
    assert taken == (r if digits <= 15 else None)
