"""`ansible-playbook site.yml --check` on a platform that does not exist yet: the whole run goes through without an
error, reads as a plan (what it would create), and changes nothing: no AWS resource in the emulator, no file under
the platform's directories or the CA's, no PostgreSQL cluster.

The platform is a copy of the `local` inventory with its own ports, directories and cluster names
(scripts/harness/local_platform.py) and the session's moto server emptied, as a user's first `--check` before
`make up` would meet them. Only the repository's build/ directory is written (the Lambda zips, built in check mode
too so that their digests can be compared with the deployed code).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness.local_platform import Platform, local_platform
from scripts.harness.moto import MotoServer

# A hang guard, not a time assertion: a whole site.yml run on a loaded 2-core machine can take many minutes.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

PREFIX = "clickstream-local"


def emulator_state(moto: MotoServer) -> dict[str, list[str]]:
    """What the platform's plays create, by service, as names (the account's defaults aside)."""
    ec2, iam = moto.client("ec2"), moto.client("iam")
    return {
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if not s.get("DefaultForAz")),
        "security_groups": sorted(g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
                                  if g["GroupName"] != "default"),
        "instances": sorted(i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                            for i in r["Instances"]),
        "buckets": sorted(b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "instance_profiles": sorted(p["InstanceProfileName"]
                                    for p in iam.list_instance_profiles()["InstanceProfiles"]),
        "functions": sorted(f["FunctionName"] for f in moto.client("lambda").list_functions()["Functions"]),
        "rules": sorted(r["Name"] for r in moto.client("events").list_rules()["Rules"]),
        "parameters": sorted(p["Name"] for p in moto.client("ssm").describe_parameters()["Parameters"]),
        "log_groups": sorted(g["logGroupName"] for g in moto.client("logs").describe_log_groups()["logGroups"]),
        "apis": sorted(a["Name"] for a in moto.client("apigatewayv2").get_apis()["Items"]),
        "user_pools": sorted(p["Name"] for p in moto.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]),
        "topics": sorted(t["TopicArn"] for t in moto.client("sns").list_topics()["Topics"]),
        "glue_databases": sorted(d["Name"] for d in moto.client("glue").get_databases()["DatabaseList"]),
    }


def file_tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def clusters() -> set[str]:
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in out.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server (tests/conftest.py), emptied: an account with nothing in it yet."""
    moto_server.reset()
    return moto_server


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with local_platform("clickstream-check-") as p:
        yield p


def test_check_on_a_platform_that_does_not_exist_yet_plans_and_changes_nothing(moto, platform) -> None:
    state_before, tree_before = emulator_state(moto), file_tree(platform.root)
    assert not state_before["vpcs"] and not state_before["functions"]

    run = platform.site(moto.env(), "--check")

    assert run.rc == 0 and run.failed == 0, run.output[-8000:]
    # It reads as a plan: each play that cannot look at what is not there yet says what it would create.
    for line in (
        f"would create: VPC {PREFIX}-vpc",
        f"would launch: instance {PREFIX}-dw",
        "would create: CA key",
        f"would create: Lambda function {PREFIX}-etl",
        f"would create: EventBridge rule {PREFIX}-etl-schedule",
    ):
        assert line in run.output, line
    assert run.changed > 0
    # ... and changed nothing.
    assert emulator_state(moto) == state_before
    assert file_tree(platform.root) == tree_before
    # (Only this platform's clusters: other tests may make theirs meanwhile.)
    assert not set(platform.clusters.values()) & clusters()
