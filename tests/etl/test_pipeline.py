"""The pipeline (pipeline.Pipeline): ordinary objects load batch by batch on the Python path, never through the fault
isolation meant for bad data; what the pipeline changes in the process (GC thresholds, switch interval) is put
back and its parse worker ended, also when a batch fails; its plans are not changed once made."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import sys
from datetime import timedelta

import psycopg2
import pytest
from clickstream_etl import parse_worker, pipeline, plan
from clickstream_etl.config import Settings
from clickstream_etl.runner import run_etl

from .test_faults import _files


def _settings(world, **over) -> Settings:
    return Settings(raw_bucket=world.bucket, dw_host="unused", listing_lookback_hours=0, batch_max_files=2, **over)


@pytest.mark.integration
def test_ordinary_batches_load_on_the_python_path_without_isolation(world, caplog):
    for key, body in _files().items():
        world.put(key, body)
    conn = psycopg2.connect(world.dsn)
    try:
        with caplog.at_level(logging.INFO, logger="clickstream_etl"):
            result = run_etl(conn, world.s3, _settings(world, parse_worker="off"))
    finally:
        conn.close()
    assert result.status == "succeeded" and result.files_loaded == 7
    logged = [json.loads(r.message) for r in caplog.records if r.message.startswith("{")]
    assert not [m for m in logged if str(m["message"]).startswith("batch failed")]
    loaded = [m for m in logged if m["message"] == "batch loaded"]
    assert len(loaded) == 4
    # every batch applies its plan (the malformed line is a reject of the SQL path, no valid event of it)
    assert [m["fast_fallback"] for m in loaded] == [False] * 4


@pytest.mark.integration
def test_the_pipeline_restores_what_it_changes_even_when_a_batch_fails(world, monkeypatch):
    for key, body in _files().items():
        world.put(key, body)
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(0.005)
    ended: list[int | None] = []
    real_close = parse_worker.ParseWorker.close

    def close(self):
        real_close(self)
        ended.append(self._proc.returncode)

    seen: list[tuple] = []
    real_load = pipeline.load_batch

    def failing(*args, **kwargs):
        seen.append((gc.get_threshold(), sys.getswitchinterval()))
        if len(seen) == 2:
            raise psycopg2.OperationalError("injected: the second batch fails")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(parse_worker.ParseWorker, "close", close)
    monkeypatch.setattr(pipeline, "load_batch", failing)
    conn = psycopg2.connect(world.dsn)
    try:
        with pytest.raises(psycopg2.OperationalError, match="injected"):
            run_etl(conn, world.s3, _settings(world, parse_worker="on"))
    finally:
        conn.close()
    assert seen[0] == (pipeline.GC_THRESHOLDS, pipeline.SWITCH_INTERVAL)  # changed while batches load
    assert gc.get_threshold() == (700, 10, 10) and sys.getswitchinterval() == 0.005  # and put back
    assert ended == [0]


def test_a_plan_cannot_be_changed_once_made():
    made = plan.plan_direct([], {}, timedelta(minutes=30))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.touched = []  # type: ignore[misc]
