"""The fast stored-line encoder gives exactly the bytes of json.dumps(enrich(...)) (the documented format)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from clickstream_ingest import contract
from clickstream_ingest.contract import RequestInfo, dumps_line, encode_enriched, enrich, event_validator
from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import valid_event

# Strings the contract accepts that need escaping or are not ASCII: identifiers (no control character, not blank),
# free text (anything but NUL) and URL paths (printable ASCII).
awkward = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12) | st.sampled_from(
    ['"quoted"', "back\\slash", "é中😀", "</script>", "\u2028 \x85"])
ident = awkward.filter(lambda s: s.strip(" "))
free = awkward | st.sampled_from(["tab\there", "nl\nx", "\x01\x1f\x7f"])
path = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12) | st.just('a"b\\c')
opt_ident = st.none() | ident
opt_text = st.none() | free
numbers = st.none() | st.integers(0, 10**9) | st.floats(0, 1e9, allow_nan=False)


@st.composite
def events(draw: Any) -> dict[str, Any]:
    event = valid_event(
        event_id=draw(st.sampled_from([None, "6F1C2A9E-3B4D-4C5E-8F70-123456789ABC"])),
        client_id=draw(ident), user_id=draw(opt_ident), session_id=draw(opt_ident),
        search_term=draw(opt_text), is_first_visit=draw(st.none() | st.booleans()),
        quantity=draw(st.none() | st.integers(1, 10000) | st.sampled_from([2.0, 7.0])),
    )
    for key in ("user_id", "session_id", "search_term", "is_first_visit", "quantity"):
        if draw(st.booleans()):
            event.pop(key, None)
    if draw(st.booleans()):
        event["product"] = {"id": draw(st.sampled_from(["p-1", 42, 7.0])), "name": draw(opt_text),
                            "price": draw(numbers), "discount_price": draw(numbers)}
    else:
        event.pop("product", None)
        event["event_name"] = "login"
    if draw(st.booleans()):
        event["page"] = {"url_path": "/" + draw(path), "title": draw(opt_text)}
    if draw(st.booleans()):
        event["params"] = draw(st.dictionaries(st.sampled_from(["a", "b_2", "c"]),
                                               st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | free,
                                               max_size=3))
    return event


INFO = RequestInfo("req-\"1\"", datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "2024-05-01T12:00:00.000Z",
                   'Mozilla "5.0" é', "203.0.113.0/24")


@settings(max_examples=400, deadline=None)
@given(events(), st.integers(0, 99))
def test_fast_encoder_equals_the_reference(event, index):
    assert event_validator().is_valid(event), event
    fixed = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    original = contract.uuid.uuid4
    contract.uuid.uuid4 = lambda: fixed
    try:
        ts = datetime(2024, 5, 1, 11, 59, 59, 123000, tzinfo=UTC)
        assert encode_enriched(event, ts, INFO, index) == dumps_line(enrich(event, ts, INFO, index))
    finally:
        contract.uuid.uuid4 = original


@pytest.mark.parametrize("params", [{"x": float("inf")}, {"x": "\ud800"}])
def test_both_refuse_the_same_unstorable_values(params):
    event = valid_event(params=params)
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    errors = []
    for fn in (lambda: encode_enriched(event, ts, INFO, 0), lambda: dumps_line(enrich(event, ts, INFO, 0))):
        with pytest.raises((ValueError, UnicodeEncodeError)) as exc:
            fn()
        errors.append(type(exc.value))
    assert errors[0] is errors[1]
