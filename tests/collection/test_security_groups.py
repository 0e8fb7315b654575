"""clickstream.platform.ec2_security_groups: a set of security groups and their exact rules in one module run.
Pure helpers as unit tests; the module itself against a real moto server (check mode first, then for real, then a
second run that changes nothing, then drift made behind its back and corrected)."""

from __future__ import annotations

import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.modules import ec2_security_groups as sgs

from tests.identity.stubbed import FakeModule, ModuleFailed, params


def test_permissions_from_rules_and_back():
    rules = [{"proto": "tcp", "ports": ["5432", "8000-8010"], "cidr_ip": ["10.0.0.0/16", "::/0"], "rule_desc": "d"},
             {"proto": "all", "group_name": "g"}, {"proto": "tcp", "ports": [443], "prefix_list_name": "s3"}]
    want = sgs.wanted_permissions(rules, lambda name: f"sg-{name}", lambda name: f"pl-{name}")
    assert want == {("tcp", 5432, 5432, "IpRanges", "10.0.0.0/16"): "d", ("tcp", 5432, 5432, "Ipv6Ranges", "::/0"): "d",
                    ("tcp", 8000, 8010, "IpRanges", "10.0.0.0/16"): "d", ("tcp", 8000, 8010, "Ipv6Ranges", "::/0"): "d",
                    ("-1", None, None, "UserIdGroupPairs", "sg-g"): "", ("tcp", 443, 443, "PrefixListIds", "pl-s3"): ""}
    # What AWS would answer for those permissions reads back as the same keys.
    assert sgs.current_permissions(sgs.ip_permissions(want)) == want


@pytest.mark.parametrize(("groups", "message"), [
    ({"a": {"name": "x"}}, "group a: needs a name and a description"),
    ({"a": {"name": "x", "description": "d", "rules": [{"proto": "tcp", "ports": [1]}]}}, "needs exactly one of"),
    ({"a": {"name": "x", "description": "d", "rules": [{"proto": "tcp", "cidr_ip": "0.0.0.0/0"}]}}, "needs ports"),
    ({"a": {"name": "x", "description": "d", "rules": [{"proto": "gre", "cidr_ip": "1.2.3.4/32"}]}}, "proto must"),
    ({"a": {"name": "x", "description": "d", "egress": []}}, "unknown option(s) egress"),
    ({"a": {"name": "x", "description": "d"}, "b": {"name": "x", "description": "d"}}, "group names given twice: x"),
])
def test_bad_input_is_refused_before_any_call(groups, message):
    with pytest.raises(ModuleFailed) as failed:
        sgs.run(FakeModule(params(sgs.ARGUMENT_SPEC, vpc_id="vpc-1", groups=groups)), client=None)
    assert message in failed.value.result["msg"]


@pytest.fixture
def ec2(moto_server):
    return RetryingBotoClientWrapper(moto_server.client("ec2"), AWSRetry.jittered_backoff(retries=1))


def ensure(ec2, vpc: str, groups: dict, check_mode: bool = False) -> dict:
    module = FakeModule(params(sgs.ARGUMENT_SPEC, vpc_id=vpc, groups=groups), check_mode=check_mode)
    module._diff = True
    return sgs.run(module, ec2)


def the_set(tag: str) -> dict:
    """Three groups whose rules name each other, the first naming the last (created in the same run), and an
    egress to the S3 prefix list by name."""
    return {
        "db": {"name": f"db-{tag}", "description": "database", "tags": {"Name": f"db-{tag}", "Env": "t"},
               "rules": [{"proto": "tcp", "ports": ["5432"], "group_name": f"etl-{tag}", "rule_desc": "from etl"},
                         {"proto": "tcp", "ports": [22], "cidr_ip": ["10.9.0.0/24", "10.9.1.0/24"],
                          "rule_desc": "ssh"}]},
        "web": {"name": f"web-{tag}", "description": "web", "tags": {"Name": f"web-{tag}"}, "rules": []},
        "etl": {"name": f"etl-{tag}", "description": "etl", "tags": {"Name": f"etl-{tag}"}, "rules": [],
                "rules_egress": [{"proto": "tcp", "ports": [443], "prefix_list_name": "com.amazonaws.us-east-1.s3"},
                                 {"proto": "tcp", "ports": [5432], "group_name": f"db-{tag}", "rule_desc": "to db"}]},
    }


def read(ec2, vpc: str, name: str) -> dict:
    return ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                 {"Name": "group-name", "Values": [name]}])["SecurityGroups"][0]


def test_check_mode_then_create_then_nothing_then_drift_corrected(moto_server, ec2):
    tag = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    wanted = the_set(tag)

    planned = ensure(ec2, vpc, wanted, check_mode=True)
    assert planned["changed"] is True and planned["groups"] == {"db": True, "web": True, "etl": True}
    assert planned["group_ids"]["db"] == f"sg-new-db-{tag}"
    names = {g["GroupName"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]}
    assert names == {"default"}, "check mode created a group"

    made = ensure(ec2, vpc, wanted)
    assert made["changed"] is True
    ids = made["group_ids"]
    db, etl, web = read(ec2, vpc, f"db-{tag}"), read(ec2, vpc, f"etl-{tag}"), read(ec2, vpc, f"web-{tag}")
    assert db["GroupId"] == ids["db"] and etl["GroupId"] == ids["etl"]
    assert sgs.current_permissions(db["IpPermissions"]) == {
        ("tcp", 5432, 5432, "UserIdGroupPairs", ids["etl"]): "from etl",
        ("tcp", 22, 22, "IpRanges", "10.9.0.0/24"): "ssh", ("tcp", 22, 22, "IpRanges", "10.9.1.0/24"): "ssh"}
    s3 = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name",
                                             "Values": ["com.amazonaws.us-east-1.s3"]}])["PrefixLists"][0]
    assert set(sgs.current_permissions(etl["IpPermissionsEgress"])) == {
        ("tcp", 443, 443, "PrefixListIds", s3["PrefixListId"]), ("tcp", 5432, 5432, "UserIdGroupPairs", ids["db"])}
    # No rules_egress: AWS's default allow-all egress stays.
    assert set(sgs.current_permissions(web["IpPermissionsEgress"])) == {("-1", None, None, "IpRanges", "0.0.0.0/0")}
    assert {t["Key"]: t["Value"] for t in db["Tags"]} == {"Name": f"db-{tag}", "Env": "t"}

    again = ensure(ec2, vpc, wanted)
    assert again["changed"] is False and again["actions"] == [] and again["group_ids"] == ids
    assert ensure(ec2, vpc, wanted, check_mode=True)["changed"] is False

    # Drift behind the module's back: an extra ingress rule, a rule's description, a tag, web's default egress.
    ec2.authorize_security_group_ingress(GroupId=ids["db"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.update_security_group_rule_descriptions_ingress(GroupId=ids["db"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.9.0.0/24",
                                                                          "Description": "changed"}]}])
    ec2.create_tags(Resources=[ids["db"]], Tags=[{"Key": "Env", "Value": "other"}, {"Key": "Extra", "Value": "x"}])
    ec2.revoke_security_group_egress(GroupId=ids["web"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    seen = ensure(ec2, vpc, wanted, check_mode=True)
    assert seen["groups"] == {"db": True, "web": True, "etl": False}
    assert "0.0.0.0/0" in " ".join(seen["diff"]["before"]["db"]["ingress"])
    assert read(ec2, vpc, f"db-{tag}")["IpPermissions"] != db["IpPermissions"], "check mode corrected the drift"

    fixed = ensure(ec2, vpc, wanted)
    assert fixed["groups"] == {"db": True, "web": True, "etl": False}
    db_now, web_now = read(ec2, vpc, f"db-{tag}"), read(ec2, vpc, f"web-{tag}")
    assert sgs.current_permissions(db_now["IpPermissions"]) == sgs.current_permissions(db["IpPermissions"])
    assert {t["Key"]: t["Value"] for t in db_now["Tags"]} == {"Name": f"db-{tag}", "Env": "t"}
    assert set(sgs.current_permissions(web_now["IpPermissionsEgress"])) == {
        ("-1", None, None, "IpRanges", "0.0.0.0/0")}
    assert ensure(ec2, vpc, wanted)["changed"] is False


def test_a_rule_naming_an_unknown_group_fails_clearly(moto_server, ec2):
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ModuleFailed) as failed:
        ensure(ec2, vpc, {"a": {"name": f"a-{uuid.uuid4().hex[:6]}", "description": "a", "rules": [
            {"proto": "tcp", "ports": [1], "group_name": "nowhere"}]}}, check_mode=True)
    assert "names security group nowhere" in failed.value.result["msg"]


def test_ansible_doc_and_the_aws_action_group():
    import yaml

    from scripts.harness.ansible import REPO, ansible_doc

    doc = ansible_doc("ec2_security_groups")
    assert "region" in doc["doc"]["options"] and "endpoint_url" in doc["doc"]["options"]
    assert set(sgs.ARGUMENT_SPEC) <= set(doc["doc"]["options"])
    assert yaml.safe_load(doc["examples"])
    runtime = yaml.safe_load((REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml")
                             .read_text())
    assert "ec2_security_groups" in runtime["action_groups"]["aws"]
