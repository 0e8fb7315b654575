"""The ETL's per-run metrics land in the emulator's CloudWatch: the CLI and the local runner (etl_now)."""

from __future__ import annotations

import secrets
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.etl.helpers import ETL_SRC, REPO, event_line, make_world, ndjson, object_key

LOCAL_RUNTIME = REPO / "lambdas" / "local_runtime"


def _stats(cw, namespace: str, name: str, dims: list[dict], start: datetime, stat: str = "Sum") -> float:
    points = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, StartTime=start,
                                      EndTime=datetime.now(UTC) + timedelta(minutes=5), Period=60,
                                      Statistics=[stat])["Datapoints"]
    return sum(p[stat] for p in points) if stat == "Sum" else max(p[stat] for p in points)


def _put_events(world, newest: datetime, count: int) -> None:
    lines = [event_line("page_view", f"c-{i % 3}", newest - timedelta(minutes=count - 1 - i), page="/")
             for i in range(count)]
    world.put(object_key(newest, uuid.uuid4().hex), ndjson([*lines, b"{not json"]))


@pytest.mark.integration
def test_cli_run_publishes_files_events_rejects_duration_and_lag(pg_server, moto_server) -> None:
    world = make_world(pg_server, moto_server, "metrics-cli")
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    _put_events(world, newest, 5)
    namespace, pipeline = f"Test/{uuid.uuid4().hex[:8]}", "clickstream-test"
    dims = [{"Name": "Pipeline", "Value": pipeline}]
    start = datetime.now(UTC) - timedelta(minutes=5)
    env = world.env(METRICS_NAMESPACE=namespace, METRICS_DIMENSIONS=f"Pipeline={pipeline}")

    result = world.run_cli("--metrics", env=env)
    assert result["_rc"] == 0, result
    assert (result["files_loaded"], result["events_loaded"], result["rejects"]) == (1, 5, 1)

    cw = moto_server.client("cloudwatch")
    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert {m["MetricName"] for m in listed} >= {"FilesLoaded", "EventsLoaded", "Rejects", "RunDuration",
                                                 "DataLag", "SuccessfulRuns", "FailedRuns"}
    # every metric with the run's dimensions; AnomaliesFlagged also once per check, with the dimension Check more
    per_check = [m for m in listed if any(d["Name"] == "Check" for d in m["Dimensions"])]
    assert all(m["Dimensions"] == dims for m in listed if m not in per_check)
    assert all(m["MetricName"] == "AnomaliesFlagged" and [d for d in m["Dimensions"] if d["Name"] != "Check"] == dims
               for m in per_check)
    assert _stats(cw, namespace, "FilesLoaded", dims, start) == 1
    assert _stats(cw, namespace, "EventsLoaded", dims, start) == 5
    assert _stats(cw, namespace, "Rejects", dims, start) == 1
    assert _stats(cw, namespace, "SuccessfulRuns", dims, start) == 1
    assert _stats(cw, namespace, "FailedRuns", dims, start) == 0
    assert 0 < _stats(cw, namespace, "RunDuration", dims, start, "Maximum") < 600
    lag = _stats(cw, namespace, "DataLag", dims, start, "Maximum")
    expected = (datetime.now(UTC) - newest).total_seconds()
    assert expected - 300 < lag <= expected + 1

    # Switched off by the flag: a second run publishes nothing more.
    _put_events(world, newest, 2)
    again = world.run_cli("--no-metrics", env=env)
    assert again["_rc"] == 0 and again["events_loaded"] == 2
    assert _stats(cw, namespace, "EventsLoaded", dims, start) == 5


@pytest.mark.integration
def test_a_quarantined_object_is_counted_by_the_run_and_while_it_stays_open(pg_server, moto_server) -> None:
    world = make_world(pg_server, moto_server, "metrics-quarantine")
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    # a client id over the btree's limit on an index row (random: PostgreSQL cannot compress it below)
    poisoned = event_line("page_view", "c-" + secrets.token_urlsafe(3000), newest, page="/")
    world.put(object_key(newest, "poisoned"), ndjson([poisoned]))
    namespace, dims = f"Test/{uuid.uuid4().hex[:8]}", [{"Name": "Pipeline", "Value": "q"}]
    start = datetime.now(UTC) - timedelta(minutes=5)
    env = world.env(METRICS_NAMESPACE=namespace, METRICS_DIMENSIONS="Pipeline=q")

    result = world.run_cli("--metrics", env=env)
    assert result["_rc"] == 0 and result["files_quarantined"] == 1, result
    cw = moto_server.client("cloudwatch")
    assert _stats(cw, namespace, "FilesQuarantined", dims, start) == 1
    assert _stats(cw, namespace, "QuarantinedFiles", dims, start, "Maximum") == 1
    # a later run sets nothing more aside, and the object is still open
    world.run_cli("--metrics", env=env)
    assert _stats(cw, namespace, "FilesQuarantined", dims, start) == 1
    assert _stats(cw, namespace, "QuarantinedFiles", dims, start) == 2  # 1 after each run


@pytest.mark.integration
def test_local_runner_publishes_and_a_failed_run_counts_as_failed(pg_server, moto_server, tmp_path) -> None:
    world = make_world(pg_server, moto_server, "metrics-local")
    _put_events(world, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30), 3)
    namespace = f"Test/{uuid.uuid4().hex[:8]}"
    dims = [{"Name": "Pipeline", "Value": "local"}]
    start = datetime.now(UTC) - timedelta(minutes=5)
    settings = {k: v for k, v in world.env().items()
                if k.startswith(("RAW_", "DW_", "METRICS_", "AWS_", "LOG_"))}
    settings.update(METRICS_ENABLED="true", METRICS_NAMESPACE=namespace, METRICS_DIMENSIONS="Pipeline=local",
                    METRICS_TRANSPORT="api")
    env_file = tmp_path / "etl.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ETL_SRC}:{LOCAL_RUNTIME}"}

    def etl_now(env_path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "clickstream_local.etl_now", "--env-file", str(env_path)],
                              env=base, capture_output=True, text=True, timeout=180)

    ok = etl_now(env_file)
    assert ok.returncode == 0, ok.stderr
    cw = moto_server.client("cloudwatch")
    assert _stats(cw, namespace, "EventsLoaded", dims, start) == 3
    assert _stats(cw, namespace, "SuccessfulRuns", dims, start) == 1

    # The warehouse is unreachable: the run fails, and the failure is what gets published.
    broken = tmp_path / "broken.env"
    broken.write_text(env_file.read_text().replace(f"DW_PORT={world.port}", "DW_PORT=1"))
    failed = etl_now(broken)
    assert failed.returncode == 1 and "cannot connect to the warehouse" in failed.stdout
    assert _stats(cw, namespace, "FailedRuns", dims, start) == 1
    assert _stats(cw, namespace, "SuccessfulRuns", dims, start) == 1
