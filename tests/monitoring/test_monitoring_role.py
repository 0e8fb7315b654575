"""Role `monitoring` against the emulator: SNS topic, the pipeline's six alarms and two backup alarms per database
wired to it, the pipeline dashboard;
check mode, second run, e-mail subscription on and off, teardown, and a clear error without the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.moto import MotoServer

PLAYBOOK = "playbooks/monitoring.yml"
PREFIX = "clickstream-local"
REGION, ACCOUNT = "us-east-1", "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-alarms"
DASHBOARD = f"{PREFIX}-pipeline"
ALARMS = [f"{PREFIX}-{n}" for n in ("etl-errors", "etl-no-successful-run", "etl-data-lag",
                                    "etl-quarantined-files", "etl-anomalies", "ingest-5xx-rate",
                                    "ingest-throttles",
                                    "etl-lake-export")]  # the local inventory has the lake on
BACKUP_ALARMS = [f"{PREFIX}-backup-{db}-{kind}" for db in ("oltp", "dw")
                 for kind in ("base-backup-age", "wal-archive-age")]


@dataclass
class Applied:
    moto: MotoServer
    api_id: str
    check_on_empty: PlaybookRun
    after_check: dict[str, Any]
    first: PlaybookRun
    second: PlaybookRun
    check_after: PlaybookRun

    def run(self, *args: str, playbook: str = PLAYBOOK) -> PlaybookRun:
        return run_playbook(playbook, *args, env=self.moto.env())

    def alarms(self) -> dict[str, dict[str, Any]]:
        found = self.moto.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{PREFIX}-")["MetricAlarms"]
        return {a["AlarmName"]: a for a in found}

    def topics(self) -> list[str]:
        return [t["TopicArn"] for t in self.moto.client("sns").list_topics()["Topics"]]

    def dashboards(self) -> list[str]:
        return [d["DashboardName"] for d in self.moto.client("cloudwatch").list_dashboards()["DashboardEntries"]]


def _state(moto: MotoServer) -> dict[str, Any]:
    cw = moto.client("cloudwatch")
    return {"alarms": cw.describe_alarms()["MetricAlarms"], "dashboards": cw.list_dashboards()["DashboardEntries"],
            "topics": moto.client("sns").list_topics()["Topics"]}


@pytest.fixture(scope="module")
def applied(moto_server: MotoServer) -> Iterator[Applied]:
    moto_server.reset()
    api_id = moto_server.client("apigatewayv2").create_api(Name=f"{PREFIX}-http-api", ProtocolType="HTTP")["ApiId"]
    env = moto_server.env()
    check_on_empty = run_playbook(PLAYBOOK, "--check", env=env)
    after_check = _state(moto_server)
    first = run_playbook(PLAYBOOK, env=env)
    second = run_playbook(PLAYBOOK, env=env)
    check_after = run_playbook(PLAYBOOK, "--check", "--diff", env=env)
    yield Applied(moto_server, api_id, check_on_empty, after_check, first, second, check_after)


@pytest.mark.integration
def test_check_mode_on_an_empty_account_creates_nothing(applied: Applied) -> None:
    assert applied.check_on_empty.rc == 0, applied.check_on_empty.output[-3000:]
    assert applied.check_on_empty.changed > 0
    assert applied.after_check == {"alarms": [], "dashboards": [], "topics": []}


@pytest.mark.integration
def test_topic_alarms_and_dashboard_exist_and_rerun_changes_nothing(applied: Applied) -> None:
    assert applied.first.rc == 0, applied.first.output[-3000:]
    assert applied.topics() == [TOPIC_ARN]
    assert sorted(applied.alarms()) == sorted(ALARMS + BACKUP_ALARMS)
    assert applied.dashboards() == [DASHBOARD]
    assert applied.second.rc == 0 and applied.second.changed == 0, applied.second.changed_tasks()
    assert applied.check_after.rc == 0 and applied.check_after.changed == 0, applied.check_after.changed_tasks()


def _task_output(run: PlaybookRun, task: str) -> str:
    """What the run printed under one task of the role (up to the next task)."""
    return run.output.split(f"TASK [monitoring : {task}]", 1)[1].split("TASK [", 1)[0]


@pytest.mark.integration
def test_a_rerun_skips_the_sns_topic_module_when_the_lookup_shows_it_in_place(applied: Applied) -> None:
    # The lookup already read the topic's name, policy, subscriptions and tags: no sns_topic run when they match.
    assert "changed:" in _task_output(applied.first, "Ensure the SNS topic of the alarms")
    assert "skipping:" in _task_output(applied.second, "Ensure the SNS topic of the alarms")


@pytest.mark.integration
def test_each_alarm_watches_its_metric_with_its_threshold_and_notifies_the_topic(applied: Applied) -> None:
    alarms = applied.alarms()
    etl_dims = [{"Name": "Pipeline", "Value": PREFIX}]
    expected = {
        f"{PREFIX}-etl-errors": ("AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": f"{PREFIX}-etl"}],
                                 "Sum", "GreaterThanOrEqualToThreshold", 1.0, 300, 1, "notBreaching"),
        # 2 periods of the ETL schedule rate(30 minutes); no data = no run = breaching
        f"{PREFIX}-etl-no-successful-run": ("Clickstream/ETL", "SuccessfulRuns", etl_dims, "Sum",
                                            "LessThanThreshold", 1.0, 1800, 2, "breaching"),
        f"{PREFIX}-etl-data-lag": ("Clickstream/ETL", "DataLag", etl_dims, "Maximum", "GreaterThanThreshold",
                                   10800.0, 1800, 1, "notBreaching"),
        # any quarantined object still open after a run
        f"{PREFIX}-etl-quarantined-files": ("Clickstream/ETL", "QuarantinedFiles", etl_dims, "Maximum",
                                            "GreaterThanOrEqualToThreshold", 1.0, 1800, 1, "notBreaching"),
        # any anomaly flag of the newest hour the ETL's checks evaluated
        f"{PREFIX}-etl-anomalies": ("Clickstream/ETL", "AnomaliesFlagged", etl_dims, "Maximum",
                                    "GreaterThanOrEqualToThreshold", 1.0, 1800, 1, "notBreaching"),
        # the lake's export failed in 2 schedule periods in a row (the local inventory has the lake on)
        f"{PREFIX}-etl-lake-export": ("Clickstream/ETL", "LakeExportFailures", etl_dims, "Maximum",
                                      "GreaterThanOrEqualToThreshold", 1.0, 1800, 2, "notBreaching"),
        f"{PREFIX}-ingest-5xx-rate": ("AWS/ApiGateway", "5xx", [{"Name": "ApiId", "Value": applied.api_id},
                                                                {"Name": "Stage", "Value": "$default"}],
                                      "Average", "GreaterThanThreshold", 0.05, 300, 3, "notBreaching"),
        f"{PREFIX}-ingest-throttles": ("AWS/Lambda", "Throttles",
                                       [{"Name": "FunctionName", "Value": f"{PREFIX}-ingest"}], "Sum",
                                       "GreaterThanOrEqualToThreshold", 1.0, 300, 1, "notBreaching"),
        # base backups every 24 h (clickstream_backups_base_interval_hours) + 2 h grace; a silent host breaches
        **{f"{PREFIX}-backup-{db}-base-backup-age": (
            "Clickstream/Backups", "BaseBackupAgeSeconds", [{"Name": "Pipeline", "Value": PREFIX},
                                                            {"Name": "Database", "Value": db}],
            "Maximum", "GreaterThanThreshold", 93600.0, 900, 2, "breaching") for db in ("oltp", "dw")},
        **{f"{PREFIX}-backup-{db}-wal-archive-age": (
            "Clickstream/Backups", "WalArchiveAgeSeconds", [{"Name": "Pipeline", "Value": PREFIX},
                                                            {"Name": "Database", "Value": db}],
            "Maximum", "GreaterThanThreshold", 900.0, 900, 2, "breaching") for db in ("oltp", "dw")},
    }
    for name, want in expected.items():
        a = alarms[name]
        got = (a["Namespace"], a["MetricName"], a["Dimensions"], a["Statistic"], a["ComparisonOperator"],
               a["Threshold"], a["Period"], a["EvaluationPeriods"], a["TreatMissingData"])
        assert got == want, name
        assert a["AlarmActions"] == [TOPIC_ARN] and a["OKActions"] == [TOPIC_ARN], name
        assert a["AlarmDescription"], name


@pytest.mark.integration
def test_topic_accepts_only_cloudwatch_alarms_of_this_environment(applied: Applied) -> None:
    attrs = applied.moto.client("sns").get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]
    policy = json.loads(attrs["Policy"])
    cw = next(s for s in policy["Statement"] if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com")
    assert cw["Action"] == "sns:Publish" and cw["Resource"] == TOPIC_ARN
    assert cw["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{PREFIX}-*"
    assert not any(s.get("Principal") == "*" or s.get("Principal", {}).get("AWS") == "*" for s in policy["Statement"])
    tags = applied.moto.client("sns").list_tags_for_resource(ResourceArn=TOPIC_ARN)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}.items() >= {"Project": "clickstream", "Environment": "local"}.items()


@pytest.mark.integration
def test_dashboard_shows_the_pipeline(applied: Applied) -> None:
    body = json.loads(applied.moto.client("cloudwatch").get_dashboard(DashboardName=DASHBOARD)["DashboardBody"])
    widgets = body["widgets"]
    alarm_widget = next(w for w in widgets if w["type"] == "alarm")
    assert alarm_widget["properties"]["alarms"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{n}" for n in ALARMS]
    lines = [m for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]]
    names = {(m[0], m[1]) for m in lines}
    for metric in ("EventsLoaded", "FilesLoaded", "Rejects", "DataLag", "RunDuration", "SuccessfulRuns",
                   "FailedRuns", "FilesQuarantined"):
        assert ("Clickstream/ETL", metric) in names, metric
    assert {("AWS/ApiGateway", "5xx"), ("AWS/ApiGateway", "Count"), ("AWS/Lambda", "Throttles"),
            ("AWS/Lambda", "Errors")} <= names
    assert all(applied.api_id in m for m in lines if m[0] == "AWS/ApiGateway")
    assert all(isinstance(w[k], int) for w in widgets for k in ("x", "y", "width", "height"))
    assert all(isinstance(w["properties"]["period"], int) for w in widgets if "period" in w["properties"])
    log = next(w for w in widgets if w["type"] == "log")
    assert f"SOURCE '/aws/lambda/{PREFIX}-etl'" in log["properties"]["query"]


@pytest.mark.integration
def test_email_subscription_is_added_and_removed(applied: Applied) -> None:
    sns = applied.moto.client("sns")
    on = applied.run("-e", "monitoring_alarm_email=ops@example.com")
    assert on.rc == 0, on.output[-3000:]
    subs = sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "ops@example.com")]
    off = applied.run()
    assert off.rc == 0 and off.changed == 1, off.changed_tasks()
    assert sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"] == []


@pytest.mark.integration
def test_bad_input_fails_before_anything_changes(applied: Applied) -> None:
    before = _state(applied.moto)
    bad = applied.run("-e", "monitoring_etl_schedule_expression='cron(0 * * * ? *)'",
                      "-e", "monitoring_alarm_email=not-an-address")
    assert bad.rc != 0
    assert "Invalid monitoring variables" in bad.output and "monitoring_etl_schedule_period_seconds" in bad.output
    assert _state(applied.moto) == before


@pytest.mark.integration
def test_teardown_removes_them_and_monitoring_then_asks_for_the_api(applied: Applied) -> None:
    down = applied.run("-e", "teardown_confirm=yes", playbook="playbooks/teardown.yml")
    assert down.rc == 0, down.output[-3000:]
    assert (applied.alarms(), applied.dashboards(), applied.topics()) == ({}, [], [])
    missing = applied.run()
    assert missing.rc != 0 and "Run --tags ingest" in " ".join(missing.output.split())
    # --check of a whole site.yml on a new account: the ingest role only planned the API, so this plans too.
    plan = applied.run("--check")
    assert plan.rc == 0 and plan.changed > 0, plan.output[-3000:]
    assert (applied.alarms(), applied.dashboards(), applied.topics()) == ({}, [], [])
