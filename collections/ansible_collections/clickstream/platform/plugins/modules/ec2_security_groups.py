#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_security_groups
short_description: Ensure a set of VPC security groups and their exact rules in one call
description:
  - Reads every group of the set (and every group a rule names) with one DescribeSecurityGroups call, creates the
    missing groups first, so that rules may name any group of the set whatever the order, then makes each group's
    tags, ingress and egress rules exactly what is given (rules not given are revoked). One module run for the whole
    set instead of one amazon.aws.ec2_security_group run per group.
  - A rule whose description alone differs is updated in place (no revoke and re-authorize).
  - A rule may name the destination prefix list by name (C(prefix_list_name), e.g. C(com.amazonaws.us-east-1.s3)
    for the S3 gateway endpoint), resolved with one DescribePrefixLists call.
  - Groups of the VPC not in the set are left alone. Supports check mode and diff mode.
version_added: 1.2.0
author: clickstream-analytics
options:
  vpc_id:
    description: The VPC of the groups.
    type: str
    required: true
  groups:
    description:
      - Key -> group. Each group is a dict with C(name), C(description), C(tags) (a dict; exact, C(Name) included
        if wanted), C(rules) (ingress) and C(rules_egress). Omitting C(rules_egress) (or null) gives the default
        egress of a new group (all traffic to 0.0.0.0/0); an empty list, no egress at all.
      - A rule is a dict with C(proto) (C(tcp), C(udp), C(icmp) or C(-1)/C(all)), C(ports) (a list of ports or
        C(from-to) ranges; not for C(-1)), C(rule_desc), and one kind of peer - C(cidr_ip) (a CIDR or a list),
        C(group_name) (a group of the set or of the VPC), C(ip_prefix) (a prefix list id) or C(prefix_list_name).
      - The description of an existing group cannot be changed (AWS has no call for it); a difference is warned.
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the groups
  clickstream.platform.ec2_security_groups:
    vpc_id: vpc-0123
    groups:
      dw:
        name: shop-sg-dw
        description: Data warehouse
        tags: {Name: shop-sg-dw}
        rules:
          - {proto: tcp, ports: [5432], group_name: shop-sg-etl, rule_desc: PostgreSQL from the ETL}
      etl:
        name: shop-sg-etl
        description: ETL Lambda
        tags: {Name: shop-sg-etl}
        rules: []
        rules_egress:
          - {proto: tcp, ports: [443], prefix_list_name: com.amazonaws.us-east-1.s3}
          - {proto: tcp, ports: [5432], group_name: shop-sg-dw, rule_desc: PostgreSQL to the DW}
  register: sgs
# sgs.group_ids.dw, sgs.group_ids.etl
"""

RETURN = r"""
group_ids:
  description: Key -> the group's id (in check mode, C(sg-new-<name>) for a group that would be created).
  returned: always
  type: dict
  sample: {"dw": "sg-0123"}
groups:
  description: Key -> whether the run changed that group (created it, its tags or its rules; in check mode, would).
  returned: always
  type: dict
  sample: {"dw": false}
actions:
  description: What the run changed (in check mode, would change), one line each.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.security_groups import (  # noqa: F401 - helpers its tests use
    SecurityGroups,
    check_input,
    current_permissions,
    ip_permissions,
    wanted_permissions,
)

ARGUMENT_SPEC = dict(vpc_id=dict(type="str", required=True), groups=dict(type="dict", required=True))


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from ``client`` (an ec2 client with the aws_retry wrapper)."""
    manager = SecurityGroups(module, client)
    return manager.result(manager.run())


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
