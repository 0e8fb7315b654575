"""clickstream.platform.iam_roles: a set of IAM roles in one module run, against a real moto server (check mode first,
then for real, then a second run that changes nothing, then drift made behind its back and corrected), and a role made
by amazon.aws's own modules read as unchanged."""

from __future__ import annotations

import json
import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.modules import iam_roles

from tests.identity.stubbed import FakeModule, ModuleFailed, params

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def policy(*actions: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}


@pytest.fixture
def iam(moto_server):
    return RetryingBotoClientWrapper(moto_server.client("iam"), AWSRetry.jittered_backoff(retries=1))


def ensure(iam, roles: list[dict], check_mode: bool = False) -> dict:
    module = FakeModule(params(iam_roles.ARGUMENT_SPEC, roles=roles), check_mode=check_mode)
    module._diff = True
    return iam_roles.run(module, iam)


def the_set(tag: str) -> list[dict]:
    return [{"name": f"fn-{tag}", "description": "a function", "trust": LAMBDA_TRUST, "managed_policies": [],
             "tags": {"Name": f"fn-{tag}"}, "instance_profile": False},
            {"name": f"host-{tag}", "description": "a host", "trust": EC2_TRUST, "managed_policies": [SSM_CORE],
             "tags": {"Name": f"host-{tag}", "Env": "t"}, "instance_profile": True, "max_session_duration": 7200}]


def inline(tag: str, fn_actions=("s3:GetObject",)) -> list[dict]:
    return [{"name": f"fn-{tag}", "inline_policies": {"p": policy(*fn_actions)}},
            {"name": f"host-{tag}", "inline_policies": {"p": policy("ssm:GetParameter")}}]


def test_check_mode_then_create_then_nothing_then_drift_corrected(moto_server, iam):
    tag = uuid.uuid4().hex[:8]
    planned = ensure(iam, the_set(tag), check_mode=True)
    assert planned["changed"] is True and planned["roles"][f"fn-{tag}"] == {"arn": None, "changed": True}
    assert f"fn-{tag}" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}, "check mode created a role"

    made = ensure(iam, the_set(tag))
    assert made["changed"] is True
    assert made["roles"][f"host-{tag}"]["arn"] == f"arn:aws:iam::123456789012:role/host-{tag}"
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=f"host-{tag}")["AttachedPolicies"]] \
        == [SSM_CORE]
    profile = iam.get_instance_profile(InstanceProfileName=f"host-{tag}")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"host-{tag}"]
    with pytest.raises(iam.client.exceptions.NoSuchEntityException):
        iam.get_instance_profile(InstanceProfileName=f"fn-{tag}")

    # The inline policies in a call of their own (as the role does once the secrets key exists).
    assert ensure(iam, inline(tag), check_mode=True)["changed"] is True
    with pytest.raises(iam.client.exceptions.NoSuchEntityException):
        iam.get_role_policy(RoleName=f"fn-{tag}", PolicyName="p")
    assert ensure(iam, inline(tag))["changed"] is True
    assert iam.get_role_policy(RoleName=f"fn-{tag}", PolicyName="p")["PolicyDocument"] == policy("s3:GetObject")

    again = ensure(iam, the_set(tag))
    assert again["changed"] is False and again["actions"] == []
    assert ensure(iam, inline(tag))["changed"] is False

    # Drift: another trust policy, a managed policy attached by hand, a tag changed, the inline policy widened,
    # the role taken out of its instance profile.
    iam.update_assume_role_policy(RoleName=f"fn-{tag}", PolicyDocument=json.dumps(EC2_TRUST))
    iam.attach_role_policy(RoleName=f"fn-{tag}", PolicyArn=SSM_CORE)
    iam.tag_role(RoleName=f"host-{tag}", Tags=[{"Key": "Env", "Value": "x"}, {"Key": "Extra", "Value": "y"}])
    iam.put_role_policy(RoleName=f"fn-{tag}", PolicyName="p", PolicyDocument=json.dumps(policy("s3:*")))
    iam.remove_role_from_instance_profile(InstanceProfileName=f"host-{tag}", RoleName=f"host-{tag}")
    iam.update_role(RoleName=f"host-{tag}", MaxSessionDuration=3600)

    seen = ensure(iam, the_set(tag), check_mode=True)
    assert seen["roles"][f"fn-{tag}"]["changed"] and seen["roles"][f"host-{tag}"]["changed"]
    assert seen["diff"]["after"][f"fn-{tag}"]["managed_policies"] == []
    fixed = ensure(iam, the_set(tag))
    assert fixed["changed"] is True
    fixed_inline = ensure(iam, inline(tag))
    assert fixed_inline["actions"] == [f"inline policy p of fn-{tag}"]
    role = iam.get_role(RoleName=f"fn-{tag}")["Role"]
    assert role["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    assert iam.list_attached_role_policies(RoleName=f"fn-{tag}")["AttachedPolicies"] == []
    assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=f"host-{tag}")["Tags"]} == \
        {"Name": f"host-{tag}", "Env": "t"}
    assert iam.get_role_policy(RoleName=f"fn-{tag}", PolicyName="p")["PolicyDocument"] == policy("s3:GetObject")
    profile = iam.get_instance_profile(InstanceProfileName=f"host-{tag}")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"host-{tag}"]
    assert iam.get_role(RoleName=f"host-{tag}")["Role"]["MaxSessionDuration"] == 7200
    assert ensure(iam, the_set(tag))["changed"] is False and ensure(iam, inline(tag))["changed"] is False


def test_a_missing_role_without_trust_and_bad_input_are_refused(moto_server, iam):
    with pytest.raises(ModuleFailed) as failed:
        ensure(iam, [{"name": f"none-{uuid.uuid4().hex[:8]}", "inline_policies": {"p": policy("s3:GetObject")}}])
    assert "does not exist and no trust policy" in failed.value.result["msg"]
    with pytest.raises(ModuleFailed) as failed:
        ensure(iam, [{"name": "a", "trust": "text", "policy": {}}, {"name": "a"}])
    msg = failed.value.result["msg"]
    assert "role a: unknown option(s) policy" in msg and "role a: trust must be a dict" in msg
    assert "roles given twice: a" in msg


def test_if_missing_fails_with_its_message_or_leaves_the_role_out_in_check_mode(moto_server, iam):
    tag = uuid.uuid4().hex[:8]
    add_only = {"name": f"etl-{tag}", "inline_policies": {"p": policy("s3:GetObject")},
                "if_missing": f"IAM role etl-{tag} (lake_etl_role_name) is missing: run --tags iam first."}
    analyst = {"name": f"analyst-{tag}", "trust": LAMBDA_TRUST, "inline_policies": {"q": policy("athena:*")}}
    planned = ensure(iam, [add_only, analyst], check_mode=True)
    assert planned["roles"][f"etl-{tag}"] == {"arn": None, "changed": False, "missing": True}
    assert planned["roles"][f"analyst-{tag}"]["changed"] is True
    with pytest.raises(ModuleFailed) as failed:
        ensure(iam, [add_only, analyst])
    assert failed.value.result["msg"] == add_only["if_missing"]
    # Once the role exists, the option changes nothing: its policy is added, then left alone.
    ensure(iam, [{"name": f"etl-{tag}", "trust": LAMBDA_TRUST}])
    assert ensure(iam, [add_only, analyst])["changed"] is True
    assert iam.get_role_policy(RoleName=f"etl-{tag}", PolicyName="p")["PolicyDocument"] == policy("s3:GetObject")
    assert ensure(iam, [add_only, analyst])["changed"] is False


def test_ansible_doc_and_the_aws_action_group():
    import yaml

    from scripts.harness.ansible import REPO, ansible_doc

    doc = ansible_doc("iam_roles")
    assert "region" in doc["doc"]["options"] and "endpoint_url" in doc["doc"]["options"]
    assert yaml.safe_load(doc["examples"])
    runtime = yaml.safe_load((REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml")
                             .read_text())
    assert "iam_roles" in runtime["action_groups"]["aws"]
