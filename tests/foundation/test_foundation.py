"""Issue 2: network, storage and IAM roles and the teardown, against a real moto server over HTTP.

One applied state is shared by the module (building it is the slow part): a --check run on an empty account,
then the real run, then every assertion on the emulator; the teardown tests come last and take it down.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.moto import MotoServer
from tests.foundation.aws_views import (
    ALL_OUT,
    grants,
    policy_document,
    sg_rules,
    statements,
    tags_of,
    tcp,
    wildcard_statements,
)

pytestmark = pytest.mark.integration

PLAYBOOK = "site.yml"
TAGS = "network,storage,iam"
PREFIX = "clickstream-local"
ACCOUNT = "123456789012"
REGION = "us-east-1"
SSM_PREFIX = "/clickstream/local"
BUCKETS = {k: f"{PREFIX}-{k}-{ACCOUNT}-{REGION}" for k in ("raw", "assets", "artifacts", "logs", "backups")}
ROLES = {k: f"{PREFIX}-{k}" for k in ("lambda-ingest", "lambda-etl", "ec2-oltp", "ec2-dw", "amplify")}
SECRETS_KEY_ALIAS = f"alias/{PREFIX}-secrets"
PROJECT_TAGS = {"Project": "clickstream", "Environment": "local"}
# Who may reach the public OLTP instance and Shiny in this test (documentation ranges, RFC 5737).
TRUSTED = ["198.51.100.0/24", "203.0.113.7/32"]
ADMIN = ["192.0.2.0/28"]
# The local inventory turns the TLS-only bucket policy off (moto ignores policy conditions, so it would deny every
# plain-HTTP request); the role's default, as on AWS, is on: check that.
EXTRA_VARS = json.dumps({"network_oltp_trusted_cidrs": TRUSTED, "network_admin_cidrs": ADMIN,
                         "storage_deny_insecure_transport": True})


@dataclass
class Foundation:
    moto: MotoServer
    check_on_empty: PlaybookRun
    vpcs_after_check: int
    apply: PlaybookRun

    def run(self, *args: str, playbook: str = PLAYBOOK) -> PlaybookRun:
        return run_playbook(playbook, *args, "-e", EXTRA_VARS, env=self.moto.env())

    def ec2(self) -> Any:
        return self.moto.client("ec2")


def _project_filters() -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in PROJECT_TAGS.items()]


def _assert_ok(run: PlaybookRun) -> None:
    assert run.rc == 0 and run.failed == 0, run.output[-6000:]


@pytest.fixture(scope="module")
def foundation(moto_server: MotoServer) -> Foundation:
    moto_server.reset()
    env = moto_server.env()
    check = run_playbook(PLAYBOOK, "--tags", TAGS, "--check", "-e", EXTRA_VARS, env=env)
    vpcs_after_check = len(moto_server.client("ec2").describe_vpcs(Filters=_project_filters())["Vpcs"])
    apply = run_playbook(PLAYBOOK, "--tags", TAGS, "-e", EXTRA_VARS, env=env)
    _assert_ok(apply)
    return Foundation(moto_server, check, vpcs_after_check, apply)


@pytest.fixture(scope="module")
def vpc(foundation: Foundation) -> dict[str, Any]:
    vpcs = foundation.ec2().describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-vpc"]}])["Vpcs"]
    assert len(vpcs) == 1, vpcs
    return vpcs[0]


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {tags_of(i).get("Name", ""): i for i in items}


@pytest.fixture(scope="module")
def subnets(foundation: Foundation, vpc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = foundation.ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    return _by_name(found)


@pytest.fixture(scope="module")
def security_groups(foundation: Foundation, vpc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = foundation.ec2().describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    return {g["GroupName"]: g for g in found}


# --- dry run on an empty account ------------------------------------------------------------------------------

def test_check_on_an_empty_account_completes_and_reads_as_a_plan(foundation: Foundation) -> None:
    run = foundation.check_on_empty
    _assert_ok(run)
    assert run.changed > 0
    for line in (
        f"would create: VPC {PREFIX}-vpc 10.0.0.0/16",
        f"would create: subnet {PREFIX}-public 10.0.1.0/24",
        f"would create: subnet {PREFIX}-analytics 10.0.2.0/24",
        f"would create: subnet {PREFIX}-etl 10.0.3.0/24",
        f"would create: security group {PREFIX}-sg-dw",
        "would create: interface endpoint ssmmessages",
        *(f"would create: S3 bucket {b}" for b in BUCKETS.values()),
    ):
        assert line in run.output, line
    # The five roles are one iam_roles run (its own tests name what it would create in check mode).
    assert "iam : Ensure the Lambda Ingest, Lambda ETL, EC2 (SSM) and Amplify roles" in run.changed_tasks()
    assert foundation.vpcs_after_check == 0, "--check created a VPC"


# --- the real run ---------------------------------------------------------------------------------------------

def test_apply_creates_everything(foundation: Foundation) -> None:
    assert foundation.apply.changed > 0


def test_vpc(vpc: dict[str, Any], foundation: Foundation) -> None:
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags_of(vpc) == {**PROJECT_TAGS, "ManagedBy": "ansible", "Name": f"{PREFIX}-vpc"}
    ec2 = foundation.ec2()
    for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)[key]["Value"] is True


def test_subnets(subnets: dict[str, dict[str, Any]]) -> None:
    expected = {f"{PREFIX}-public": ("10.0.1.0/24", True), f"{PREFIX}-analytics": ("10.0.2.0/24", False),
                f"{PREFIX}-etl": ("10.0.3.0/24", False)}
    assert {n: (s["CidrBlock"], s["MapPublicIpOnLaunch"]) for n, s in subnets.items()} == expected
    for s in subnets.values():
        assert PROJECT_TAGS.items() <= tags_of(s).items()


def test_internet_gateway_attached(foundation: Foundation, vpc: dict[str, Any]) -> None:
    igws = foundation.ec2().describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    assert len(igws) == 1
    assert tags_of(igws[0])["Name"] == f"{PREFIX}-igw"


def _route_tables(foundation: Foundation, vpc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rts = foundation.ec2().describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    by_subnet = {}
    for rt in rts:
        for assoc in rt.get("Associations", []):
            if assoc.get("SubnetId"):
                by_subnet[assoc["SubnetId"]] = rt
    return by_subnet


def test_route_tables(foundation: Foundation, vpc: dict[str, Any], subnets: dict[str, dict[str, Any]]) -> None:
    by_subnet = _route_tables(foundation, vpc)
    igw_id = foundation.ec2().describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"][0]["InternetGatewayId"]
    public = by_subnet[subnets[f"{PREFIX}-public"]["SubnetId"]]
    assert tags_of(public)["Name"] == f"{PREFIX}-rt-public"
    assert {(r.get("DestinationCidrBlock"), r["GatewayId"]) for r in public["Routes"]} == {
        ("10.0.0.0/16", "local"), ("0.0.0.0/0", igw_id)}
    for part in ("analytics", "etl"):
        rt = by_subnet[subnets[f"{PREFIX}-{part}"]["SubnetId"]]
        assert tags_of(rt)["Name"] == f"{PREFIX}-rt-{part}"
        cidr_routes = {r["DestinationCidrBlock"]: r for r in rt["Routes"] if "DestinationCidrBlock" in r}
        assert set(cidr_routes) == {"10.0.0.0/16"}, f"{part}: {rt['Routes']}"
        assert cidr_routes["10.0.0.0/16"]["GatewayId"] == "local"
        assert not [r for r in rt["Routes"] if r.get("GatewayId", "").startswith("igw-") or r.get("NatGatewayId")]
        # The only other route: the S3 prefix list through the gateway endpoint.
        others = [r for r in rt["Routes"] if "DestinationCidrBlock" not in r]
        assert len(others) == 1 and others[0]["GatewayId"].startswith("vpce-"), others
    # Three distinct tables, none of them the VPC's main table.
    tables = [by_subnet[s["SubnetId"]] for s in subnets.values()]
    assert len({t["RouteTableId"] for t in tables}) == 3


def test_no_nat_gateway(foundation: Foundation, vpc: dict[str, Any]) -> None:
    nats = foundation.ec2().describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    assert nats["NatGateways"] == []


def test_vpc_endpoints(foundation: Foundation, vpc: dict[str, Any], subnets: dict[str, dict[str, Any]],
                       security_groups: dict[str, dict[str, Any]]) -> None:
    endpoints = foundation.ec2().describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["VpcEndpoints"]
    by_service = {e["ServiceName"].rsplit(".", 1)[1]: e for e in endpoints if e["State"] != "deleted"}
    assert set(by_service) == {"s3", "ssm", "ssmmessages", "ec2messages"}
    s3 = by_service["s3"]
    assert s3["VpcEndpointType"] == "Gateway"
    rt_by_subnet = _route_tables(foundation, vpc)
    private_rts = {rt_by_subnet[subnets[f"{PREFIX}-{p}"]["SubnetId"]]["RouteTableId"] for p in ("analytics", "etl")}
    assert set(s3["RouteTableIds"]) == private_rts
    # its policy: the platform's buckets used from the VPC, and only reads of the AWS buckets the SSM agent needs
    policy = statements(policy_document(s3["PolicyDocument"]))
    assert [s["Sid"] for s in policy] == ["PlatformBuckets", "SsmAgentBuckets"]
    # (the local inventory has the lake on: its bucket too, docs/lake.md)
    used = [BUCKETS["raw"], BUCKETS["artifacts"], f"{PREFIX}-lake-{ACCOUNT}-{REGION}"]
    assert sorted(policy[0]["Resource"]) == sorted([f"arn:aws:s3:::{b}" for b in used]
                                                   + [f"arn:aws:s3:::{b}/*" for b in used])
    assert policy[1]["Action"] == ["s3:GetObject"]
    assert f"arn:aws:s3:::amazon-ssm-{REGION}/*" in policy[1]["Resource"]
    assert not any("*" in r.split(":::")[1].split("/")[0] for s in policy for r in s["Resource"]), policy
    endpoint_sg = security_groups[f"{PREFIX}-sg-endpoints"]["GroupId"]
    for service in ("ssm", "ssmmessages", "ec2messages"):
        e = by_service[service]
        assert e["VpcEndpointType"] == "Interface"
        assert e["SubnetIds"] == [subnets[f"{PREFIX}-analytics"]["SubnetId"]]
        assert [g["GroupId"] for g in e["Groups"]] == [endpoint_sg]
        assert e["PrivateDnsEnabled"] is True
        assert tags_of(e)["Name"] == f"{PREFIX}-vpce-{service}"


def test_security_groups_have_exactly_the_architecture_rules(
        security_groups: dict[str, dict[str, Any]], foundation: Foundation, vpc: dict[str, Any]) -> None:
    names = {k: f"{PREFIX}-sg-{k}" for k in ("oltp", "dw", "shiny", "etl-lambda", "endpoints")}
    assert set(names.values()) <= set(security_groups)
    sg = {k: security_groups[n] for k, n in names.items()}
    gid = {k: g["GroupId"] for k, g in sg.items()}
    s3_prefix_list = next(
        p["PrefixListId"] for p in foundation.ec2().describe_prefix_lists()["PrefixLists"]
        if p["PrefixListName"] == f"com.amazonaws.{REGION}.s3")
    expected_ingress = {
        "oltp": {tcp(5432, "cidr", c) for c in TRUSTED} | {tcp(22, "cidr", c) for c in ADMIN},
        "dw": {tcp(5432, "group", gid["etl-lambda"]), tcp(5432, "group", gid["shiny"])},
        "shiny": {tcp(3838, "cidr", c) for c in ADMIN},
        "etl-lambda": set(),
        "endpoints": {tcp(443, "cidr", "10.0.0.0/16")},
    }
    expected_egress = {
        "oltp": ALL_OUT, "dw": ALL_OUT, "shiny": ALL_OUT, "endpoints": ALL_OUT,
        "etl-lambda": {tcp(443, "prefix-list", s3_prefix_list), tcp(443, "group", gid["endpoints"]),
                       tcp(5432, "group", gid["dw"])},
    }
    for key, group in sg.items():
        assert sg_rules(group["IpPermissions"]) == expected_ingress[key], key
        assert sg_rules(group["IpPermissionsEgress"]) == expected_egress[key], key
        assert tags_of(group) == {**PROJECT_TAGS, "ManagedBy": "ansible", "Name": names[key]}


def _bucket(s3: Any, name: str, call: str) -> dict[str, Any]:
    answer = getattr(s3, call)(Bucket=name)
    answer.pop("ResponseMetadata", None)
    return answer


@pytest.mark.parametrize("kind", sorted(BUCKETS))
def test_bucket_is_private_encrypted_and_tls_only(foundation: Foundation, kind: str) -> None:
    s3, name = foundation.moto.client("s3"), BUCKETS[kind]
    block = _bucket(s3, name, "get_public_access_block")["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}
    rules = _bucket(s3, name, "get_bucket_encryption")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    ownership = _bucket(s3, name, "get_bucket_ownership_controls")["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = policy_document(_bucket(s3, name, "get_bucket_policy")["Policy"])
    assert statements(policy)[-1] == {
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": ["s3:*"],
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    # only the logs bucket lets anyone else in: the logging service, for this account's raw bucket, one prefix
    assert statements(policy)[:-1] == ([] if kind != "logs" else [{
        "Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": ["s3:PutObject"], "Resource": [f"arn:aws:s3:::{name}/s3-access/raw/*"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{BUCKETS['raw']}"}},
    }])
    assert tags_of(_bucket(s3, name, "get_bucket_tagging")) == {**PROJECT_TAGS, "ManagedBy": "ansible", "Name": name}
    versioning = _bucket(s3, name, "get_bucket_versioning").get("Status")
    # raw: the data; artifacts: the signed package mirror and the Lambda zips; backups: WAL and base backups
    assert versioning == ("Enabled" if kind in ("raw", "artifacts", "backups") else None)


def test_raw_bucket_access_logs_go_to_the_logs_bucket(foundation: Foundation) -> None:
    s3 = foundation.moto.client("s3")
    logging = _bucket(s3, BUCKETS["raw"], "get_bucket_logging")["LoggingEnabled"]
    assert (logging["TargetBucket"], logging["TargetPrefix"]) == (BUCKETS["logs"], "s3-access/raw/")
    (logs_rule,) = _bucket(s3, BUCKETS["logs"], "get_bucket_lifecycle_configuration")["Rules"]
    assert logs_rule["Expiration"] == {"Days": 365}
    (old_versions,) = _bucket(s3, BUCKETS["artifacts"], "get_bucket_lifecycle_configuration")["Rules"]
    assert old_versions["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30


def test_raw_bucket_lifecycle(foundation: Foundation) -> None:
    rules = _bucket(foundation.moto.client("s3"), BUCKETS["raw"], "get_bucket_lifecycle_configuration")["Rules"]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    assert rule["Expiration"] == {"Days": 365}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_backups_bucket_lifecycle_only_cleans_up_behind_the_retention(foundation: Foundation) -> None:
    """What is kept is pg_backup's recovery window; the bucket only expires old versions and stale uploads."""
    rules = _bucket(foundation.moto.client("s3"), BUCKETS["backups"], "get_bucket_lifecycle_configuration")["Rules"]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["Status"] == "Enabled"
    assert "Expiration" not in rule and not rule.get("Transitions")
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


# Statements that must allow "*": actions without resource-level permissions in AWS (roles/iam/vars/main.yml).
UNSCOPABLE = {
    "VpcDescribe": {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"},
    "SessionManagerAgent": {"ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
                            "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                            "ssmmessages:OpenDataChannel"},
}


def _role(foundation: Foundation, key: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    iam, name = foundation.moto.client("iam"), ROLES[key]
    role = iam.get_role(RoleName=name)["Role"]
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    assert inline == ["least-privilege"], inline
    doc = policy_document(iam.get_role_policy(RoleName=name, PolicyName="least-privilege")["PolicyDocument"])
    managed = sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"])
    wide = wildcard_statements(doc)
    assert all(set(s["Action"]) == UNSCOPABLE.get(s.get("Sid")) for s in wide), wide
    assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}.items() >= PROJECT_TAGS.items()
    return role, doc, managed


def _trusted_service(role: dict[str, Any]) -> list[str]:
    return [s["Principal"]["Service"] for s in statements(policy_document(role["AssumeRolePolicyDocument"]))]


def _trust_conditions(role: dict[str, Any]) -> list[Any]:
    return [s.get("Condition") for s in statements(policy_document(role["AssumeRolePolicyDocument"]))]


def _secrets_key_arn(foundation: Foundation) -> str:
    return foundation.moto.client("kms").describe_key(KeyId=SECRETS_KEY_ALIAS)["KeyMetadata"]["Arn"]


def test_lambda_ingest_role_writes_only_raw_events(foundation: Foundation) -> None:
    role, doc, managed = _role(foundation, "lambda-ingest")
    assert _trusted_service(role) == ["lambda.amazonaws.com"]
    assert _trust_conditions(role) == [{"StringEquals": {"aws:SourceAccount": ACCOUNT}}]
    assert managed == []
    raw = f"arn:aws:s3:::{BUCKETS['raw']}"
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PREFIX}-ingest"
    assert grants(doc) == {
        "s3:PutObject": {f"{raw}/events/*", f"{raw}/rejected/*"},
        "s3:DeleteObject": {f"{raw}/events/*", f"{raw}/rejected/*"},
        "logs:CreateLogGroup": {group, f"{group}:*"},
        "logs:CreateLogStream": {group, f"{group}:*"},
        "logs:PutLogEvents": {group, f"{group}:*"},
    }


def test_lambda_etl_role_reads_raw_events_and_only_its_own_secret(foundation: Foundation) -> None:
    role, doc, managed = _role(foundation, "lambda-etl")
    assert _trusted_service(role) == ["lambda.amazonaws.com"]
    assert _trust_conditions(role) == [{"StringEquals": {"aws:SourceAccount": ACCOUNT}}]
    assert managed == []  # no AWSLambdaVPCAccessExecutionRole: its logs and ENI actions on "*" are inline, scoped
    raw = f"arn:aws:s3:::{BUCKETS['raw']}"
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{PREFIX}-etl"
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    eni = {f"{ec2}:network-interface/*", f"{ec2}:subnet/*", f"{ec2}:security-group/*"}
    password = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{SSM_PREFIX}/db/dw/etl_writer/password"
    assert grants(doc) == {
        "s3:ListBucket": {raw},
        "s3:GetObject": {f"{raw}/events/*", f"{raw}/rejected/*"},  # events to load, ingest rejects to count
        "ssm:GetParameter": {password},
        "kms:Decrypt": {_secrets_key_arn(foundation)},
        "ec2:CreateNetworkInterface": eni, "ec2:DeleteNetworkInterface": eni,
        "ec2:AssignPrivateIpAddresses": eni, "ec2:UnassignPrivateIpAddresses": eni,
        "ec2:DescribeNetworkInterfaces": {"*"}, "ec2:DescribeSubnets": {"*"},
        "logs:CreateLogGroup": {group, f"{group}:*"},
        "logs:CreateLogStream": {group, f"{group}:*"},
        "logs:PutLogEvents": {group, f"{group}:*"},
        "cloudwatch:PutMetricData": {"*"},
    }
    kms = next(s for s in statements(doc) if "kms:Decrypt" in s["Action"])
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com",
                                                 "kms:EncryptionContext:PARAMETER_ARN": password}}
    metrics = next(s for s in statements(doc) if "cloudwatch:PutMetricData" in s["Action"])
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Clickstream/ETL"}}


@pytest.mark.parametrize("host", ["oltp", "dw"])
def test_each_instance_role_reads_its_own_parameters_only_and_has_its_own_profile(
        foundation: Foundation, host: str) -> None:
    role, doc, managed = _role(foundation, f"ec2-{host}")
    assert _trusted_service(role) == ["ec2.amazonaws.com"]
    assert managed == []  # not AmazonSSMManagedInstanceCore: its ssm:GetParameter* on "*" reads every secret
    artifacts = f"arn:aws:s3:::{BUCKETS['artifacts']}"
    own = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{SSM_PREFIX}/db/{host}/*"
    assert grants(doc) == {
        "s3:ListBucket": {artifacts}, "s3:GetObject": {f"{artifacts}/*"},
        "ssm:GetParameter": {own}, "ssm:GetParameters": {own},
        "kms:Decrypt": {_secrets_key_arn(foundation)},
        **{action: {"*"} for action in UNSCOPABLE["SessionManagerAgent"]},
    }
    kms = next(s for s in statements(doc) if "kms:Decrypt" in s["Action"])
    assert kms["Condition"]["StringLike"] == {"kms:EncryptionContext:PARAMETER_ARN": own}
    profile = foundation.moto.client("iam").get_instance_profile(InstanceProfileName=ROLES[f"ec2-{host}"])
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == [ROLES[f"ec2-{host}"]]


def test_amplify_service_role_trusts_only_this_accounts_apps_and_reads_only_amplify_secrets(
        foundation: Foundation) -> None:
    role, doc, managed = _role(foundation, "amplify")
    assert _trusted_service(role) == ["amplify.amazonaws.com"]
    assert _trust_conditions(role) == [{"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                        "ArnLike": {"aws:SourceArn": f"arn:aws:amplify:{REGION}:{ACCOUNT}:apps/*"}}]
    assert managed == []
    path = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/amplify"
    assert grants(doc) == {a: {path, f"{path}/*"} for a in ("ssm:GetParametersByPath", "ssm:GetParameters",
                                                            "ssm:GetParameter")}


def test_the_secrets_key_rotates_and_its_policy_names_who_may_decrypt(foundation: Foundation) -> None:
    kms = foundation.moto.client("kms")
    key_id = kms.describe_key(KeyId=SECRETS_KEY_ALIAS)["KeyMetadata"]["KeyId"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    doc = policy_document(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    by_sid = {s["Sid"]: s for s in statements(doc)}
    assert not any("kms:Decrypt" in s["Action"] or s["Action"] == ["kms:*"] for sid, s in by_sid.items()
                   if sid != "DecryptThroughSsmOnlyForNamedPrincipals")
    decrypt = by_sid["DecryptThroughSsmOnlyForNamedPrincipals"]
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == f"ssm.{REGION}.amazonaws.com"
    # The ETL and the two instance roles, then the operator: the caller (moto's default user).
    assert decrypt["Condition"]["ArnLike"]["aws:PrincipalArn"] == [
        f"arn:aws:iam::{ACCOUNT}:role/{ROLES[k]}" for k in ("lambda-etl", "ec2-oltp", "ec2-dw")
    ] + [f"arn:aws:iam::{ACCOUNT}:user/moto"]


# --- idempotence and check mode after apply -------------------------------------------------------------------

@pytest.mark.parametrize("tag", ["network", "storage", "iam"])
def test_second_run_one_tag_at_a_time_runs_alone_and_changes_nothing(foundation: Foundation, tag: str) -> None:
    """The second run, tag by tag: each tag runs alone with the others in place, and no task reports a change."""
    run = foundation.run("--tags", tag)
    _assert_ok(run)
    assert run.changed == 0, run.changed_tasks()
    assert f"TASK [{tag} : " in run.output


def test_check_after_apply_changes_nothing(foundation: Foundation) -> None:
    run = foundation.run("--tags", TAGS, "--check")
    _assert_ok(run)
    assert run.changed == 0, run.changed_tasks()
    assert "would create" not in run.output


# The no-op re-run's cost, in module runs (each an interpreter and a boto3 session on the control node) and tasks
# executed, per play, counted by bench/provisioning's task_ledger callback: upper bounds, so that a change that
# adds a module run or a task chain to these plays shows here. Each play still reads the real state (one module run
# each that reads and puts drift back), so these cannot reach zero.
NO_OP_MODULE_RUNS = {
    "Preflight: project variables": 1,  # the caller identity (also tells whether the emulator answers)
    "Preflight: inputs of the foundation roles": 0,
    "Network:": 2,  # the whole VPC; the flow logs stack (read, written only when it differs)
    "Storage:": 1,  # every bucket with every setting
    "IAM:": 3,  # the roles; the secrets key; the inline policies that name it
}
NO_OP_TASKS = {"Preflight: inputs of the foundation roles": 2, "Network:": 5, "Storage:": 2, "IAM:": 6}


def test_the_no_op_re_run_stays_within_its_module_runs_and_tasks(foundation: Foundation, tmp_path) -> None:
    from scripts.harness.task_ledger import ledger_counts, ledger_env

    ledger = tmp_path / "ledger.jsonl"
    run = run_playbook(PLAYBOOK, "--tags", TAGS, "-e", EXTRA_VARS, env={**foundation.moto.env(), **ledger_env(ledger)})
    _assert_ok(run)
    assert run.changed == 0, run.changed_tasks()
    plays = ledger_counts(ledger)["plays"]

    def of(prefix: str) -> dict:
        [name] = [p for p in plays if p.startswith(prefix)]
        return plays[name]

    runs = {prefix: of(prefix)["modules"] for prefix in NO_OP_MODULE_RUNS}
    tasks = {prefix: of(prefix)["tasks"] for prefix in NO_OP_TASKS}
    assert {p: n for p, n in runs.items() if n > NO_OP_MODULE_RUNS[p]} == {}, runs
    assert {p: n for p, n in tasks.items() if n > NO_OP_TASKS[p]} == {}, tasks
    # The counts are real: every play ran a module (or, for the input checks, a task).
    assert all(runs[p] > 0 for p in ("Network:", "Storage:", "IAM:")) and tasks[
        "Preflight: inputs of the foundation roles"] > 0


# --- teardown (last: it takes the shared state down) ----------------------------------------------------------

def _lambda_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def _add_what_other_roles_create(moto: MotoServer, subnets: dict[str, dict[str, Any]]) -> None:
    """What the compute, ingest, etl and database roles add on top (docs/design.md names), made directly."""
    ssm, logs, lam = moto.client("ssm"), moto.client("logs"), moto.client("lambda")
    for user in ("dw/etl_writer", "dw/dw_owner", "oltp/shop_app"):
        ssm.put_parameter(Name=f"{SSM_PREFIX}/db/{user}/password", Value="not-a-real-secret", Type="SecureString")
    ssm.put_parameter(Name="/clickstream/dev/keep-me", Value="other environment", Type="String")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{ROLES['lambda-etl']}"
    for fn in ("ingest", "etl"):
        lam.create_function(FunctionName=f"{PREFIX}-{fn}", Runtime="python3.12", Role=role_arn,
                            Handler="handler.handler", Code={"ZipFile": _lambda_zip()}, Tags=PROJECT_TAGS)
        logs.create_log_group(logGroupName=f"/aws/lambda/{PREFIX}-{fn}", tags=PROJECT_TAGS)
    logs.create_log_group(logGroupName=f"/aws/apigateway/{PREFIX}-http-api")
    api = moto.client("apigatewayv2").create_api(Name=f"{PREFIX}-http-api", ProtocolType="HTTP", Tags=PROJECT_TAGS)
    assert api["ApiId"]
    events = moto.client("events")
    events.put_rule(Name=f"{PREFIX}-etl-schedule", ScheduleExpression="rate(30 minutes)",
                    Tags=[{"Key": k, "Value": v} for k, v in PROJECT_TAGS.items()])
    events.put_targets(Rule=f"{PREFIX}-etl-schedule", Targets=[
        {"Id": "etl", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-etl"}])
    ec2 = moto.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for name, subnet in (("oltp", "public"), ("dw", "analytics")):
        tags = {**PROJECT_TAGS, "Name": f"{PREFIX}-{name}", "Role": name}
        ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
            SubnetId=subnets[f"{PREFIX}-{subnet}"]["SubnetId"],
            IamInstanceProfile={"Name": ROLES[f"ec2-{name}"]},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    # Two versions of one raw object (the bucket is versioned). moto would deny these plain-HTTP writes under the
    # TLS-only policy (it ignores the condition), so the test drops the policy first.
    s3 = moto.client("s3")
    s3.delete_bucket_policy(Bucket=BUCKETS["raw"])
    s3.put_object(Bucket=BUCKETS["raw"], Key="events/2024/01/01/00/events-x.json", Body=b"{}")
    s3.put_object(Bucket=BUCKETS["raw"], Key="events/2024/01/01/00/events-x.json", Body=b"{}\n")


@dataclass
class Teardown:
    refused: PlaybookRun
    vpcs_after_refusal: int
    first: PlaybookRun
    second: PlaybookRun
    buckets_after_second: set[str]
    without_backups: PlaybookRun


@pytest.fixture(scope="module")
def teardown(foundation: Foundation, subnets: dict[str, dict[str, Any]]) -> Iterator[Teardown]:
    _add_what_other_roles_create(foundation.moto, subnets)
    refused = foundation.run("-e", "teardown_confirm=no", playbook="playbooks/teardown.yml")
    vpcs_after_refusal = len(foundation.ec2().describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-vpc"]}])["Vpcs"])
    # Emulator limit, not the teardown's: moto evaluates a bucket policy's Deny without its condition, so the
    # TLS-only statement (aws:SecureTransport = false) refuses every DeleteObject over the emulator's plain HTTP and
    # the logs bucket, which access logging has filled, could not be emptied. On AWS the teardown's calls are HTTPS
    # and the statement does not apply; here the policies go first (the tests above have checked them).
    s3 = foundation.moto.client("s3")
    for name in set(BUCKETS.values()) & {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.delete_bucket_policy(Bucket=name)
    first = foundation.run("-e", "teardown_confirm=yes", playbook="playbooks/teardown.yml")
    second = foundation.run("-e", "teardown_confirm=yes", playbook="playbooks/teardown.yml")
    buckets_after_second = {b["Name"] for b in foundation.moto.client("s3").list_buckets()["Buckets"]}
    without_backups = foundation.run("-e", "teardown_confirm=yes", "-e", "teardown_keep_backups=false",
                                     playbook="playbooks/teardown.yml")
    yield Teardown(refused, vpcs_after_refusal, first, second, buckets_after_second, without_backups)


def test_teardown_refuses_without_confirmation(teardown: Teardown) -> None:
    assert teardown.refused.rc != 0
    assert "Teardown not confirmed: nothing was deleted" in teardown.refused.output
    assert teardown.vpcs_after_refusal == 1


def test_teardown_removes_everything_tagged_or_named_for_the_environment(
        teardown: Teardown, foundation: Foundation) -> None:
    _assert_ok(teardown.first)
    assert teardown.first.changed > 0
    moto = foundation.moto
    ec2 = moto.client("ec2")
    tag_filters = _project_filters()
    assert ec2.describe_vpcs(Filters=tag_filters)["Vpcs"] == []
    assert ec2.describe_subnets(Filters=tag_filters)["Subnets"] == []
    assert ec2.describe_security_groups(Filters=tag_filters)["SecurityGroups"] == []
    assert ec2.describe_route_tables(Filters=tag_filters)["RouteTables"] == []
    assert ec2.describe_internet_gateways(Filters=tag_filters)["InternetGateways"] == []
    assert [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"] != "deleted"] == []
    live = [i for r in ec2.describe_instances(Filters=tag_filters)["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]
    assert live == []
    left = moto.client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": k, "Values": [v]} for k, v in PROJECT_TAGS.items()])["ResourceTagMappingList"]
    # KMS deletes a key only after its waiting period: the secrets key stays listed, pending deletion.
    kms_left = [r["ResourceARN"] for r in left if ":kms:" in r["ResourceARN"]]
    assert [moto.client("kms").describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] for arn in kms_left] == \
        ["PendingDeletion"]
    # The backups bucket outlives the teardown (teardown_keep_backups, default true) ...
    kept = f"arn:aws:s3:::{BUCKETS['backups']}"
    assert [r["ResourceARN"] for r in left
            if ":instance/" not in r["ResourceARN"] and ":kms:" not in r["ResourceARN"]
            and r["ResourceARN"] != kept] == []
    assert BUCKETS["backups"] in teardown.buckets_after_second
    assert teardown.buckets_after_second.isdisjoint(v for k, v in BUCKETS.items() if k != "backups")
    # ... and goes only when asked.
    _assert_ok(teardown.without_backups)
    bucket_names = {b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]}
    assert bucket_names.isdisjoint(BUCKETS.values())
    role_names = {r["RoleName"] for r in moto.client("iam").list_roles()["Roles"]}
    assert role_names.isdisjoint(ROLES.values())
    assert moto.client("iam").list_instance_profiles()["InstanceProfiles"] == []
    assert [f["FunctionName"] for f in moto.client("lambda").list_functions()["Functions"]
            if f["FunctionName"].startswith(PREFIX)] == []
    assert [g["logGroupName"] for g in moto.client("logs").describe_log_groups()["logGroups"]
            if PREFIX in g["logGroupName"]] == []
    assert [a["Name"] for a in moto.client("apigatewayv2").get_apis()["Items"]] == []
    assert moto.client("events").list_rules(NamePrefix=PREFIX)["Rules"] == []
    params = [p["Name"] for p in moto.client("ssm").describe_parameters()["Parameters"]]
    assert params == ["/clickstream/dev/keep-me"], "only the other environment's parameter may stay"


def test_second_teardown_changes_nothing(teardown: Teardown) -> None:
    _assert_ok(teardown.second)
    assert teardown.second.changed == 0, teardown.second.changed_tasks()
