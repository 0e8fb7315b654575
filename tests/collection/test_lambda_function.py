"""clickstream.platform.lambda_function: a Lambda function with its log groups, reserved concurrency and invoke
permissions in one module run. Input checks and the statement helpers as unit tests; the module itself against a
real moto server (check mode first, with the role missing too, then for real, then a second run that changes
nothing, then drift made behind its back and put back)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.modules import lambda_function as mod

from tests.identity.stubbed import FakeModule, ModuleFailed, params

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def test_a_statement_reads_back_as_wanted():
    perm = {"statement_id": "s", "principal": "events.amazonaws.com", "source_arn": "arn:aws:events:r:1:rule/x"}
    want = mod.wanted_statement(perm, "arn:f")
    read = {"Sid": "s", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": "arn:f",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:events:r:1:rule/x"}}}
    assert mod.current_statement(read) == want
    assert mod.current_statement(read | {"Condition": {}}) != want


@pytest.mark.parametrize(("extra", "message"), [
    ({"s3_bucket": "b"}, "s3_bucket and s3_key go together"),
    ({"vpc_subnet_ids": ["subnet-1"]}, "vpc_subnet_ids and vpc_security_group_ids go together"),
    ({"log_groups": [{"retention": 7}]}, "log_groups[0]: needs a name"),
    ({"log_groups": [{"name": "g", "kms": "k"}]}, "log group g: unknown option(s) kms"),
    ({"permissions": [{"statement_id": "s", "principal": "p"}]}, "permissions[0]: needs a statement_id"),
])
def test_bad_input_is_refused_before_any_call(extra, message, tmp_path):
    args = {"name": "f", "runtime": "python3.11", "handler": "a.b", "role": "r", "zip_file": str(tmp_path / "z")}
    with pytest.raises(ModuleFailed) as failed:
        mod.run(FakeModule(params(mod.ARGUMENT_SPEC, **args | extra)), clients={})
    assert message in failed.value.result["msg"]


@pytest.fixture
def clients(moto_server):
    return {name: RetryingBotoClientWrapper(moto_server.client(name), AWSRetry.jittered_backoff(retries=1))
            for name in ("lambda", "iam", "logs")}


def package(path, text: str) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("app.py", (2020, 1, 1, 0, 0, 0)), text)
    path.write_bytes(buf.getvalue())
    return str(path)


def ensure(clients, args: dict, check_mode: bool = False) -> dict:
    module = FakeModule(params(mod.ARGUMENT_SPEC, **args), check_mode=check_mode)
    module._diff = True
    return mod.run(module, clients)


def state(clients, name: str) -> dict:
    fn = clients["lambda"].get_function(FunctionName=name)
    config = mod.LambdaFunction.current_config(fn["Configuration"])
    groups = {g["logGroupName"]: (g.get("retentionInDays"),
                                  clients["logs"].list_tags_log_group(logGroupName=g["logGroupName"])["tags"])
              for g in clients["logs"].describe_log_groups(logGroupNamePrefix=f"/x/{name}")["logGroups"]}
    policy = json.loads(clients["lambda"].get_policy(FunctionName=name)["Policy"])
    return {"config": config, "sha": fn["Configuration"]["CodeSha256"], "tags": fn.get("Tags"),
            "concurrency": (fn.get("Concurrency") or {}).get("ReservedConcurrentExecutions"), "groups": groups,
            "statements": {s["Sid"]: mod.current_statement(s) for s in policy["Statement"]}}


def test_check_mode_then_create_then_nothing_then_drift_put_back(moto_server, clients, tmp_path):
    tag = uuid.uuid4().hex[:8]
    name, role = f"fn-{tag}", f"role-{tag}"
    rule = f"arn:aws:events:us-east-1:123456789012:rule/r-{tag}"
    args = {"name": name, "description": "d", "runtime": "python3.11", "handler": "app.handler", "role": role,
            "zip_file": package(tmp_path / "a.zip", "v1"), "memory_size": 256, "timeout": 30,
            "environment": {"A": "1", "B": 2}, "tags": {"Name": name}, "reserved_concurrency": 5,
            "log_groups": [{"name": f"/x/{name}", "retention": 30, "tags": {"Name": name}},
                           {"name": f"/x/{name}-access", "retention": 7}],
            "permissions": [{"statement_id": f"r-{tag}-invoke", "principal": "events.amazonaws.com",
                             "source_arn": rule}]}

    # The role does not exist yet: check mode says what it would create; a real run fails naming the role.
    planned = ensure(clients, args, check_mode=True)
    assert planned["changed"] is True and planned["function_arn"] == "" and planned["role_arn"] == ""
    assert f"create function {name}" in planned["actions"] and f"create log group /x/{name}" in planned["actions"]
    with pytest.raises(ModuleFailed) as failed:
        ensure(clients, args)
    assert f"IAM role {role} does not exist" in failed.value.result["msg"]
    assert not clients["logs"].describe_log_groups(logGroupNamePrefix=f"/x/{name}")["logGroups"]

    clients["iam"].create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
    made = ensure(clients, args)
    assert made["changed"] is True and made["function_arn"].endswith(f":function:{name}")
    got = state(clients, name)
    assert got["config"]["Environment"] == {"Variables": {"A": "1", "B": "2"}}
    assert (got["config"]["MemorySize"], got["config"]["Timeout"], got["sha"]) == (256, 30, made["code_sha256"])
    assert got["tags"] == {"Name": name} and got["concurrency"] == 5
    assert got["groups"] == {f"/x/{name}": (30, {"Name": name}), f"/x/{name}-access": (7, {})}
    assert got["statements"][f"r-{tag}-invoke"]["SourceArn"] == rule

    again = ensure(clients, args)
    assert again["changed"] is False and again["actions"] == []
    assert again["statements"] == got["statements"]
    assert ensure(clients, args, check_mode=True)["changed"] is False

    # Drift behind the module's back: configuration, tags, concurrency, a log group's retention and tags, the
    # permission's source; then a new package.
    clients["lambda"].update_function_configuration(FunctionName=name, MemorySize=512,
                                                    Environment={"Variables": {"A": "9"}})
    clients["lambda"].tag_resource(Resource=made["function_arn"], Tags={"Extra": "x"})
    clients["lambda"].put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=9)
    clients["logs"].put_retention_policy(logGroupName=f"/x/{name}", retentionInDays=1)
    clients["logs"].tag_log_group(logGroupName=f"/x/{name}-access", tags={"Extra": "x"})
    clients["lambda"].remove_permission(FunctionName=name, StatementId=f"r-{tag}-invoke")
    clients["lambda"].add_permission(FunctionName=name, StatementId=f"r-{tag}-invoke", Action="lambda:InvokeFunction",
                                     Principal="events.amazonaws.com", SourceArn=rule + "-other")
    drifted = state(clients, name)

    seen = ensure(clients, args, check_mode=True)
    assert seen["changed"] is True
    assert {f"function {name} configuration", f"function {name} tags", f"function {name} reserved concurrency",
            f"log group /x/{name} retention", f"log group /x/{name}-access tags",
            f"function {name} permission r-{tag}-invoke"} <= set(seen["diff"]["before"])
    assert state(clients, name) == drifted, "check mode put the drift back"

    assert ensure(clients, args)["changed"] is True
    assert state(clients, name) == got
    assert ensure(clients, args)["changed"] is False

    # No reservation given: removed, unless purge_reserved_concurrency is false.
    assert ensure(clients, args | {"reserved_concurrency": None, "purge_reserved_concurrency": False})[
        "changed"] is False
    assert ensure(clients, args | {"reserved_concurrency": None})["actions"] == [
        f"remove the reserved concurrency of function {name}"]
    assert state(clients, name)["concurrency"] is None

    new_code = ensure(clients, args | {"reserved_concurrency": None, "zip_file": package(tmp_path / "b.zip", "v2")})
    assert new_code["actions"] == [f"update the code of function {name}"]
    assert state(clients, name)["sha"] == new_code["code_sha256"] != made["code_sha256"]


def test_ansible_doc_and_the_aws_action_group():
    import yaml

    from scripts.harness.ansible import REPO, ansible_doc

    doc = ansible_doc("lambda_function")
    assert "region" in doc["doc"]["options"] and "endpoint_url" in doc["doc"]["options"]
    assert set(mod.ARGUMENT_SPEC) <= set(doc["doc"]["options"])
    assert yaml.safe_load(doc["examples"])
    runtime = yaml.safe_load((REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml")
                             .read_text())
    assert "lambda_function" in runtime["action_groups"]["aws"]


def test_create_waits_while_lambda_cannot_assume_a_role_just_made(monkeypatch, tmp_path):
    # A stand-in client: moto accepts a new role at once, while AWS answers this for some seconds after CreateRole.
    from botocore.exceptions import ClientError

    class Client:
        calls = 0

        def create_function(self, aws_retry: bool, **kwargs):
            Client.calls += 1
            if Client.calls < 3:
                raise ClientError({"Error": {"Code": "InvalidParameterValueException",
                                             "Message": "The role defined for the function cannot be assumed by "
                                                        "Lambda."}}, "CreateFunction")
            return {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}

    monkeypatch.setattr(mod.time, "sleep", lambda seconds: None)
    args = {"name": "f", "runtime": "python3.11", "handler": "a.b", "role": "r", "zip_file": str(tmp_path / "z")}
    manager = mod.LambdaFunction(FakeModule(params(mod.ARGUMENT_SPEC, **args)), {"lambda": Client()})
    assert manager.create_function(FunctionName="f")["FunctionArn"].endswith(":function:f")
    assert Client.calls == 3

    class Refusing:
        def create_function(self, aws_retry: bool, **kwargs):
            raise ClientError({"Error": {"Code": "InvalidParameterValueException", "Message": "Bad handler"}},
                              "CreateFunction")

    manager = mod.LambdaFunction(FakeModule(params(mod.ARGUMENT_SPEC, **args)), {"lambda": Refusing()})
    with pytest.raises(ModuleFailed) as failed:
        manager.create_function(FunctionName="f")
    assert failed.value.result["msg"] == "create_function failed (Lambda function)"
