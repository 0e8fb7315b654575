"""The ETL's sessionization (the plan made ahead and COPYed, and the plan made in the batch with what the warehouse
holds, for late clients) and the set-based SQL oracle (tests/etl/oracle) load identical tables, over several
batches and runs: sessions continued across batches and runs, late (out-of-order) events, equal timestamps,
duplicates within a batch and of already loaded events, login changes mid-session, purchases with rounding prices,
midnight."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from clickstream_etl import load, pipeline
from clickstream_etl.config import Settings
from clickstream_etl.runner import run_etl

from . import oracle
from .helpers import event_line, ndjson, object_key

PAGES = ("/", "/deals", "/cart", None)
# what a session's acquisition and device come from (drawn from a generator of their own: the draws above stay as
# they were)
QUERIES = ("", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=spring", "?gclid=x1")
REFERRERS = (None, None, "https://www.google.com/", "https://news.example.org/a", "https://l.facebook.com/")
DEVICES = (("desktop", "Chrome", "Windows"), ("mobile", "Mobile Safari", "iOS"), ("tablet", "Chrome", "Android"))


def _runs(base: datetime) -> list[dict[str, bytes]]:
    """Three runs of objects (key order = arrival order), seeded, with the awkward cases spelled out."""
    rng = random.Random(11)
    acq = random.Random(12)
    clients = [f"c{n}" for n in range(12)]
    clock = {c: base + timedelta(minutes=rng.randint(0, 20)) for c in clients}
    files: list[list] = []
    sent: list[dict] = []
    for f in range(9):
        lines: list = []
        for _ in range(14):
            c = rng.choice(clients)
            clock[c] += timedelta(seconds=rng.choice((0, 5, 40, 600, 1799, 1800, 1801, 2400)))
            name = rng.choice(("page_view", "page_view", "screen_view", "view_item", "add_to_cart", "purchase"))
            product = {"id": f"p{rng.randint(1, 3)}", "category": "c", "brand": rng.choice(("b", None)),
                       "name": rng.choice(("Mouse", "Mouse X", None)),
                       "price": rng.choice((10.005, 19.99, "7.125", 3)), "discount_price": rng.choice((None, 5.555))}
            user = rng.choice((None, None, "u1"))
            page = rng.choice(PAGES)
            page = page and page + acq.choice(QUERIES)
            line = event_line(name, c, clock[c], user_id=user, login=rng.choice((None, "logged_in", "logged_out")),
                              page=page, product=product if name != "page_view" else None,
                              quantity=rng.choice((None, 2)) if name == "purchase" else None,
                              referrer=acq.choice(REFERRERS), device=acq.choice(DEVICES))
            lines.append(line)
            sent.append(line)
        if f in (3, 6):  # late events: earlier than what was loaded for the client
            late = event_line("page_view", "c1", clock["c1"] - timedelta(hours=1), page="/late?utm_source=partner"
                              "&utm_medium=affiliate", referrer="https://www.bing.com/", device=DEVICES[f % 3])
            lines.append(late)
        if f == 4:  # equal timestamp as the client's last loaded event, and a duplicate within the batch
            prev = sent[-20]
            lines.append(event_line("page_view", prev["client_id"], datetime.fromisoformat(prev["event_timestamp"]),
                                    page="/tie", event_id=str(uuid.UUID(int=0))))
            lines.append(dict(lines[0]))
        if f in (3, 4):  # the newest event of a client on the slow path (uppercase id): its batch goes to SQL,
            clock["c2"] += timedelta(seconds=30)  # so what the planner predicted for c2 from it is wrong
            lines.append(event_line("page_view", "c2", clock["c2"], page="/slow",
                                    event_id=str(uuid.UUID(int=rng.getrandbits(128))).upper()))
        if f == 7:  # an event loaded by an earlier run, again
            lines.append(dict(sent[3]))
        files.append(lines)
    runs: list[dict[str, bytes]] = [{}, {}, {}]
    for f, lines in enumerate(files):
        runs[0 if f < 3 else 1 if f < 6 else 2][object_key(base, f"s{f:02d}")] = ndjson(lines)
    return runs


def _load_all(world, runs: list[dict[str, bytes]], batch_files: int = 2) -> dict:
    settings = Settings(raw_bucket=world.bucket, dw_host="unused", listing_lookback_hours=0,
                        batch_max_files=batch_files)
    for files in runs:
        for key, body in files.items():
            world.put(key, body)
        conn = psycopg2.connect(world.dsn)
        try:
            assert run_etl(conn, world.s3, settings).status == "succeeded"
        finally:
            conn.close()
    return world.snapshot()


# One object per batch: every batch is planned (sessionized in Python) while the one before it loads, from the
# states that batch will leave; a late client, or a batch with an already loaded event, shows the planner's
# predictions wrong, and the next batches must be planned again from the warehouse.
@pytest.mark.parametrize("batch_files", [1, 2])
def test_python_and_sql_sessionization_load_the_same_tables(world, monkeypatch, batch_files):
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = _runs(midnight - timedelta(hours=2))
    direct_rows, sql_rows = [], []
    real = pipeline.plan_direct

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        direct_rows.append(sum(out.loaded.values()))
        sql_rows.append(len(out.sql_rows))
        return out

    monkeypatch.setattr(pipeline, "plan_direct", spy)
    with_python = _load_all(world, runs, batch_files)
    # both routes were taken: most rows in Python, the late clients' rows in SQL
    assert sum(direct_rows) > len(with_python["dw.events"]) // 2 and sum(sql_rows) > 0

    world.fresh_database()
    monkeypatch.setattr(load, "DIRECT", False)
    in_warehouse = _load_all(world, runs)  # every row planned in its batch, with what the warehouse holds

    world.fresh_database()
    monkeypatch.setattr(load, "sessionize_in_warehouse", oracle.sessionize)  # every row through the SQL oracle
    sql_only = _load_all(world, runs)
    assert json.dumps(in_warehouse, default=str) == json.dumps(sql_only, default=str)

    assert len(with_python["dw.sessions"]) > 12 and len(with_python["dw.agg_daily_sessions"]) >= 2
    for table, rows in sql_only.items():
        assert json.dumps(with_python[table], default=str) == json.dumps(rows, default=str), table
    # the batches' incremental aggregates are what a recompute from the loaded events gives
    assert world.rebuilt() == sql_only


def test_a_value_postgresql_refuses_sends_the_batch_to_the_sql_path(world, monkeypatch):
    """If a fast-path check let through what PostgreSQL refuses, the batch is loaded line by line in SQL."""
    from clickstream_etl import parse

    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = _runs(midnight - timedelta(hours=2))[:1]
    real = parse.make_row

    def corrupt(*args, **kwargs):
        row = real(*args, **kwargs)
        parts = row.text.split("\t")
        parts[1] = "not-a-time"  # event_timestamp: text COPY refuses
        row.text = "\t".join(parts)
        return row

    def always_slow(*args: object) -> list:
        raise parse.Slow

    monkeypatch.setattr(parse, "make_row", corrupt)
    monkeypatch.setattr(parse, "plain_row", always_slow)  # every line through typed_row and make_row
    fell_back = _load_all(world, runs)

    world.fresh_database()
    monkeypatch.setattr(parse, "make_row", real)
    monkeypatch.setattr(parse, "typed_row", always_slow)  # plain_row still declines: every line to SQL
    sql_only = _load_all(world, runs)
    assert len(sql_only["dw.events"]) > 20
    assert json.dumps(fell_back, default=str) == json.dumps(sql_only, default=str)


def test_a_batch_without_one_valid_event_loads_its_rejects(world):
    now = datetime.now(UTC)
    stale = event_line("page_view", "c1", now - timedelta(hours=100), received=now)
    world.put(object_key(now, "bad"), ndjson([stale, b"{not json", b""]))
    _load_all(world, [{}])
    assert world.query("SELECT count(*) FROM dw.events") == [(0,)]
    assert world.query("SELECT line_number, reason FROM etl.rejects ORDER BY 1") == \
        [(1, "stale_event"), (2, "malformed_json")]
    assert world.query("SELECT lines, events_loaded, rejects FROM etl.files") == [(3, 0, 2)]
