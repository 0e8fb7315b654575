"""The compute tag against the emulator: the two instances as the architecture wants them, found by aws_ec2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.harness.ansible import run_playbook
from scripts.harness.moto import MotoServer

PREFIX = "clickstream-local"
PLAYBOOK = "tests/hosts/playbooks/compute_stack.yml"


def _instances(ec2) -> dict[str, dict]:
    out = {}
    for reservation in ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])[
            "Reservations"]:
        for inst in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            out.setdefault(tags.get("Name", ""), []).append({**inst, "TagMap": tags})
    return out


def _subnet_name(ec2, subnet_id: str) -> str:
    subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    return {t["Key"]: t["Value"] for t in subnet["Tags"]}["Name"]


@pytest.mark.integration
def test_compute_instances_in_emulator(emulator_with_network: MotoServer, tmp_path: Path) -> None:
    env = emulator_with_network.env()
    first = run_playbook(PLAYBOOK, env=env)
    assert first.rc == 0, first.output[-4000:]
    assert first.changed > 0

    second = run_playbook(PLAYBOOK, env=env)
    assert second.rc == 0, second.output[-4000:]
    assert second.changed == 0, second.changed_tasks()

    ec2 = emulator_with_network.client("ec2")
    found = _instances(ec2)
    assert sorted(found) == [f"{PREFIX}-dw", f"{PREFIX}-oltp"]
    assert all(len(v) == 1 for v in found.values()), "a re-run launched a duplicate"
    oltp, dw = found[f"{PREFIX}-oltp"][0], found[f"{PREFIX}-dw"][0]

    assert _subnet_name(ec2, oltp["SubnetId"]) == f"{PREFIX}-public"
    assert _subnet_name(ec2, dw["SubnetId"]) == f"{PREFIX}-analytics"
    assert oltp.get("PublicIpAddress")
    assert not dw.get("PublicIpAddress")
    assert [g["GroupName"] for g in oltp["SecurityGroups"]] == [f"{PREFIX}-sg-oltp"]
    assert sorted(g["GroupName"] for g in dw["SecurityGroups"]) == [f"{PREFIX}-sg-dw", f"{PREFIX}-sg-shiny"]
    for inst, role in ((oltp, "oltp"), (dw, "dw")):
        assert inst["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{PREFIX}-ec2-{role}")  # its own
        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        assert inst["MetadataOptions"]["HttpEndpoint"] == "enabled"
        assert inst["TagMap"]["Role"] == role
        assert inst["TagMap"]["Project"] == "clickstream" and inst["TagMap"]["Environment"] == "local"
        assert "KeyName" not in inst
        volumes = [ec2.describe_volumes(VolumeIds=[b["Ebs"]["VolumeId"]])["Volumes"][0]
                   for b in inst["BlockDeviceMappings"]]
        assert volumes and all(v["Encrypted"] for v in volumes)
    assert dw["TagMap"]["ShinyRole"] == "shiny"
    assert "ShinyRole" not in oltp["TagMap"]

    # The aws_ec2 inventory plugin, pointed at the emulator, groups them by role (as inventories/aws/aws_ec2.yml).
    inventory = tmp_path / "emulator.aws_ec2.yml"
    inventory.write_text(json.dumps({
        "plugin": "amazon.aws.aws_ec2", "regions": ["us-east-1"], "endpoint_url": emulator_with_network.url,
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
        "filters": {"tag:Project": "clickstream", "tag:Environment": "local", "instance-state-name": "running"},
        "hostnames": ["tag:Name"],
        "keyed_groups": [{"key": "tags.Role", "separator": ""}, {"key": "tags.ShinyRole", "separator": ""}],
    }))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"],
                          capture_output=True, text=True, timeout=300, env={**env, "ANSIBLE_INVENTORY_ENABLED":
                                                                           "amazon.aws.aws_ec2"})
    assert proc.returncode == 0, proc.stderr
    groups = json.loads(proc.stdout)
    assert groups["oltp"]["hosts"] == [f"{PREFIX}-oltp"]
    assert groups["dw"]["hosts"] == [f"{PREFIX}-dw"]
    assert groups["shiny"]["hosts"] == [f"{PREFIX}-dw"]

    # The admin-access playbook prints the Session Manager port-forward commands for these instance ids.
    admin = run_playbook("playbooks/admin-access.yml", env=env)
    assert admin.rc == 0, admin.output[-3000:]
    text = " ".join(admin.output.split())
    assert f"--target {dw['InstanceId']} --document-name AWS-StartPortForwardingSession" in text
    assert f'"host":["{dw["PrivateIpAddress"]}"],"portNumber":["3838"]' in text
    assert f"--target {oltp['InstanceId']} --document-name AWS-StartPortForwardingSession" in text
    assert admin.changed == 0


@pytest.mark.integration
def test_compute_fails_clearly_without_network(moto_server: MotoServer) -> None:
    moto_server.reset()
    run = run_playbook(PLAYBOOK, env=moto_server.env())
    assert run.rc != 0
    assert "VPC clickstream-local-vpc not found (run --tags network first)" in run.output
    assert moto_server.client("ec2").describe_instances()["Reservations"] == []
