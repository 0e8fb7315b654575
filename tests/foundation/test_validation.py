"""A bad variable stops site.yml before anything is created, with a message naming the variable.

Each case runs under its own environment name, so it can share the emulator with other tests: afterwards
nothing may exist for that environment (VPC, buckets, roles).
"""

from __future__ import annotations

import json

import pytest

from scripts.harness.ansible import run_playbook
from scripts.harness.moto import MotoServer

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
REGION = "us-east-1"

CASES = {
    # id: (environment, extra vars, text the failure must contain)
    "malformed-vpc-cidr": ("test", {"network_vpc_cidr": "10.0.0.0/33"}, "network_vpc_cidr=10.0.0.0/33"),
    "host-bits-in-subnet": ("test", {"network_etl_subnet_cidr": "10.0.3.7/24"}, "network_etl_subnet_cidr=10.0.3.7/24"),
    "subnet-outside-vpc": ("test", {"network_public_subnet_cidr": "10.1.1.0/24"}, "network_public_subnet_cidr"),
    "bad-trusted-cidr": ("test", {"network_oltp_trusted_cidrs": ["203.0.113.0/24", "not-a-cidr"]},
                         "network_oltp_trusted_cidrs"),
    "postgres-open-to-world": ("test", {"network_oltp_trusted_cidrs": ["0.0.0.0/0"]},
                               "set network_oltp_world_open_acknowledged=true"),
    "ssh-open-to-world": ("test", {"network_admin_cidrs": ["0.0.0.0/0"]}, "network_oltp_ssh_cidrs contains 0.0.0.0/0"),
    "unknown-environment": ("qa", {}, "clickstream_environment=qa"),
    # A storage and an IAM mistake must stop the run before the network (which comes first) is built.
    "lifecycle-days": ("test", {"storage_raw_expiration_days": 10}, "storage_raw_expiration_days=10"),
    "wildcard-prefix": ("test", {"iam_etl_read_prefixes": ["*"]}, "iam_etl_read_prefixes"),
}


def _nothing_exists_for(moto: MotoServer, environment: str) -> list[str]:
    found = []
    vpcs = moto.client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Environment", "Values": [environment]}])["Vpcs"]
    found += [v["VpcId"] for v in vpcs]
    prefix = f"clickstream-{environment}-"
    found += [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    found += [r["RoleName"] for r in moto.client("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_variable_fails_fast_naming_it(moto_server: MotoServer, case: str) -> None:
    environment, extra, expected = CASES[case]
    extra_vars = json.dumps({"clickstream_environment": environment, **extra})
    run = run_playbook("site.yml", "--tags", "network,storage,iam", "-e", extra_vars, env=moto_server.env())
    assert run.rc != 0
    assert run.failed == 1, run.output[-4000:]
    assert expected in " ".join(run.output.split()), run.output[-4000:]
    # It failed in the preflight play: no task of the network, storage or iam role ran.
    assert "TASK [network : Ensure the VPC, internet gateway, subnets" not in run.output
    assert _nothing_exists_for(moto_server, environment) == []
