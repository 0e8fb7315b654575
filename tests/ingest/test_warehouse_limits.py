"""Nothing the ingest acknowledges can poison the warehouse (issue 19): one test per class of value that the
contract used to accept and the warehouse could not store or index.

Each test sends the value through the real ingest handler into the emulator's S3, runs the real ETL
(`python -m clickstream_etl`) into a real PostgreSQL, then sends an ordinary event and runs the ETL again. It
must hold that no run failed, the later event is in dw.events, and every event the ingest answered "accepted"
is in dw.events (accepted means loadable: the contract agrees with the warehouse).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from clickstream_ingest.config import Settings
from clickstream_ingest.contract import event_validator
from clickstream_ingest.handler import process
from clickstream_ingest.storage import S3Store

from tests.etl.helpers import EtlWorld, make_world

from .helpers import api_event, valid_event

pytestmark = pytest.mark.integration

_rng = random.Random(19)


def _four_byte_text(n: int) -> str:
    """n characters of CJK Extension B (4 bytes each in UTF-8), random so that PostgreSQL cannot compress them."""
    return "".join(chr(_rng.randrange(0x20000, 0x2A6D0)) for _ in range(n))


def _digits(n: int) -> int:
    return int("9" + "".join(_rng.choice("0123456789") for _ in range(n - 1)))


def _page_view(path: str, **overrides: Any) -> dict[str, Any]:
    return valid_event(event_name="page_view", product=None, page={"url_path": path, "title": "t"}, **overrides)


# name -> the events of one request that used to be acknowledged and then poison (or be lost by) the ETL
POISON: dict[str, Any] = {
    # dw.agg_daily_page_transitions keys on (from_page, to_page): a long multi-byte path overflows its btree row
    "long_multibyte_page_path": lambda: [_page_view("/" + _four_byte_text(2047))],
    # the same with ASCII: two 2048-byte paths of one session make a transition key of 4 kB
    "two_long_ascii_page_paths": lambda: (lambda c: [
        _page_view("/" + "".join(_rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(2047)),
                   client_id=c),
        _page_view("/" + "".join(_rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(2047)),
                   client_id=c)])(f"c-{uuid.uuid4().hex[:8]}"),
    # an integer product id had no maximum: 4000 digits key dw.agg_daily_product / agg_product_names
    "huge_integer_product_id": lambda: [valid_event(product={"id": _digits(4000), "name": "n", "price": 1.0})],
    # NUL cannot be held by PostgreSQL text/jsonb: the ETL dropped the line as malformed_json
    "nul_in_a_text_field": lambda: [valid_event(search_term="shoes\u0000")],
    "nul_in_a_param": lambda: [valid_event(params={"coupon": "\u0000"})],
    "nul_in_an_id": lambda: [valid_event(client_id="c-\u0000-1")],
    # the sum of a session's purchases overflowed dw.sessions.revenue numeric(16, 2)
    "revenue_beyond_the_aggregate_columns": lambda: (lambda c: [
        valid_event(event_name="purchase", client_id=c, quantity=10000, order_id=f"o-{i}",
                    product={"id": "p-1", "price": 1e9, "discount_price": None}) for i in range(12)])(
        f"c-{uuid.uuid4().hex[:8]}"),
}


def _send(world: EtlWorld, events: list[Any], **request: Any) -> tuple[dict, list[str]]:
    """POST one batch through the real handler into the world's bucket; (response body, accepted event ids)."""
    import json

    settings = Settings(raw_bucket=world.bucket, log_level="ERROR")
    resp = process(api_event({"events": events}, **request), None, settings, S3Store(world.s3, world.bucket),
                   event_validator())
    assert resp["statusCode"] == 200, resp
    body = json.loads(resp["body"])
    refused = {e["index"] for e in body["errors"]}
    accepted = [str(e["event_id"]).lower() for i, e in enumerate(events) if i not in refused]
    assert body["accepted"] == len(accepted)
    return body, accepted


def _run(world: EtlWorld) -> dict:
    return world.run_cli(timeout=300)


def _assert_unpoisoned(world: EtlWorld, accepted: list[str]) -> None:
    later = valid_event()
    _send(world, [later])
    _run(world)
    statuses = [s for (s,) in world.query("SELECT status FROM etl.runs ORDER BY run_id")]
    messages = [m for (m,) in world.query("SELECT message FROM etl.runs WHERE status <> 'succeeded'")]
    assert statuses and set(statuses) == {"succeeded"}, (statuses, messages)
    loaded = {str(i) for (i,) in world.query("SELECT event_id FROM dw.events")}
    assert later["event_id"] in loaded, "an event sent after the poison did not reach the warehouse"
    lost = [i for i in accepted if i not in loaded]
    rejects = world.query("SELECT event_id, reason, detail FROM etl.rejects")
    assert not lost, f"acknowledged but not loaded: {lost}; ETL rejects: {rejects}"


@pytest.fixture
def world(pg_server, moto_server, request) -> EtlWorld:
    return make_world(pg_server, moto_server, "poison")


@pytest.mark.parametrize("case", sorted(POISON))
def test_an_acknowledged_value_never_stops_or_escapes_the_warehouse(world, case):
    _, accepted = _send(world, POISON[case]())
    _run(world)
    _assert_unpoisoned(world, accepted)


def test_a_control_character_in_the_user_agent_does_not_lose_the_request(world):
    """The User-Agent header is copied into every stored line: a NUL in it made the whole request malformed_json."""
    events = [valid_event(), valid_event()]
    _, accepted = _send(world, events, user_agent="Mozilla/5.0 \u0000\u0001 x")
    assert len(accepted) == 2
    _run(world)
    _assert_unpoisoned(world, accepted)
