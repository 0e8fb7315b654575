"""playbooks/teardown.yml removes what the lake switch made (docs/lake.md, "Teardown"), against a real moto server.

On one provisioned environment (network, storage, iam and lake, with the local inventory; the lake holds data
files in several versions, Athena results and a view in its Glue database):
- the teardown under --check deletes nothing of the lake;
- with teardown_keep_lake=true the lake's data stays (its bucket with every object, its Glue database and tables)
  while its workgroup, the analyst role and the ETL's role with its lake policy go;
- the default teardown removes the rest: the bucket with every object version, the Glue database with its tables
  and views, and the Glue interface endpoint went with the VPC;
- a second teardown changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.moto import MotoServer
from tests.lake.test_lake_role import (
    ANALYST_ROLE,
    DATABASE,
    ETL_ROLE,
    LAKE_BUCKET,
    PREFIX,
    TAGS,
    WORKGROUP,
    _ok,
)

pytestmark = pytest.mark.integration

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


def _teardown(moto: MotoServer, *args: str) -> PlaybookRun:
    return run_playbook(TEARDOWN, "-e", "teardown_confirm=yes", *args, env=moto.env())


@pytest.fixture(scope="module")
def teardown(moto_server: MotoServer) -> Teardown:
    moto_server.reset()
    _ok(run_playbook("site.yml", "--tags", TAGS, env=moto_server.env()))
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


def test_check_mode_deletes_nothing_of_the_lake(teardown):
    _ok(teardown.check)
    state = teardown.after_check
    assert state["bucket"] and len(state["versions"]) == 2 * len(DATA_KEYS)
    assert state["tables"] == ["events", "lake_daily_funnel", "sessions"]
    assert WORKGROUP in state["workgroups"] and {ANALYST_ROLE, ETL_ROLE} <= state["roles"]
    assert len(state["glue_endpoints"]) == 1
    changed = teardown.check.changed_tasks()
    assert any("Delete the lake's Athena workgroups" in t for t in changed), changed
    assert any("Delete the lake's Glue database" in t for t in changed), changed


def test_keep_lake_keeps_the_data_and_its_catalog_and_removes_the_access_paths(teardown):
    _ok(teardown.kept)
    state = teardown.after_kept
    assert state["bucket"] and len(state["versions"]) == 2 * len(DATA_KEYS)
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
