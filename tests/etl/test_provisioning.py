"""The `etl` tag against a fresh emulator: function in the VPC, log group, schedule, permission, local scheduler.

Runs preflight + etl through ansible-playbook as a user would (prerequisites made with boto3), with the local
scheduler pointed at this test's PostgreSQL (never the shared 5434 cluster) and its pid/log dirs in tmp.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.moto import MotoServer
from scripts.harness.task_ledger import CALLBACKS, ledger_counts

from .golden import run1_files
from .helpers import _migrated

pytestmark = pytest.mark.integration
# Module runs of the ETL play's re-run with nothing to change (bench/provisioning's count: each executed task that
# starts a module, from its task_ledger callback): the lookup, the function, the local scheduler with its settings.
# The package is built on the control node without a module run; the schedule's rule, read by the lookup, is left
# alone while it is as it should be.
ETL_NOOP_MODULE_RUNS = 3


def _ledger_env(moto, path: Path) -> dict[str, str]:
    return {**moto.env(), "ANSIBLE_CALLBACKS_ENABLED": "task_ledger", "TASK_LEDGER_PATH": str(path),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS)}


PREFIX = "clickstream-local"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                              "Principal": {"Service": "lambda.amazonaws.com"}}]})


def _prerequisites(moto) -> None:
    """What the network, iam and storage roles would create, made directly (those roles have their own tests;
    their plays take minutes). The raw bucket is made without the storage role's TLS-only policy, which makes
    the emulator refuse plain-HTTP writes."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"{PREFIX}-etl"}]}])
    ec2.create_security_group(GroupName=f"{PREFIX}-sg-etl-lambda", Description="etl lambda", VpcId=vpc)
    moto.client("iam").create_role(RoleName=f"{PREFIX}-lambda-etl", AssumeRolePolicyDocument=TRUST)
    moto.client("s3").create_bucket(Bucket=f"{PREFIX}-raw-123456789012-us-east-1")
    # the local inventory has the lake on (docs/lake.md): its bucket (the ETL makes the Glue tables if missing), and
    # the artifacts bucket its larger zip is deployed through
    moto.client("s3").create_bucket(Bucket=f"{PREFIX}-lake-123456789012-us-east-1")
    moto.client("s3").create_bucket(Bucket=f"{PREFIX}-artifacts-123456789012-us-east-1")


def test_etl_tag_provisions_and_the_local_scheduler_runs_the_handler(tmp_path, pg_server, artifacts_dir):
    moto = MotoServer(artifacts_dir)
    dbname = "dw_provisioning"
    _migrated(pg_server, dbname)
    dirs = ["-e", f"clickstream_local_run_dir={tmp_path}/run", "-e", f"clickstream_local_log_dir={tmp_path}/log",
            "-e", f"clickstream_local_state_dir={tmp_path}/state"]
    etl_vars = ["-e", "etl_dw_host=10.0.2.10", "-e", f"etl_local_dw_port={pg_server.port}",
                "-e", f"etl_dw_name={dbname}", "-e", "etl_dw_user=postgres", "-e", "etl_local_poll_seconds=1",
                "-e", f"etl_dw_ca_file={pg_server.ca_file}"]
    try:
        # Check mode on an empty account plans the function instead of failing, and creates nothing.
        plan = run_playbook("playbooks/preflight.yml", "playbooks/etl.yml", "--check", *dirs, *etl_vars,
                            env=moto.env())
        assert plan.rc == 0, plan.output[-3000:]
        assert f"would create: Lambda function {PREFIX}-etl" in plan.output
        assert f"would create: EventBridge rule {PREFIX}-etl-schedule" in plan.output
        assert moto.client("lambda").list_functions()["Functions"] == []
        assert moto.client("events").list_rules()["Rules"] == []
        assert not (tmp_path / "state/etl").exists() and not (tmp_path / "run").exists()

        missing = run_playbook("playbooks/preflight.yml", "playbooks/etl.yml", *dirs, *etl_vars, env=moto.env())
        assert missing.rc != 0
        assert "Missing prerequisites of the ETL Lambda" in missing.output and "run --tags iam" in missing.output
        _prerequisites(moto)
        ssm, s3 = moto.client("ssm"), moto.client("s3")
        ssm.put_parameter(Name="/clickstream/local/db/dw/etl_writer/password", Value="x", Type="SecureString",
                          Overwrite=True)
        bucket = f"{PREFIX}-raw-123456789012-us-east-1"
        for key, body in run1_files().items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)

        first = run_playbook("playbooks/preflight.yml", "playbooks/etl.yml", *dirs, *etl_vars, env=moto.env())
        assert first.rc == 0, first.output[-3000:]

        lam, events = moto.client("lambda"), moto.client("events")
        fn = lam.get_function_configuration(FunctionName=f"{PREFIX}-etl")
        ec2 = moto.client("ec2")
        subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-etl"]}])["Subnets"][0]
        sg = ec2.describe_security_groups(Filters=[{"Name": "group-name",
                                                    "Values": [f"{PREFIX}-sg-etl-lambda"]}])["SecurityGroups"][0]
        assert fn["VpcConfig"]["SubnetIds"] == [subnet["SubnetId"]]
        assert fn["VpcConfig"]["SecurityGroupIds"] == [sg["GroupId"]]
        assert fn["Runtime"] == "python3.12" and fn["Handler"] == "clickstream_etl.handler.handler"
        assert fn["Role"].endswith(f"role/{PREFIX}-lambda-etl")
        env = fn["Environment"]["Variables"]
        assert env["DW_PASSWORD_PARAMETER"] == "/clickstream/local/db/dw/etl_writer/password"
        assert not any("PASSWORD" in k and k != "DW_PASSWORD_PARAMETER" for k in env)
        assert env["AGGREGATE_EVERY_EVENTS"] == "2000000"  # etl_aggregate_every_events
        # etl_anomaly_*: the anomaly checks' main variables (docs/warehouse.md, "Anomalies and data quality")
        assert [env[f"ANOMALY_{k}"] for k in ("ENABLED", "BASELINE_WEEKS", "THRESHOLD", "MIN_VOLUME")] == [
            "true", "6", "4.0", "100"]
        assert (env["LAKE_ENABLED"], env["LAKE_DATABASE"]) == ("true", "clickstream_local_lake")
        assert fn["CodeSize"] > 50 * 1024 * 1024  # the lake's libraries: deployed through the artifacts bucket
        # TLS verified: verify-full with the CA certificate packaged into the zip (the local scheduler below
        # connects the same way, with the file on this machine)
        assert (env["DW_SSLMODE"], env["DW_SSLROOTCERT"]) == ("verify-full", "/var/task/dw-ca.pem")
        with zipfile.ZipFile(REPO / "build/lambdas/etl.zip") as zf:
            assert zf.read("dw-ca.pem") == pg_server.ca_file.read_bytes()
        assert f"DW_SSLROOTCERT={pg_server.ca_file}\n" in (tmp_path / "state/etl/etl.env").read_text()
        rule = events.describe_rule(Name=f"{PREFIX}-etl-schedule")
        assert (rule["ScheduleExpression"], rule["State"]) == ("rate(30 minutes)", "ENABLED")
        targets = events.list_targets_by_rule(Rule=f"{PREFIX}-etl-schedule")["Targets"]
        assert [t["Arn"] for t in targets] == [fn["FunctionArn"]]
        policy = json.loads(lam.get_policy(FunctionName=f"{PREFIX}-etl")["Policy"])
        (stmt,) = policy["Statement"]
        assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
        assert stmt["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
        logs = moto.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{PREFIX}-etl")
        assert logs["logGroups"][0]["retentionInDays"] == 30

        # the local scheduler ran the handler right after start, against this test's database
        import psycopg2

        deadline, runs = time.monotonic() + 90, []
        while time.monotonic() < deadline:
            conn = psycopg2.connect(f"host=127.0.0.1 port={pg_server.port} user=postgres dbname={dbname}")
            with conn, conn.cursor() as cur:
                cur.execute("SELECT trigger, status, events_loaded FROM etl.runs WHERE status <> 'running'")
                runs = cur.fetchall()
            conn.close()
            if runs:
                break
            time.sleep(1)
        assert runs == [("schedule", "succeeded", 10)], (tmp_path / "log").glob("*")

        pid = (tmp_path / "run/clickstream-etl-scheduler.pid").read_text()
        ledger = tmp_path / "second.jsonl"
        second = run_playbook("playbooks/preflight.yml", "playbooks/etl.yml", *dirs, *etl_vars,
                              env=_ledger_env(moto, ledger))
        assert second.rc == 0 and second.changed == 0, second.changed_tasks()
        (etl_play,) = [v for k, v in ledger_counts(ledger)["plays"].items() if k.startswith("ETL:")]
        assert etl_play["modules"] <= ETL_NOOP_MODULE_RUNS, etl_play
        assert (tmp_path / "run/clickstream-etl-scheduler.pid").read_text() == pid, "the scheduler was restarted"
        # Drift is read and put back: a settings file changed on the host is rewritten and the scheduler, which
        # reads it at start, restarted.
        env_file = tmp_path / "state/etl/etl.env"
        wanted = env_file.read_text()
        env_file.write_text(wanted + "LOG_LEVEL=DEBUG\n")
        drift = run_playbook("playbooks/preflight.yml", "playbooks/etl.yml", *dirs, *etl_vars, env=moto.env())
        assert drift.rc == 0 and drift.changed_tasks() == ["process_service : Run the service under start-stop-daemon"]
        assert env_file.read_text() == wanted
        assert (tmp_path / "run/clickstream-etl-scheduler.pid").read_text() != pid, "not restarted"
        check = run_playbook("playbooks/preflight.yml", "playbooks/etl.yml", "--check", *dirs, *etl_vars,
                             env=moto.env())
        assert check.rc == 0 and check.changed == 0, check.changed_tasks()

        # `make etl-now` equivalent: one run with the same settings file; nothing new to load
        now = subprocess.run(
            ["python", "-m", "clickstream_local.etl_now", "--env-file", f"{tmp_path}/state/etl/etl.env"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": f"{REPO}/lambdas/etl/src:{REPO}/lambdas/local_runtime",
                 "AWS_ENDPOINT_URL": moto.url})
        assert now.returncode == 0, now.stderr
        result = json.loads(now.stdout.strip().splitlines()[-1])
        assert result["status"] in ("succeeded", "skipped_locked") and result["events_loaded"] == 0
    finally:
        subprocess.run(["bash", str(REPO / "scripts/local-services.sh"), "stop"], capture_output=True,
                       env={**os.environ, "CLICKSTREAM_RUN_DIR": f"{tmp_path}/run"}, check=False)
        moto.close()
