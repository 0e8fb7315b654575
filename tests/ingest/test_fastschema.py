"""The generated fast validator must agree with jsonschema on the event schema (and refuse what it cannot do)."""

from __future__ import annotations

from typing import Any

import pytest
from clickstream_ingest.contract import event_schema, load_schema
from clickstream_ingest.fastschema import UnsupportedSchema, compile_schema, generate_source, json_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from .helpers import valid_event

SCHEMA = event_schema(load_schema())
SLOW = Draft202012Validator(SCHEMA)
FAST = compile_schema(SCHEMA)

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


@pytest.mark.parametrize("schema", [{"format": "date-time"}, {"$ref": "https://example.com/x"},
                                    {"patternProperties": {}}, {"anyOf": [True]}])
def test_unsupported_keywords_fail_loudly(schema):
    with pytest.raises(UnsupportedSchema):
        compile_schema(schema)


def test_recursive_ref_fails_loudly():
    with pytest.raises(UnsupportedSchema):
        compile_schema({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})


@pytest.mark.parametrize(("schema", "good", "bad"), [
    ({"const": 1}, [1, 1.0], [True, "1"]),
    ({"enum": [[1], {"a": None}]}, [[1.0], {"a": None}], [[True], {"a": 0}]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 5}]}, [1, 5.5, "x"], [6]),
    ({"type": "array", "minItems": 2, "items": {"type": "string"}}, [["a", "b"]], [["a"], ["a", 1], "notarray"]),
    ({"minItems": 1}, ["not an array", [1]], [[]]),
    ({"type": "number", "minimum": 0, "maximum": 1}, [0, 1, 0.5], [-1, 2, True, None]),
])
def test_small_schemas(schema, good, bad):
    fast, slow = compile_schema(schema), Draft202012Validator(schema)
    for value in good:
        assert fast(value) and slow.is_valid(value), value
    for value in bad:
        assert not fast(value) and not slow.is_valid(value), value


def test_json_equal():
    assert json_equal(1, 1.0) and not json_equal(1, True) and not json_equal(False, 0)
    assert json_equal({"a": [1, 2]}, {"a": [1.0, 2]}) and not json_equal([1], [1, 2])


def test_generated_source_is_plain_python():
    source, entry, _ = generate_source(SCHEMA)
    compile(source, "<test>", "exec")
    assert f"def {entry}(v):" in source
