"""The lake role (roles/lake, docs/lake.md) against a real moto server over HTTP: --check on an empty account, the
real run, everything the switch makes, a second run changes nothing; the teardown removes it all (or keeps its
data with teardown_keep_lake), under --check nothing, a second time nothing; and with the switch off nothing of
the lake exists (the same playbooks, the local inventory, clickstream_lake_enabled=false)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from scripts.harness.ansible import REPO, PlaybookRun, run_playbook
from scripts.harness.moto import MotoServer
from tests.foundation.aws_views import policy_document, statements, tags_of

pytestmark = pytest.mark.integration

TAGS = "network,storage,iam,lake"
PREFIX = "clickstream-local"
ACCOUNT = "123456789012"
REGION = "us-east-1"
LAKE_BUCKET = f"{PREFIX}-lake-{ACCOUNT}-{REGION}"
DATABASE = "clickstream_local_lake"
WORKGROUP = f"{PREFIX}-lake"
ETL_ROLE = f"{PREFIX}-lambda-etl"
ANALYST_ROLE = f"{PREFIX}-lake-analyst"
# The local inventory as it is: the TLS-only bucket policy off (moto applies a Deny without its condition, so it
# would refuse every plain-HTTP request, the tables' own writes included); the role's default is on (checked below).
ON = json.dumps({})
OFF = json.dumps({"clickstream_lake_enabled": False})


def _run(moto: MotoServer, *args: str, extra: str = ON) -> PlaybookRun:
    return run_playbook("site.yml", "--tags", TAGS, *args, "-e", extra, env=moto.env())


def _ok(run: PlaybookRun) -> None:
    at = run.output.find("fatal:")
    assert run.rc == 0 and run.failed == 0, run.output[max(at - 2500, 0):at + 2500] if at >= 0 else run.output[-5000:]


@pytest.fixture(scope="module")
def lake(moto_server: MotoServer) -> dict[str, PlaybookRun]:
    moto_server.reset()
    check = _run(moto_server, "--check")
    glue_after_check = moto_server.client("glue").get_databases()["DatabaseList"]
    apply = _run(moto_server)
    _ok(apply)
    again = _run(moto_server)
    return {"check": check, "apply": apply, "again": again, "glue_after_check": glue_after_check}


def test_check_on_an_empty_account_creates_nothing(lake):
    _ok(lake["check"])
    assert lake["glue_after_check"] == []
    assert any("Ensure the Glue database and the Iceberg tables" in t for t in lake["check"].changed_tasks())


def test_second_run_changes_nothing(lake):
    _ok(lake["again"])
    assert lake["again"].changed == 0, lake["again"].changed_tasks()


def test_bucket_private_encrypted_tls_only_with_lifecycle(moto_server):
    s3 = moto_server.client("s3")
    pab = s3.get_public_access_block(Bucket=LAKE_BUCKET)["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    rule = s3.get_bucket_encryption(Bucket=LAKE_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    defaults = yaml.safe_load((REPO / "roles/lake/defaults/main.yml").read_text())
    assert defaults["lake_deny_insecure_transport"] is True  # on AWS; off only in the local inventory
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=LAKE_BUCKET)["Rules"]}
    assert rules["athena-results-retention"]["Expiration"]["Days"] == 30
    assert rules["lake-housekeeping"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    assert s3.get_bucket_versioning(Bucket=LAKE_BUCKET)["Status"] == "Enabled"


def test_glue_database_and_iceberg_tables(moto_server):
    glue = moto_server.client("glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert set(tables) == {"events", "sessions"}
    for name, t in tables.items():
        assert t["Parameters"]["table_type"].upper() == "ICEBERG"
        assert t["Parameters"]["metadata_location"].startswith(f"s3://{LAKE_BUCKET}/iceberg/{name}/metadata/")


def test_athena_workgroup_enforced_encrypted_and_capped(moto_server):
    wg = moto_server.client("athena").get_work_group(WorkGroup=WORKGROUP)["WorkGroup"]
    c = wg["Configuration"]
    assert c["EnforceWorkGroupConfiguration"] is True
    assert c["ResultConfiguration"]["OutputLocation"] == f"s3://{LAKE_BUCKET}/athena-results/"
    assert c["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert c["BytesScannedCutoffPerQuery"] == 10 * 1024**3


def _inline(iam, role: str, name: str) -> list[dict[str, Any]]:
    return statements(policy_document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]))


def test_etl_may_write_only_the_lake_prefix_and_its_own_tables(moto_server):
    policy = {s["Sid"]: s for s in _inline(moto_server.client("iam"), ETL_ROLE, f"{PREFIX}-lake-export")}
    assert policy["LakeTableObjects"]["Resource"] == [f"arn:aws:s3:::{LAKE_BUCKET}/iceberg/*"]
    assert sorted(policy["LakeTableObjects"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    glue = policy["LakeOwnTables"]
    assert sorted(glue["Resource"]) == sorted([
        f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog", f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{DATABASE}",
        f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{DATABASE}/events",
        f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{DATABASE}/sessions"])
    assert not any(a.endswith("*") for s in policy.values() for a in s["Action"])


def test_analyst_role_may_query_through_the_workgroup(moto_server):
    iam = moto_server.client("iam")
    trust = iam.get_role(RoleName=ANALYST_ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert statements(policy_document(trust))[0]["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]}
    policy = {s["Sid"]: s for s in _inline(iam, ANALYST_ROLE, f"{PREFIX}-lake-query")}
    assert policy["LakeWorkgroup"]["Resource"] == [f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{WORKGROUP}"]
    assert "athena:StartQueryExecution" in policy["LakeWorkgroup"]["Action"]
    assert policy["LakeTableFilesRead"]["Action"] == ["s3:GetObject"]
    assert policy["LakeResults"]["Resource"] == [f"arn:aws:s3:::{LAKE_BUCKET}/athena-results/*"]


def test_glue_endpoint_in_the_etl_subnet_and_s3_gateway_admits_the_lake(moto_server):
    ec2 = moto_server.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [f"{PREFIX}-etl"]}])["Subnets"][0]
    endpoints = [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"] != "deleted"]
    (glue,) = [e for e in endpoints if e["ServiceName"] == f"com.amazonaws.{REGION}.glue"]
    assert glue["VpcEndpointType"] == "Interface" and glue["SubnetIds"] == [subnet["SubnetId"]]
    assert glue["PrivateDnsEnabled"] is True and tags_of(glue)["Name"] == f"{PREFIX}-vpce-glue"
    (s3,) = [e for e in endpoints if e["ServiceName"].endswith(".s3")]
    resources = statements(policy_document(s3["PolicyDocument"]))[0]["Resource"]
    assert f"arn:aws:s3:::{LAKE_BUCKET}/*" in resources


# --- teardown (playbooks/teardown.yml, docs/lake.md "Teardown"): after the tests above, before the switch-off ------
# On the provisioned lake (with data files in two versions each, Athena results and a view in its Glue database):
# --check deletes nothing of the lake; teardown_keep_lake=true keeps its bucket with every object and its Glue
# database and tables, while the workgroup, the analyst role and the ETL's role with its lake policy go; the
# default teardown removes the rest (the bucket with every version, the database with its tables and views; the
# Glue endpoint went with the VPC); a second teardown changes nothing.

TEARDOWN = "playbooks/teardown.yml"
DATA_KEYS = ["iceberg/events/data/day=2026-11-01/00000-0.parquet", "athena-results/q1.csv"]


@dataclass
class Teardown:
    check: PlaybookRun
    kept: PlaybookRun
    first: PlaybookRun
    second: PlaybookRun
    after_check: dict
    after_kept: dict


def _state(moto: MotoServer) -> dict:
    """What of the lake exists: bucket and its object versions, Glue tables, workgroups, roles, the Glue endpoint."""
    s3, glue, iam, ec2 = (moto.client(s) for s in ("s3", "glue", "iam", "ec2"))
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    versions = []
    if LAKE_BUCKET in buckets:
        listing = s3.list_object_versions(Bucket=LAKE_BUCKET)
        versions = sorted(v["Key"] for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []))
    databases = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    tables = sorted(t["Name"] for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]) \
        if DATABASE in databases else None
    return {
        "bucket": LAKE_BUCKET in buckets, "versions": versions, "tables": tables,
        "workgroups": {w["Name"] for w in moto.client("athena").list_work_groups()["WorkGroups"]},
        "roles": {r["RoleName"] for r in iam.list_roles()["Roles"]},
        "glue_endpoints": [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
                           if e["ServiceName"].endswith(".glue") and e["State"] not in ("deleted", "deleting")],
    }


def _data_versions(state: dict) -> list[str]:
    """The object versions of the data the fixture wrote (the tables' metadata files are there too)."""
    return [k for k in state["versions"] if k in DATA_KEYS]


def _teardown(moto: MotoServer, *args: str) -> PlaybookRun:
    return run_playbook(TEARDOWN, "-e", "teardown_confirm=yes", *args, env=moto.env())


@pytest.fixture(scope="module")
def teardown(moto_server: MotoServer, lake) -> Teardown:
    """On the module's provisioned lake (after the tests above have read it): four teardowns."""
    _ok(lake["again"])
    s3 = moto_server.client("s3")
    for key in DATA_KEYS:  # two versions of each: the teardown must delete old versions too
        s3.put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"v1")
        s3.put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"v2")
    # A view as Athena's CREATE VIEW leaves it in the catalog (moto's Athena runs no query, so made directly).
    moto_server.client("glue").create_table(DatabaseName=DATABASE, TableInput={
        "Name": "lake_daily_funnel", "TableType": "VIRTUAL_VIEW", "ViewOriginalText": "/* Presto View */"})
    check = _teardown(moto_server, "--check")
    after_check = _state(moto_server)
    kept = _teardown(moto_server, "-e", "teardown_keep_lake=true")
    after_kept = _state(moto_server)
    first = _teardown(moto_server)
    second = _teardown(moto_server)
    return Teardown(check, kept, first, second, after_check, after_kept)


@pytest.mark.timeout(2400)  # the fixture's four teardowns
def test_check_mode_deletes_nothing_of_the_lake(teardown):
    _ok(teardown.check)
    state = teardown.after_check
    assert state["bucket"] and _data_versions(state) == sorted(DATA_KEYS * 2)
    assert any(k.startswith("iceberg/events/metadata/") for k in state["versions"])  # the tables' own files
    assert state["tables"] == ["events", "lake_daily_funnel", "sessions"]
    assert WORKGROUP in state["workgroups"] and {ANALYST_ROLE, ETL_ROLE} <= state["roles"]
    assert len(state["glue_endpoints"]) == 1
    changed = teardown.check.changed_tasks()
    assert any("Delete the lake's Athena workgroups" in t for t in changed), changed
    assert any("Delete the lake's Glue database" in t for t in changed), changed


def test_keep_lake_keeps_the_data_and_its_catalog_and_removes_the_access_paths(teardown):
    _ok(teardown.kept)
    state = teardown.after_kept
    assert state["bucket"] and _data_versions(state) == sorted(DATA_KEYS * 2)
    assert any(k.startswith("iceberg/events/metadata/") for k in state["versions"])  # the tables' own files
    assert state["tables"] == ["events", "lake_daily_funnel", "sessions"]
    assert WORKGROUP not in state["workgroups"]
    assert ANALYST_ROLE not in state["roles"] and ETL_ROLE not in state["roles"]
    assert state["glue_endpoints"] == []


def test_teardown_removes_the_lake_bucket_catalog_workgroup_roles_and_endpoint(teardown, moto_server):
    _ok(teardown.first)
    state = _state(moto_server)
    assert not state["bucket"] and state["tables"] is None
    assert DATABASE not in {d["Name"] for d in moto_server.client("glue").get_databases()["DatabaseList"]}
    assert WORKGROUP not in state["workgroups"]
    assert not {ANALYST_ROLE, ETL_ROLE} & state["roles"]
    assert state["glue_endpoints"] == []
    # The ETL's lake policy went with its role; nothing else of the environment names the lake.
    policies = [p["PolicyName"] for p in moto_server.client("iam").list_policies(Scope="Local")["Policies"]]
    assert not [p for p in policies if p.startswith(f"{PREFIX}-lake")], policies


def test_a_second_teardown_changes_nothing(teardown):
    _ok(teardown.second)
    assert teardown.second.changed == 0, teardown.second.changed_tasks()


def test_switch_off_makes_nothing_of_the_lake(moto_server, lake):
    """Last: resets the emulator. The same playbooks with the switch off, on an empty account."""
    moto_server.reset()
    _ok(_run(moto_server, extra=OFF))
    s3, ec2 = moto_server.client("s3"), moto_server.client("ec2")
    assert LAKE_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert moto_server.client("glue").get_databases()["DatabaseList"] == []
    assert WORKGROUP not in {w["Name"] for w in moto_server.client("athena").list_work_groups()["WorkGroups"]}
    iam = moto_server.client("iam")
    assert ANALYST_ROLE not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert iam.list_role_policies(RoleName=ETL_ROLE)["PolicyNames"] == ["least-privilege"]  # the iam role's only
    services = {e["ServiceName"].rsplit(".", 1)[1] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]}
    assert services == {"s3", "ssm", "ssmmessages", "ec2messages"}
    (s3e,) = [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["ServiceName"].endswith(".s3")]
    assert not any(LAKE_BUCKET in r for r in statements(policy_document(s3e["PolicyDocument"]))[0]["Resource"])
