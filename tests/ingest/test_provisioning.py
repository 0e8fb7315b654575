"""Provisioning against the emulator: the apigatewayv2_api module and the `ingest` role, through ansible-playbook."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.net import free_port

from .helpers import list_keys, read_ndjson, valid_event

pytestmark = pytest.mark.integration

MODULE_PLAY = """
- name: apigatewayv2_api under test
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/clickstream.platform.aws:
      region: us-east-1
      endpoint_url: "{{ endpoint }}"
      access_key: testing
      secret_key: testing
  tasks:
    - name: The API
      clickstream.platform.apigatewayv2_api:
        name: "{{ api_name }}"
        state: "{{ api_state | default('present') }}"
        lambda_arn: "{{ lambda_arn }}"
        route_keys: ["POST /clickstream"]
        cors: {allow_origins: "{{ origins }}", max_age: 600}
        stage:
          throttling_rate_limit: "{{ rate }}"
          throttling_burst_limit: "{{ burst }}"
          access_log_destination_arn: "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/{{ api_name }}"
          access_log_format: '{"requestId":"$context.requestId","status":"$context.status"}'
        tags: {Project: test, Name: "{{ api_name }}"}
      register: result
    - name: Show the result
      ansible.builtin.debug:
        msg: "RESULT={{ result | to_json | b64encode }}"
"""


def module_run(tmp_path: Path, moto_server: Any, *args: str, **extra: Any) -> tuple[Any, dict[str, Any]]:
    play = tmp_path / "play.yml"
    play.write_text(MODULE_PLAY)
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps({"endpoint": moto_server.url, **extra}))
    run = run_playbook(str(play), "-e", f"@{varfile}", *args, env=moto_server.env())
    assert run.rc == 0, run.output
    line = next(ln for ln in run.output.splitlines() if "RESULT=" in ln)
    return run, json.loads(base64.b64decode(line.split("RESULT=", 1)[1].strip().rstrip("'\"")))


def find_api(client: Any, name: str) -> dict[str, Any] | None:
    apis = [a for a in client.get_apis()["Items"] if a["Name"] == name]
    assert len(apis) <= 1
    return apis[0] if apis else None


@pytest.mark.slow
def test_apigatewayv2_api_module_lifecycle(moto_server, tmp_path):
    apigw = moto_server.client("apigatewayv2")
    name = f"modtest-{uuid.uuid4().hex[:6]}"
    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:modtest-ingest"
    params = {"api_name": name, "lambda_arn": lambda_arn + ":3", "origins": ["https://shop.example.com"],
              "rate": 50, "burst": 100}

    run, result = module_run(tmp_path, moto_server, "--check", **params)
    assert run.changed == 1
    assert result["actions"] == ["create api", "create integration", "create route POST /clickstream",
                                 "create stage $default"]
    assert find_api(apigw, name) is None, "check mode created the API"

    run, result = module_run(tmp_path, moto_server, **params)
    assert run.changed == 1
    api = find_api(apigw, name)
    assert api is not None and api["ProtocolType"] == "HTTP"
    api_id = api["ApiId"]
    assert api["CorsConfiguration"]["AllowOrigins"] == ["https://shop.example.com"]
    assert api["CorsConfiguration"]["MaxAge"] == 600
    assert api["Tags"]["Project"] == "test"
    assert result["api"]["execution_arn"] == f"arn:aws:execute-api:us-east-1:123456789012:{api_id}"
    [integration] = apigw.get_integrations(ApiId=api_id)["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == lambda_arn  # version qualifier dropped
    assert integration["PayloadFormatVersion"] == "2.0"
    [route] = apigw.get_routes(ApiId=api_id)["Items"]
    assert route["RouteKey"] == "POST /clickstream"
    assert route["Target"] == f"integrations/{integration['IntegrationId']}"
    [stage] = apigw.get_stages(ApiId=api_id)["Items"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
    assert stage["AccessLogSettings"]["DestinationArn"].endswith(f":log-group:/aws/apigateway/{name}")

    run, result = module_run(tmp_path, moto_server, **params)
    assert run.changed == 0 and result["actions"] == []

    changed = {**params, "origins": ["https://shop.example.com", "https://www.example.com"], "rate": 75}
    run, result = module_run(tmp_path, moto_server, "--check", **changed)
    assert run.changed == 1
    assert result["actions"] == ["update cors", "update stage $default: throttling_rate_limit"]
    assert apigw.get_stages(ApiId=api_id)["Items"][0]["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50

    run, result = module_run(tmp_path, moto_server, **changed)
    assert run.changed == 1
    assert sorted(find_api(apigw, name)["CorsConfiguration"]["AllowOrigins"]) == [
        "https://shop.example.com", "https://www.example.com"]
    assert apigw.get_stages(ApiId=api_id)["Items"][0]["DefaultRouteSettings"]["ThrottlingRateLimit"] == 75

    run, result = module_run(tmp_path, moto_server, "--check", api_state="absent", **changed)
    assert run.changed == 1 and result["actions"] == ["delete api"]
    assert find_api(apigw, name) is not None
    run, _ = module_run(tmp_path, moto_server, api_state="absent", **changed)
    assert run.changed == 1 and find_api(apigw, name) is None


# --- the ingest role ------------------------------------------------------------------------------------------------

PROJECT = "ingtest"  # own name prefix (ingtest-local-*) so other tests' resources in the same emulator don't mix


def role_args(tmp_path: Path, port: int, *extra: str) -> list[str]:
    return ["-e", f"clickstream_project={PROJECT}",
            "-e", f"clickstream_local_run_dir={tmp_path}/run", "-e", f"clickstream_local_log_dir={tmp_path}/log",
            "-e", f"clickstream_local_state_dir={tmp_path}/state", "-e", f"clickstream_local_ingest_port={port}",
            *extra]


# The role reserves no concurrency by default (a new account has no room for it); these runs ask for 20 to cover
# the reservation path too.
RESERVE = ("-e", '{"ingest_reserved_concurrency": 20}')


def ingest_play(tmp_path: Path, moto_server: Any, port: int, *extra: str) -> Any:
    return run_playbook("playbooks/preflight.yml", "playbooks/ingest.yml", *role_args(tmp_path, port, *RESERVE, *extra),
                        env=moto_server.env(), inventory="inventories/local")


def pid_of(tmp_path: Path) -> int:
    return int((tmp_path / "run/clickstream-ingest.pid").read_text())


def build_code_sha256() -> str:
    out = subprocess.run([sys.executable, str(REPO / "scripts/build_lambda.py"), "ingest", "--json"], check=True,
                         capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.splitlines()[-1])["code_sha256"]


@pytest.mark.slow
def test_ingest_role(moto_server, tmp_path):
    prefix = f"{PROJECT}-local"
    bucket = f"{prefix}-raw-123456789012-us-east-1"
    iam, s3, lam = moto_server.client("iam"), moto_server.client("s3"), moto_server.client("lambda")
    apigw, ssm, logs = moto_server.client("apigatewayv2"), moto_server.client("ssm"), moto_server.client("logs")
    port = free_port()

    missing = ingest_play(tmp_path, moto_server, port)
    assert missing.rc != 0
    assert f"IAM role {prefix}-lambda-ingest does not exist" in missing.output
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == f"{prefix}-ingest"]

    iam.create_role(RoleName=f"{prefix}-lambda-ingest", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    s3.create_bucket(Bucket=bucket)
    try:
        check = ingest_play(tmp_path, moto_server, port, "--check")
        assert check.rc == 0, check.output
        assert check.changed > 0
        assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == f"{prefix}-ingest"]
        assert find_api(apigw, f"{prefix}-http-api") is None

        first = ingest_play(tmp_path, moto_server, port)
        assert first.rc == 0, first.output
        assert f"Clickstream ingest endpoint: POST http://127.0.0.1:{port}/clickstream" in " ".join(
            first.output.split())

        fn = lam.get_function(FunctionName=f"{prefix}-ingest")
        conf = fn["Configuration"]
        assert conf["Runtime"] == "python3.12" and conf["Handler"] == "clickstream_ingest.handler.handler"
        assert conf["Role"].endswith(f":role/{prefix}-lambda-ingest")
        assert conf["Environment"]["Variables"]["RAW_BUCKET_NAME"] == bucket
        assert conf["CodeSha256"] == build_code_sha256()
        assert fn["Concurrency"]["ReservedConcurrentExecutions"] == 20
        groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
        assert groups[f"/aws/lambda/{prefix}-ingest"]["retentionInDays"] == 14
        assert groups[f"/aws/apigateway/{prefix}-http-api"]["retentionInDays"] == 14

        api = find_api(apigw, f"{prefix}-http-api")
        assert api is not None
        api_id = api["ApiId"]
        [route] = apigw.get_routes(ApiId=api_id)["Items"]
        [integration] = apigw.get_integrations(ApiId=api_id)["Items"]
        [stage] = apigw.get_stages(ApiId=api_id)["Items"]
        assert route["RouteKey"] == "POST /clickstream"
        assert route["Target"] == f"integrations/{integration['IntegrationId']}"
        assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
        assert integration["IntegrationUri"] == conf["FunctionArn"].split(":$")[0]
        assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
        assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 100
        assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 200
        assert "sourceIp" not in stage["AccessLogSettings"]["Format"]
        assert "http://localhost:3000" in api["CorsConfiguration"]["AllowOrigins"]

        policy = json.loads(lam.get_policy(FunctionName=f"{prefix}-ingest")["Policy"])
        [statement] = policy["Statement"]
        assert statement["Principal"]["Service"] == "apigateway.amazonaws.com"
        assert statement["Action"] == "lambda:InvokeFunction"
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
            f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/POST/clickstream")

        url = ssm.get_parameter(Name=f"/{PROJECT}/local/ingest/api_url")["Parameter"]["Value"]
        assert url == f"http://127.0.0.1:{port}/clickstream"
        event = valid_event()
        req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            answer = json.loads(r.read())
        assert answer["accepted"] == 1
        [key] = list_keys(s3, bucket, "events/")
        assert read_ndjson(s3, bucket, key)[0]["event_id"] == event["event_id"]

        second = ingest_play(tmp_path, moto_server, port)
        assert second.rc == 0 and second.changed == 0, second.changed_tasks()

        pid = pid_of(tmp_path)
        third = ingest_play(tmp_path, moto_server, port, "-e", "ingest_log_level=DEBUG")
        assert third.rc == 0, third.output
        assert pid_of(tmp_path) != pid, "a changed handler configuration did not restart the local endpoint"
        assert lam.get_function(FunctionName=f"{prefix}-ingest")["Configuration"]["Environment"]["Variables"][
            "LOG_LEVEL"] == "DEBUG"
    finally:
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", f"{tmp_path}/run/clickstream-ingest.pid",
                        "--remove-pidfile", "--retry", "TERM/15/KILL/5"], check=False, capture_output=True)
