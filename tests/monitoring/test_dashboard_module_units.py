"""Unit tests of the cloudwatch_dashboard module's pure helpers (body parsing and comparison)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.clickstream.platform.plugins.modules.cloudwatch_dashboard import NAME_RE, canonical, parse_body


def test_body_from_dict_or_json_text_compares_regardless_of_key_order_and_spacing() -> None:
    a = {"widgets": [{"type": "text", "x": 0, "properties": {"markdown": "hi"}}], "start": "-PT3H"}
    b = json.dumps({"start": "-PT3H", "widgets": [{"properties": {"markdown": "hi"}, "x": 0, "type": "text"}]},
                   indent=4)
    assert canonical(parse_body(a)) == canonical(parse_body(b))
    assert canonical(parse_body(a)) != canonical(parse_body({**a, "start": "-PT6H"}))


@pytest.mark.parametrize("bad", ["[]", "{\"start\": \"-PT3H\"}", 42, "{not json"])
def test_a_body_without_widgets_is_refused(bad) -> None:
    with pytest.raises(ValueError):
        parse_body(bad)


def test_dashboard_names() -> None:
    assert NAME_RE.match("clickstream-dev-pipeline")
    assert not NAME_RE.match("with space") and not NAME_RE.match("") and not NAME_RE.match("a" * 256)
