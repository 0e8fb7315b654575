"""What the compute tag expects to exist, made directly in the emulator.

The network and iam roles have their own tests; these tests only need their results.
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "clickstream-local"
SUBNETS = {"public": "10.0.1.0/24", "analytics": "10.0.2.0/24", "etl": "10.0.3.0/24"}
SECURITY_GROUPS = ("sg-oltp", "sg-dw", "sg-shiny")


def _tags(name: str) -> list[dict[str, str]]:
    return [{"Key": "Name", "Value": name}, {"Key": "Project", "Value": "clickstream"},
            {"Key": "Environment", "Value": "local"}]


def make_network_and_profile(ec2: Any, iam: Any, prefix: str = PREFIX) -> dict[str, str]:
    """VPC, the three subnets, the three security groups and the SSM instance profile; returns name -> id."""
    ids: dict[str, str] = {}
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": _tags(f"{prefix}-vpc")}])["Vpc"]["VpcId"]
    ids[f"{prefix}-vpc"] = vpc
    for part, cidr in SUBNETS.items():
        name = f"{prefix}-{part}"
        ids[name] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a", TagSpecifications=[
            {"ResourceType": "subnet", "Tags": _tags(name)}])["Subnet"]["SubnetId"]
    for part in SECURITY_GROUPS:
        name = f"{prefix}-{part}"
        ids[name] = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc, TagSpecifications=[
            {"ResourceType": "security-group", "Tags": _tags(name)}])["GroupId"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "ec2.amazonaws.com"}}]}
    for host in ("oltp", "dw"):
        name = f"{prefix}-ec2-{host}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        ids[name] = name
    return ids
