"""A line that is valid JSON but holds \\u0000 (NUL) in a string, written straight to the bucket (the ingest refuses
NUL): PostgreSQL's text and jsonb cannot hold it, so the line is rejected -- as ``unstorable_text``, not as
``malformed_json`` (it is JSON). The fast parse leaves such a line to PostgreSQL's typing (``sql.normalize_sql``),
which decides it in both modes (``load.DIRECT`` on and off). Real moto S3 and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from clickstream_etl import load

from .golden import t
from .helpers import event_line, ndjson, object_key

pytestmark = pytest.mark.integration


def _object() -> tuple[bytes, dict[int, str]]:
    """Good lines around NUL in a text field, in an id and in a param, a literal backslash-u (no NUL: loads), and a
    line that is not JSON; -> (bytes, expected reason per rejected line)."""
    nul_text = event_line("search", "c-1", t(10, 0, 10))
    nul_text["search_term"] = "shoes\u0000"
    nul_id = event_line("page_view", "c-\u0000-2", t(10, 0, 20), page="/")
    nul_param = event_line("page_view", "c-1", t(10, 0, 30), page="/p")
    nul_param["params"] = {"coupon": "\u0000"}
    backslash = event_line("page_view", "c-1", t(10, 0, 40), page="/q")
    backslash["search_term"] = "\\u0000"  # a backslash and five characters: storable
    lines = [event_line("page_view", "c-1", t(10), page="/"), nul_text, nul_id, nul_param, backslash,
             b'{"event_name": "page_view", "client_id": "c\\u0000"', event_line("page_view", "c-3", t(10, 1), page="/")]
    encoded = [line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines]
    assert encoded[1].count(b"\\u0000") == 1 and b"\x00" not in b"".join(encoded)
    return ndjson(encoded), {2: "unstorable_text", 3: "unstorable_text", 4: "unstorable_text", 6: "malformed_json"}


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "sql"])
def test_nul_in_a_json_string_is_rejected_as_unstorable_text(world, monkeypatch, direct):
    monkeypatch.setattr(load, "DIRECT", direct)
    body, expected = _object()
    world.put(object_key(t(10), "nul"), body)
    assert world.run_in_process(batch_max_files=1) == "succeeded"
    rejects = world.query("SELECT line_number, reason, detail FROM etl.rejects ORDER BY 1")
    assert {n: reason for n, reason, _ in rejects} == expected
    assert all("\\u0000 (NUL)" in detail for _, reason, detail in rejects if reason == "unstorable_text")
    assert world.query("SELECT source_line FROM dw.events ORDER BY 1") == [(1,), (5,), (7,)]
    assert world.query("SELECT search_term FROM dw.events WHERE source_line = 5") == [("\\u0000",)]
