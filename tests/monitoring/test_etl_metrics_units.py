"""Unit tests of the ETL's per-run metrics (pure functions; a stand-in CloudWatch client)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from clickstream_etl.metrics import (
    MetricsConfigError,
    MetricsSettings,
    RunMetrics,
    data_lag_seconds,
    emf_document,
    metric_data,
    parse_dimensions,
    run_values,
    settings_from_env,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SUMMARY = {"run_id": 7, "status": "succeeded", "files_loaded": 3, "files_remaining": 0, "events_loaded": 10,
           "duplicates": 2, "rejects": 7}


class FakeCloudWatch:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict] = []
        self.error = error

    def put_metric_data(self, **kwargs) -> None:
        if self.error:
            raise self.error
        self.calls.append(kwargs)


def test_dimensions_parse_and_bad_ones_are_named() -> None:
    assert parse_dimensions("Pipeline=clickstream-dev, Env = dev") == (("Pipeline", "clickstream-dev"),
                                                                       ("Env", "dev"))
    assert parse_dimensions("") == ()
    for bad in ("Pipeline", "=x", "A=1,A=2", "Bad{Name}=x"):
        with pytest.raises(MetricsConfigError, match="METRICS_DIMENSIONS"):
            parse_dimensions(bad)


def test_settings_defaults_off_and_transport_follows_the_runtime() -> None:
    assert settings_from_env({}) == MetricsSettings(enabled=False, namespace="Clickstream/ETL", transport="api")
    inside_lambda = settings_from_env({"METRICS_ENABLED": "true", "AWS_LAMBDA_FUNCTION_NAME": "x-etl"})
    assert (inside_lambda.enabled, inside_lambda.transport) == (True, "emf")
    assert settings_from_env({"METRICS_TRANSPORT": "API"}).transport == "api"
    with pytest.raises(MetricsConfigError, match="METRICS_TRANSPORT"):
        settings_from_env({"METRICS_TRANSPORT": "carrier-pigeon"})
    with pytest.raises(MetricsConfigError, match="METRICS_NAMESPACE"):
        settings_from_env({"METRICS_NAMESPACE": "AWS/Lambda"})


def test_values_of_a_successful_a_partial_and_a_failed_run() -> None:
    ok = dict((n, v) for n, v, _ in run_values(SUMMARY, failed=False, duration_seconds=12.5, lag_seconds=60.0))
    assert ok == {"FilesLoaded": 3, "FilesRemaining": 0, "EventsLoaded": 10, "Duplicates": 2, "Rejects": 7,
                  "FilesQuarantined": 0, "LakeExportFailures": 0, "SuccessfulRuns": 1, "FailedRuns": 0,
                  "RunDuration": 12.5, "DataLag": 60.0}
    partial = dict((n, v) for n, v, _ in run_values({**SUMMARY, "status": "partial", "files_remaining": 4},
                                                    failed=False, duration_seconds=1, lag_seconds=None))
    assert (partial["SuccessfulRuns"], partial["FilesRemaining"], "DataLag" in partial) == (1, 4, False)
    locked = dict((n, v) for n, v, _ in run_values({"status": "skipped_locked"}, failed=False,
                                                   duration_seconds=0.1, lag_seconds=None))
    assert (locked["SuccessfulRuns"], locked["FailedRuns"]) == (0, 0)
    failed = dict((n, v) for n, v, _ in run_values(None, failed=True, duration_seconds=3, lag_seconds=None))
    assert (failed["SuccessfulRuns"], failed["FailedRuns"], failed["EventsLoaded"]) == (0, 1, 0)


def test_quarantined_files_of_the_run_and_still_open() -> None:
    values = dict((n, v) for n, v, _ in run_values({**SUMMARY, "files_quarantined": 2}, failed=False,
                                                   duration_seconds=1, lag_seconds=None, quarantined_open=3))
    assert (values["FilesQuarantined"], values["QuarantinedFiles"]) == (2, 3)
    unknown = dict((n, v) for n, v, _ in run_values(None, failed=True, duration_seconds=1, lag_seconds=None))
    assert "QuarantinedFiles" not in unknown  # not read: no datum (the alarm treats missing data as not breaching)


def test_data_lag_is_now_minus_newest_event_never_negative() -> None:
    assert data_lag_seconds(None, NOW) is None
    assert data_lag_seconds(NOW - timedelta(minutes=90), NOW) == 5400
    assert data_lag_seconds((NOW - timedelta(seconds=30)).replace(tzinfo=None), NOW) == 30
    assert data_lag_seconds(NOW + timedelta(minutes=5), NOW) == 0


def test_api_datum_and_emf_document_carry_namespace_dimensions_and_units() -> None:
    values = run_values(SUMMARY, failed=False, duration_seconds=2, lag_seconds=30)
    dims = (("Pipeline", "p1"),)
    data = metric_data(values, dims, NOW)
    assert {d["MetricName"] for d in data} >= {"EventsLoaded", "DataLag", "RunDuration"}
    assert all(d["Dimensions"] == [{"Name": "Pipeline", "Value": "p1"}] and d["Timestamp"] == NOW for d in data)
    assert next(d for d in data if d["MetricName"] == "DataLag")["Unit"] == "Seconds"
    doc = emf_document(values, MetricsSettings(True, "Ns/X", dims, "emf"), NOW)
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Ns/X" and directive["Dimensions"] == [["Pipeline"]]
    assert {m["Name"] for m in directive["Metrics"]} == {n for n, _, _ in values}
    assert doc["Pipeline"] == "p1" and doc["EventsLoaded"] == 10 and doc["_aws"]["Timestamp"] == 1795608000000


def test_publish_sends_once_per_run_through_the_api() -> None:
    fake = FakeCloudWatch()
    ticks = iter([100.0, 104.0])
    m = RunMetrics(MetricsSettings(True, "Ns/X", (("Pipeline", "p1"),), "api"), client_factory=lambda: fake,
                   clock=lambda: next(ticks), now=lambda: NOW)
    m.newest_event = NOW - timedelta(minutes=10)
    assert m.publish(SUMMARY) is True
    (call,) = fake.calls
    assert call["Namespace"] == "Ns/X"
    got = {d["MetricName"]: d["Value"] for d in call["MetricData"]}
    assert (got["RunDuration"], got["DataLag"], got["EventsLoaded"]) == (4.0, 600.0, 10.0)


def test_publish_writes_emf_lines_without_network() -> None:
    out = io.StringIO()
    m = RunMetrics(MetricsSettings(True, "Ns/X", (), "emf"), client_factory=lambda: pytest.fail("no API call"),
                   stream=out, now=lambda: NOW)
    assert m.publish(SUMMARY) is True
    doc = json.loads(out.getvalue())
    assert doc["FilesLoaded"] == 3 and doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]


def test_publishing_problems_never_raise_and_disabled_sends_nothing(caplog) -> None:
    failing = RunMetrics(MetricsSettings(True, "Ns/X", (), "api"),
                         client_factory=lambda: FakeCloudWatch(ConnectionError("no route to monitoring")))
    with caplog.at_level("WARNING", logger="clickstream_etl"):
        assert failing.publish(SUMMARY) is False
    assert "no route to monitoring" in caplog.text and failing.published is None
    off = RunMetrics(MetricsSettings(False), client_factory=lambda: pytest.fail("disabled must not publish"))
    assert off.publish(SUMMARY) is False
    bad = RunMetrics.from_env({"METRICS_ENABLED": "true", "METRICS_DIMENSIONS": "oops"})
    assert bad.settings.enabled is False and "METRICS_DIMENSIONS" in caplog.text


def test_observe_failure_only_loses_the_lag(caplog) -> None:
    class BrokenConn:
        def cursor(self):
            raise RuntimeError("connection lost")

        def rollback(self) -> None:
            raise RuntimeError("still lost")

    m = RunMetrics(MetricsSettings(True, "Ns/X", (), "api"), client_factory=FakeCloudWatch)
    with caplog.at_level("WARNING", logger="clickstream_etl"):
        m.observe(BrokenConn())
    assert m.newest_event is None and "connection lost" in caplog.text


ANOMALIES = {"volume": 2, "reject_rate": 1, "duplicate_rate": 0, "late_rate": 0, "conversion": 0}


def test_anomalies_flagged_in_all_and_per_check_through_the_api() -> None:
    fake = FakeCloudWatch()
    m = RunMetrics(MetricsSettings(True, "Ns/X", (("Pipeline", "p1"),), "api"), client_factory=lambda: fake,
                   now=lambda: NOW)
    m.anomalies = dict(ANOMALIES)
    assert m.publish(SUMMARY) is True
    (call,) = fake.calls
    by_dims = {(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])): d["Value"]
               for d in call["MetricData"]}
    assert by_dims[("AnomaliesFlagged", (("Pipeline", "p1"),))] == 3
    assert by_dims[("AnomaliesFlagged", (("Pipeline", "p1"), ("Check", "volume")))] == 2
    assert by_dims[("AnomaliesFlagged", (("Pipeline", "p1"), ("Check", "reject_rate")))] == 1
    assert by_dims[("AnomaliesFlagged", (("Pipeline", "p1"), ("Check", "conversion")))] == 0
    # no hour evaluated yet: no datum (the alarm treats missing data as not breaching)
    assert "AnomaliesFlagged" not in {n for n, _, _ in run_values(SUMMARY, failed=False, duration_seconds=1,
                                                                  lag_seconds=None)}


def test_anomalies_flagged_per_check_as_emf_documents() -> None:
    out = io.StringIO()
    m = RunMetrics(MetricsSettings(True, "Ns/X", (("Pipeline", "p1"),), "emf"),
                   client_factory=lambda: pytest.fail("no API call"), stream=out, now=lambda: NOW)
    m.anomalies = dict(ANOMALIES)
    assert m.publish(SUMMARY) is True
    run_doc, *check_docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert run_doc["AnomaliesFlagged"] == 3 and run_doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Pipeline"]]
    assert {d["Check"]: d["AnomaliesFlagged"] for d in check_docs} == ANOMALIES
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Pipeline", "Check"]] and d["Pipeline"] == "p1"
               for d in check_docs)


def test_a_failed_lake_export_counts_in_a_partial_run() -> None:
    values = dict((n, v) for n, v, _ in run_values({**SUMMARY, "status": "partial", "lake_export_failures": 1},
                                                   failed=False, duration_seconds=1, lag_seconds=None))
    assert (values["SuccessfulRuns"], values["LakeExportFailures"]) == (1, 1)
