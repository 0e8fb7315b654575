"""Requests generated from the event contract itself, sent through the real ingest endpoint into the emulator's S3
and loaded by the real ETL into PostgreSQL; then the books are checked (issue 19):

for every event the ingest answered "accepted", exactly one of: a row of dw.events from its stored line (or, for a
repeated event_id, the row of the first copy), or a reject of that line in etl.rejects with its reason; every
event the ingest refused is in the response's ``errors`` with a reason of the contract; no ETL run fails.

Used by tests/e2e/test_contract_to_warehouse.py (seeded, bounded) and bench/fuzz/bench_fuzz.py (a longer run).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickstream_ingest.contract import REJECTION_REASONS, event_schema, load_schema
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from scripts.harness.procs import terminate

from .net import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
EVENT_SCHEMA = event_schema(load_schema())
DEFS = EVENT_SCHEMA["$defs"]
SAFE_INT = DEFS["product"]["properties"]["id"].get("maximum", 2**53 - 1)  # test_limits requires the maximum
CONTENT_TYPES = ("application/json", "text/plain;charset=UTF-8")
# How far back generated "recent" timestamps go: inside the ETL's freshness window (72 h), so most accepted events
# reach dw.events; the rest of the contract's range (up to the ingest's 366 days) ends as the ETL's stale rejects.
RECENT_MS = 70 * 3600 * 1000


def _max_len(*path: str) -> int:
    node: dict[str, Any] = DEFS["event"]
    for part in path:
        node = node["properties"][part]
        if set(node) == {"$ref"}:
            node = DEFS[node["$ref"].split("/")[-1]]
    ref = node.get("$ref")
    return int(node.get("maxLength") or DEFS[ref.split("/")[-1]]["maxLength"])


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@functools.cache
def schema_events() -> st.SearchStrategy[dict[str, Any]]:
    """hypothesis-jsonschema's strategy for one event (built once: building it resolves the whole schema)."""
    return from_schema(EVENT_SCHEMA)


@st.composite
def contract_events(draw: Any, now_ms: int) -> dict[str, Any]:
    """An event generated from the contract's JSON Schema; most get a recent timestamp (else few would load)."""
    event = draw(schema_events())
    choice = draw(st.sampled_from(["as_generated", "iso", "iso", "iso", "epoch_ms"]))
    if choice != "as_generated":
        ms = now_ms - draw(st.integers(0, RECENT_MS))
        event["event_timestamp"] = iso_ms(ms) if choice == "iso" else ms
    return event


def contract_bodies(now_ms: int, max_events: int = 8) -> st.SearchStrategy[tuple[str, str, int]]:
    """(body text, content type, number of events): batches or single events of generated events."""
    batch = st.lists(contract_events(now_ms), min_size=1, max_size=max_events).map(
        lambda evs: (json.dumps({"events": evs}), len(evs)))
    single = contract_events(now_ms).map(lambda ev: (json.dumps(ev), 1))
    return st.tuples(st.one_of(batch, single), st.sampled_from(CONTENT_TYPES)).map(
        lambda t: (t[0][0], t[1], t[0][1]))


# --- the edges ------------------------------------------------------------------------------------------------------

def _wide(n: int, seed: int) -> str:
    """n characters of 4 bytes in UTF-8 (CJK Extension B), varied so that PostgreSQL cannot compress them."""
    return "".join(chr(0x20000 + (seed * 7919 + i * 104729) % 0xA6D0) for i in range(n))


def _ascii_path(n: int, seed: int) -> str:
    chars = "abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@?/"
    return "/" + "".join(chars[(seed * 31 + i * 17) % len(chars)] for i in range(n - 1))


def edge_bodies(now_ms: int) -> list[tuple[str, str, int, str]]:
    """(name, body text, number of events, expectation) of the contract's edges; expectation is 'accepted',
    'rejected' (every event refused with a reason) or 'request' (4xx). Each body carries fresh ids."""
    ts = iso_ms(now_ms - 60_000)

    def ev(**fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"event_name": "view_item", "client_id": f"c-{uuid.uuid4().hex[:10]}",
                                "event_timestamp": ts, "event_id": str(uuid.uuid4()),
                                "product": {"id": f"p-{uuid.uuid4().hex[:6]}"}}
        base.update(fields)
        return base

    client = f"c-{uuid.uuid4().hex[:10]}"
    longest_product = {"id": _wide(_max_len("product", "id"), 1), "name": _wide(_max_len("product", "name"), 2),
                       "category": _wide(_max_len("product", "category"), 3),
                       "brand": _wide(_max_len("product", "brand"), 4), "price": 1e9, "discount_price": 1e9,
                       "url_path": _ascii_path(_max_len("product", "url_path"), 5)}
    longest = ev(client_id=_wide(_max_len("client_id"), 6), user_id=_wide(_max_len("user_id"), 7),
                 session_id=_wide(_max_len("session_id"), 8), identity_source=_wide(_max_len("identity_source"), 9),
                 search_term=_wide(_max_len("search_term"), 10), order_id=_wide(_max_len("order_id"), 11),
                 quantity=10000, user_login_state="logged_in", is_first_visit=True,
                 page={"url_path": _ascii_path(_max_len("page", "url_path"), 12),
                       "referrer": _wide(_max_len("page", "referrer"), 13),
                       "title": _wide(_max_len("page", "title"), 14)},
                 product=longest_product,
                 params={f"p{i}": _wide(256, 20 + i) for i in range(25)})
    purchase_max = [ev(event_name="purchase", client_id=client, quantity=10000, order_id=f"o-{i}",
                       product={"id": SAFE_INT, "price": 1e9, "discount_price": 1e9}) for i in range(20)]
    # two page views of one session with the longest distinct paths: the widest page-transition key
    paths = [ev(event_name="page_view", client_id=client + "-p", product=None,
                page={"url_path": _ascii_path(_max_len("page", "url_path"), 30 + i)}) for i in range(3)]
    for p in paths:
        p.pop("product")
    unicode_text = ev(product={"id": "e\u0301\U0001F469\u200D\U0001F4BB", "name": "Z\u0351\u0352a\u0300\u0301lgo",
                               "category": "\U0001F600" * 3, "brand": "\u00e9t\u00e9"},
                      search_term="tab\tnew\nline\r\u2028\u2029\ufeff\uffff", params={"x": "\u0085\u200b"})
    numbers = ev(params={"max": SAFE_INT, "min": -SAFE_INT, "f": 1.7976931348623157e-308, "z": -0.0, "t": True},
                 quantity=1, product={"id": 0, "price": 0, "discount_price": 5e-324})
    dup_keys = ('{"event_name": "login", "event_name": "view_item", "client_id": "x", "client_id": "CLIENT", '
                '"event_timestamp": 1, "event_timestamp": "TS", "event_id": "ID", "product": {"id": "a", "id": "b"}}'
                ).replace("CLIENT", client + "-d").replace("TS", ts).replace("ID", str(uuid.uuid4()))
    bodies: list[tuple[str, str, int, str]] = [
        ("every maximum length, 4-byte characters", json.dumps({"events": [longest]}, ensure_ascii=False), 1,
         "accepted"),
        ("every maximum length, escaped as \\u", json.dumps({"events": [ev(**{
            k: v for k, v in longest.items() if k not in ("event_id", "client_id")})]}), 1, "accepted"),
        ("largest revenue, twenty times in one session", json.dumps({"events": purchase_max}), 20, "accepted"),
        ("longest paths in one session", json.dumps({"events": paths}), 3, "accepted"),
        ("non-BMP, combining, zero-width, line separators", json.dumps({"events": [unicode_text]},
                                                                       ensure_ascii=False), 1, "accepted"),
        ("the number limits", json.dumps({"events": [numbers]}), 1, "accepted"),
        ("duplicate keys (the last one counts)", dup_keys, 1, "accepted"),
        ("deepest nesting allowed (page and product objects)", json.dumps(ev(
            event_name="page_view", page={"url_path": "/a", "referrer": None, "title": None})), 1, "accepted"),
    ]
    too_long = [
        ev(client_id=_wide(_max_len("client_id") + 1, 40)),
        ev(page={"url_path": _ascii_path(_max_len("page", "url_path") + 1, 41)}),
        ev(product={"id": _wide(_max_len("product", "id") + 1, 42)}),
        ev(product={"id": "p", "name": _wide(_max_len("product", "name") + 1, 43)}),
        ev(product={"id": SAFE_INT + 1}),
        ev(product={"id": 10**4000}),
        ev(params={"n": SAFE_INT + 1}),
        ev(product={"id": "p", "price": 1e9 + 0.01}),
        ev(quantity=10001),
        ev(page={"url_path": "/caf\u00e9"}),
        ev(page={"url_path": "/a b"}),
    ]
    bad_chars = [
        ev(search_term="a\u0000b"), ev(client_id="c\u0000"), ev(params={"k": "\u0000"}),
        ev(product={"id": "p", "name": "\u0000"}), ev(client_id="tab\tid"), ev(client_id="   "),
        ev(user_id="u\u001f"), ev(page={"url_path": "/p", "title": "t\u0000"}),
    ]
    surrogates = json.dumps({"events": [ev(search_term="LONE"), ev(client_id="LONE")]}).replace(
        '"LONE"', '"\\ud800x"')
    bodies += [
        ("one over every limit", json.dumps({"events": too_long}), len(too_long), "rejected"),
        ("NUL and control characters", json.dumps({"events": bad_chars}), len(bad_chars), "rejected"),
        ("lone surrogates", surrogates, 2, "rejected"),
        ("nested params", json.dumps({"events": [ev(params={"a": {"b": 1}}), ev(params={"a": [1]})]}), 2,
         "rejected"),
        ("nested too deeply", '{"events": [' + "[" * 5000 + "]" * 5000 + "]}", 1, "request"),
        ("a NUL outside any string", '{"events": [{}]}\u0000', 1, "request"),
    ]
    return bodies


# --- the pipeline ---------------------------------------------------------------------------------------------------

@dataclass
class Tally:
    requests: int = 0
    events: int = 0
    accepted: int = 0
    refused: Counter = field(default_factory=Counter)
    loaded: int = 0
    duplicates: int = 0
    etl_rejects: Counter = field(default_factory=Counter)
    etl_runs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "events": self.events, "accepted": self.accepted,
                "refused_by_ingest": dict(self.refused), "loaded": self.loaded, "duplicates": self.duplicates,
                "rejected_by_etl": dict(self.etl_rejects), "etl_runs": self.etl_runs}


class Endpoint:
    """`python -m clickstream_local.ingest_server` on a free 127.0.0.1 port, writing to `bucket` of the emulator."""

    def __init__(self, moto_env: dict[str, str], bucket: str, log_dir: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/clickstream"
        env = {**os.environ, **moto_env, "RAW_BUCKET_NAME": bucket, "LOG_LEVEL": "ERROR",
               "PYTHONPATH": f"{REPO / 'lambdas/ingest/src'}:{REPO / 'lambdas/local_runtime'}", **settings}
        self.log_path = log_dir / f"contract-endpoint-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "clickstream_local.ingest_server", "--host", "127.0.0.1",
                 "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for_port(self.port, timeout=30)

    def post(self, body: str | bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        req = urllib.request.Request(self.url, data=data, method="POST", headers={"content-type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def close(self) -> None:
        terminate(self.proc)


class Books:
    """Sends requests and checks the accounting of everything sent since the last check (one ETL run a check)."""

    def __init__(self, world: Any, endpoint: Endpoint) -> None:
        self.world = world
        self.endpoint = endpoint
        self.seen: set[str] = set()
        self.tally = Tally()
        self.acknowledged = 0  # events answered "accepted" since the last check

    def send(self, body: str, content_type: str, n_events: int) -> tuple[int, dict[str, Any]]:
        status, answer = self.endpoint.post(body, content_type)
        self.tally.requests += 1
        assert status < 500, (status, answer)
        if status >= 400:
            assert set(answer) == {"error", "message", "request_id"}, answer
            return status, answer
        assert status == 200, (status, answer)
        self.tally.events += n_events
        assert answer["accepted"] + answer["rejected"] == n_events, answer
        assert len(answer["errors"]) == answer["rejected"], answer
        for error in answer["errors"]:
            assert error["reason"] in REJECTION_REASONS, error
            self.tally.refused[error["reason"]] += 1
        self.tally.accepted += answer["accepted"]
        self.acknowledged += answer["accepted"]
        return status, answer

    def _new_objects(self) -> dict[str, list[dict[str, Any]]]:
        s3, bucket = self.world.s3, self.world.bucket
        found: dict[str, list[dict[str, Any]]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
            for obj in page.get("Contents", []):
                if obj["Key"] not in self.seen:
                    data = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    found[obj["Key"]] = [json.loads(line) for line in data.split(b"\n") if line]  # NDJSON: \n only
        return found

    def check(self) -> None:
        """Run the ETL once; every accepted line since the last check is loaded or rejected with a reason."""
        objects = self._new_objects()
        self.seen |= set(objects)
        stored = sum(len(lines) for lines in objects.values())
        assert stored == self.acknowledged, f"{self.acknowledged} events acknowledged, {stored} lines stored"
        self.acknowledged = 0
        status = self.world.run_in_process(batch_max_files=500)
        self.tally.etl_runs += 1
        runs = self.world.query("SELECT status, message FROM etl.runs WHERE status NOT IN ('succeeded')")
        assert status == "succeeded" and not runs, (status, runs)
        if not objects:
            return
        files = [f"s3://{self.world.bucket}/{key}" for key in objects]
        rows = {(f, line): str(e) for f, line, e in self.world.query(
            "SELECT source_file, source_line, event_id FROM dw.events WHERE source_file = ANY(%s)", (files,))}
        rejects = {(f, line): reason for f, line, reason in self.world.query(
            "SELECT source_file, line_number, reason || ':' || coalesce(detail, '') FROM etl.rejects"
            " WHERE source_file = ANY(%s)", (files,))}
        ids = [line["event_id"] for lines in objects.values() for line in lines]
        known = {str(i) for (i,) in self.world.query("SELECT event_id FROM dw.events WHERE event_id = ANY(%s::uuid[])",
                                                     (ids,))}
        for key, lines in objects.items():
            source = f"s3://{self.world.bucket}/{key}"
            for number, line in enumerate(lines, 1):
                here, rejected = (source, number) in rows, rejects.get((source, number))
                assert not (here and rejected), (source, number, rejected)
                if here:
                    self.tally.loaded += 1
                elif rejected:
                    assert rejected.split(":")[0] != "malformed_json", (source, number, rejected, line)
                    self.tally.etl_rejects[rejected.split(":")[0]] += 1
                elif line["event_id"] in known:
                    self.tally.duplicates += 1  # a repeated event_id: its first copy is the row
                else:
                    raise AssertionError(f"accepted, then neither loaded nor rejected: {source} line {number}: "
                                         f"{json.dumps(line, ensure_ascii=False)[:2000]}")


def now_ms() -> int:
    return int(time.time() * 1000)
