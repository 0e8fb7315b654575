"""The parse worker process (clickstream_etl.parse_worker): the same splits as the in-process parse, a fallback when
the worker goes away, errors that name their cause, and the same warehouse whichever parses."""

from __future__ import annotations

import io
import logging
import signal
import struct
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from clickstream_etl import parse, parse_worker
from clickstream_etl.config import ConfigError, Settings, settings_from_env
from clickstream_etl.pipeline import use_parse_worker
from clickstream_etl.prepare import split_lines
from clickstream_etl.runner import run_etl

from .golden import all_runs, t
from .helpers import event_line, ndjson

_WINDOW = parse.Freshness(timedelta(hours=72), timedelta(minutes=15))
_MODIFIED = datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC)


def _mixed_object() -> bytes:
    """Every kind of line: plain ones (a purchase with a revenue), one with escapes and odd spacing (typed path),
    stale and future events (rejects), blank lines, bad JSON, a \\u0000 and bytes that are not UTF-8 (slow path),
    an offset timestamp (rewritten in UTC)."""
    base = t(10)
    purchase = event_line("purchase", "c1", base + timedelta(minutes=2), user_id="u1", login="logged_in",
                          product={"id": "p1", "name": "Laptop", "category": "laptops", "brand": "b",
                                   "price": 999.995, "discount_price": "899.5"}, quantity=2)
    escaped = event_line("page_view", "c2", base, page="/a\tb\\c", referrer=" https://x ")
    offset = event_line("page_view", "c3", base)
    offset["event_timestamp"] = "2024-05-01T12:00:00+02:00"
    return ndjson([
        event_line("page_view", "c1", base, page="/"),
        purchase,
        b"",
        escaped,
        event_line("page_view", "c1", base - timedelta(days=5), received=base),
        event_line("page_view", "c1", base + timedelta(hours=1), received=base),
        b"{not json",
        b'{"event_name": "page_view", "client_id": "c\\u0000"}',
        b"\xff\xfe not utf-8",
        offset,
        b"   ",
    ])


@pytest.fixture
def parser():
    p = parse_worker.Parser(use_worker=True)
    yield p
    p.close()


def test_the_worker_splits_as_the_in_process_parse(parser):
    data = _mixed_object()
    here = parse.parse_lines(data, 3, split_lines(data), "s3://b/events/x.json", _MODIFIED, _WINDOW)
    there = parser.split(data, 3, "s3://b/events/x.json", _MODIFIED, _WINDOW)
    assert parser.in_worker
    assert there == here  # rows (texts, datetimes, Decimal revenues), rejects, slow lines, clients, line count
    assert [len(here.rows), len(here.rejects), len(here.slow)] == [4, 2, 3]  # the object holds every kind
    revenue = next(r.revenue for r in there.rows if r.event_name == "purchase")
    assert revenue == here.rows[1].revenue and str(revenue) == "1799.00"
    assert all(r.ts.tzinfo is not None for r in there.rows)


def test_an_escaped_source_name_and_no_last_modified_travel_as_given(parser):
    data = ndjson([event_line("page_view", "c1", t(10), page="/")])
    source = "s3://b/events/odd\tname.json"
    here = parse.parse_lines(data, 0, split_lines(data), source, None, _WINDOW)
    assert parser.split(data, 0, source, None, _WINDOW) == here
    assert "odd\\tname" in here.rows[0].text


def test_a_worker_that_dies_leaves_the_parse_to_this_process(parser, caplog):
    data = ndjson([event_line("page_view", "c1", t(10), page="/")])
    expected = parse.parse_lines(data, 0, split_lines(data), "s3://b/k", _MODIFIED, _WINDOW)
    assert parser.split(data, 0, "s3://b/k", _MODIFIED, _WINDOW) == expected
    parser._worker._proc.send_signal(signal.SIGKILL)
    parser._worker._proc.wait(timeout=10)
    with caplog.at_level(logging.WARNING, logger="clickstream_etl.parse_worker"):
        assert parser.split(data, 0, "s3://b/k", _MODIFIED, _WINDOW) == expected
    assert not parser.in_worker
    assert "parsing in this process from now on" in caplog.text


def test_a_worker_that_cannot_start_leaves_the_parse_to_this_process(monkeypatch, caplog):
    monkeypatch.setattr(parse_worker.sys, "executable", "/nonexistent/python")
    with caplog.at_level(logging.WARNING, logger="clickstream_etl.parse_worker"):
        p = parse_worker.Parser(use_worker=True)
    assert not p.in_worker and "did not start" in caplog.text
    data = ndjson([event_line("page_view", "c1", t(10), page="/")])
    assert p.split(data, 0, "s3://b/k", _MODIFIED, _WINDOW).rows[0].client_id == "c1"


def test_the_worker_exits_when_its_input_ends():
    worker = parse_worker.ParseWorker()
    proc = worker._proc
    worker.close()
    assert proc.returncode == 0


def _frame(payload: bytes) -> bytes:
    return struct.pack("<Q", len(payload)) + payload


def _replies(stream: bytes) -> list[bytes]:
    out, view = [], io.BytesIO(stream)
    while (payload := parse_worker._read_frame(view)) is not None:
        out.append(payload)
    return out


def test_a_request_the_worker_cannot_read_gets_an_error_reply_and_the_next_one_is_answered():
    data = ndjson([event_line("page_view", "c1", t(10), page="/")])
    good = msgspec.msgpack.encode([0, "s3://b/k", _MODIFIED, 3_600_000_000, 60_000_000])
    requests = io.BytesIO(_frame(b"\x93 not a header") + _frame(data) + _frame(good) + _frame(data))
    replies = io.BytesIO()
    parse_worker.serve(requests, replies)
    bad, ok = _replies(replies.getvalue())
    assert bad[:1] == b"\1" and b"Traceback" in bad and b"msgspec" in bad
    assert ok[:1] == b"\0"
    split = msgspec.msgpack.decode(ok[1:], type=parse.ParsedObject)
    assert [r.client_id for r in split.rows] == ["c1"]


def test_a_truncated_request_is_an_error_not_a_hang():
    with pytest.raises(EOFError):
        parse_worker.serve(io.BytesIO(_frame(b"header")[:-2]), io.BytesIO())
    with pytest.raises(EOFError, match="without its object"):
        parse_worker.serve(io.BytesIO(_frame(b"header")), io.BytesIO())


def test_parse_worker_setting(monkeypatch):
    env = {"RAW_BUCKET_NAME": "b", "DW_HOST": "h", "DW_PASSWORD_PARAMETER": "/p"}
    assert settings_from_env(env).parse_worker == "auto"
    assert settings_from_env({**env, "PARSE_WORKER": " OFF "}).parse_worker == "off"
    with pytest.raises(ConfigError, match="PARSE_WORKER must be one of auto, on, off, got 'sometimes'"):
        settings_from_env({**env, "PARSE_WORKER": "sometimes"})
    settings = Settings(raw_bucket="b", dw_host="h")
    monkeypatch.setattr("clickstream_etl.pipeline.usable_cpus", lambda: 1)
    assert not use_parse_worker(settings)
    assert use_parse_worker(Settings(raw_bucket="b", dw_host="h", parse_worker="on"))
    monkeypatch.setattr("clickstream_etl.pipeline.usable_cpus", lambda: 2)
    assert use_parse_worker(settings)
    assert not use_parse_worker(Settings(raw_bucket="b", dw_host="h", parse_worker="off"))


@pytest.mark.integration
def test_the_warehouse_is_the_same_whichever_process_parses(world):
    """The golden dataset (every file of its three runs) loaded in one run parsing in the worker, and in one run
    parsing in the run's own thread: identical tables."""
    for files in all_runs():
        for key, body in files.items():
            world.put(key, body)
    r = world.run_cli(env=world.env(PARSE_WORKER="on", LOG_LEVEL="INFO", BATCH_MAX_FILES="2"))
    assert r["status"] == "succeeded" and r["files_loaded"] == 7, r
    assert "parse worker started" in r["_stderr"]
    in_worker = world.snapshot()
    other = world.fresh_database()
    r = world.run_cli(env=world.env(DW_NAME=other, PARSE_WORKER="off", LOG_LEVEL="INFO", BATCH_MAX_FILES="2"))
    assert r["status"] == "succeeded" and r["files_loaded"] == 7, r
    assert "parse worker started" not in r["_stderr"]
    assert world.snapshot() == in_worker
    assert sum(n for (n,) in world.query("SELECT count(*) FROM etl.rejects")) > 0  # the dataset has bad lines


@pytest.mark.integration
def test_a_run_that_fails_mid_load_ends_its_worker(world, monkeypatch):
    import psycopg2
    from clickstream_etl import pipeline

    for files in all_runs():
        for key, body in files.items():
            world.put(key, body)
    ended: list[int] = []
    real_close = parse_worker.ParseWorker.close

    def close(self):
        real_close(self)
        ended.append(self._proc.returncode)

    calls = []

    def failing_load_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # a transient error: it stops the run (any other would set an object aside)
            raise psycopg2.OperationalError("injected: the second batch fails")
        return real_load_batch(*args, **kwargs)

    real_load_batch = pipeline.load_batch
    monkeypatch.setattr(parse_worker.ParseWorker, "close", close)
    monkeypatch.setattr(pipeline, "load_batch", failing_load_batch)
    conn = psycopg2.connect(world.dsn)
    try:
        with pytest.raises(psycopg2.OperationalError, match="injected"):
            run_etl(conn, world.s3, Settings(raw_bucket=world.bucket, dw_host="unused", listing_lookback_hours=0,
                                             batch_max_files=2, parse_worker="on"))
    finally:
        conn.close()
    assert ended == [0]  # the worker was told to stop, and it exited on its own
    assert world.query("SELECT status FROM etl.runs") == [("failed",)]
