"""The ingest's event predicate (jsonschema-rs) must agree with jsonschema, which explains the rejects."""

from __future__ import annotations

from typing import Any

import pytest
from clickstream_ingest.contract import event_schema, event_validator, load_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from .helpers import valid_event

SCHEMA = event_schema(load_schema())
SLOW = Draft202012Validator(SCHEMA)
VALIDATOR = event_validator()
FAST = VALIDATOR.is_valid

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**12), max_value=10**13),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                    st.sampled_from(["page_view", "/x", "logged_in", "6f1c2a9e-3b4d-4c5e-8f70-123456789abc",
                                     "a\n", "", "p-1"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=8)
FIELDS = ["event_name", "client_id", "event_timestamp", "event_id", "user_id", "session_id", "user_login_state",
          "identity_source", "is_first_visit", "page", "product", "search_term", "order_id", "quantity", "params"]


@st.composite
def mutated_events(draw: Any) -> Any:
    """Mostly valid events with a few fields removed, replaced by arbitrary JSON, or added."""
    event = valid_event(event_name=draw(st.sampled_from(["view_item", "page_view", "add_to_cart", "login"])))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "replace", "add", "nested"]))
        key = draw(st.sampled_from(FIELDS))
        if action == "drop":
            event.pop(key, None)
        elif action == "replace":
            event[key] = draw(json_values)
        elif action == "add":
            event[draw(st.text(max_size=6))] = draw(json_values)
        else:
            sub = draw(st.sampled_from(["page", "product", "params"]))
            if isinstance(event.get(sub), dict):
                event[sub][draw(st.sampled_from(["id", "price", "url_path", "title", "x", "Bad"]))] = draw(json_values)
            else:
                event[sub] = {}
    return event


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_events())
def test_fast_validator_agrees_with_jsonschema(event):
    assert FAST(event) == SLOW.is_valid(event)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_fast_validator_agrees_on_arbitrary_json(value):
    assert FAST(value) == SLOW.is_valid(value)


def test_valid_event_is_valid():
    assert FAST(valid_event()) and SLOW.is_valid(valid_event())


def _with(**changes: Any) -> dict[str, Any]:
    event = valid_event(event_name="view_item")
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            event[section] = {**event[section], field: value}
        else:
            event[section] = value
    return event


# Cases a draft-07 compiler gets wrong (keywords beside a $ref are ignored there; the contract is draft 2020-12),
# and values outside 64 bits, which a Rust validator must still judge as jsonschema does.
@pytest.mark.parametrize(("event", "reason", "field"), [
    (_with(product__url_path=[]), "wrong_type", "product.url_path"),
    (_with(page__title="x" * 513), "invalid_value", "page.title"),
    (_with(page__url_path=None), "wrong_type", "page.url_path"),
    (_with(quantity=10**30), "invalid_value", "quantity"),
    (_with(params={"n": 10**40}), "invalid_value", "params.n"),
    (_with(extra=1), "unknown_field", "extra"),
])
def test_rejected_with_reason(event, reason, field):
    assert not FAST(event) and not SLOW.is_valid(event)
    rejection = VALIDATOR.explain(event)
    assert (rejection.reason, rejection.field) == (reason, field), rejection


@pytest.mark.parametrize("text", ["\ud800", "a\udfff", "\udbff\ud800"])
def test_lone_surrogates_are_judged_as_jsonschema_does(text):
    """jsonschema-rs takes only UTF-8 strings; such an event still gets jsonschema's verdict (no exception)."""
    for event in (_with(search_term=text), _with(product__name=text), _with(params={"k": text}),
                  _with(params={text: "v"}), _with(page__url_path=text)):
        assert FAST(event) == SLOW.is_valid(event)
