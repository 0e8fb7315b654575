#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ssm_instances_online
short_description: Wait until EC2 instances are registered with Systems Manager and online
description:
  - Hosts reached with the aws_ssm connection can take commands only once their SSM agent has registered the
    instance with Systems Manager and pings it. This module polls DescribeInstanceInformation until every
    instance in O(instance_ids) reports PingStatus C(Online), or fails after O(timeout) seconds naming the
    instances that are not and what to look at (the agent, the instance profile, the SSM endpoints and port 443).
  - Reads only; never reports a change; runs in check mode too.
version_added: 1.1.0
author: clickstream-analytics
options:
  instance_ids:
    description: The instances to wait for. An empty list returns at once.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds to wait in all.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two polls.
    type: int
    default: 10
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Wait for Session Manager on the new instances
  clickstream.platform.ssm_instances_online:
    instance_ids: [i-0123456789abcdef0]
    timeout: 900
"""

RETURN = r"""
instances:
  description: PingStatus by instance id at the last poll (C(Unregistered) when Systems Manager does not know it).
  returned: always
  type: dict
  sample: {"i-0123456789abcdef0": "Online"}
waited:
  description: Seconds waited.
  returned: always
  type: int
"""

import time

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

UNREGISTERED = "Unregistered"


def ping_status(client, instance_ids: list[str]) -> dict[str, str]:
    """PingStatus of each instance (Online, ConnectionLost, Inactive; Unregistered when SSM does not list it)."""
    found: dict[str, str] = {}
    kwargs = {"Filters": [{"Key": "InstanceIds", "Values": list(instance_ids)}]}
    while True:
        page = client.describe_instance_information(**kwargs)
        for info in page.get("InstanceInformationList", []):
            found[info["InstanceId"]] = info.get("PingStatus", UNREGISTERED)
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return {i: found.get(i, UNREGISTERED) for i in instance_ids}


def not_online_message(status: dict[str, str], waited: int, region: str) -> str:
    """What the user is told when instances are not online in time."""
    bad = ", ".join(f"{i} ({s})" for i, s in sorted(status.items()) if s != "Online")
    return (
        f"Not online in Systems Manager after {waited} s: {bad}. Ansible reaches the hosts only through Session "
        "Manager. Check, per instance: the SSM agent runs (the user data installs it on first boot: "
        f"`aws ec2 get-console-output --region {region} --instance-id <id>` shows cloud-init's output); the "
        "instance profile is attached and its role has AmazonSSMManagedInstanceCore; the instance reaches the "
        "Systems Manager endpoints on port 443 (private subnet: the ssm, ssmmessages and ec2messages interface "
        "endpoints with private DNS, their security group allowing 443 from the instance, and the instance's "
        "security group allowing 443 out; public subnet: outbound 443 to the internet). Then re-run; raise the "
        "wait with ec2_instances_ssm_timeout."
    )


def wait_online(client, instance_ids: list[str], timeout: int, poll_interval: int,
                sleep=time.sleep, clock=time.monotonic) -> tuple[bool, dict[str, str], int]:
    """Poll until every instance is Online or `timeout` seconds passed: (all online, last status, seconds)."""
    start = clock()
    while True:
        status = ping_status(client, instance_ids)
        waited = int(clock() - start)
        if all(s == "Online" for s in status.values()):
            return True, status, waited
        if waited + poll_interval > timeout:
            return False, status, waited
        sleep(poll_interval)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_ids=dict(type="list", elements="str", required=True),
            timeout=dict(type="int", default=600),
            poll_interval=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    ids = module.params["instance_ids"]
    if module.params["timeout"] < 0 or module.params["poll_interval"] < 1:
        module.fail_json(msg="timeout must be >= 0 and poll_interval >= 1")
    if not ids:
        module.exit_json(changed=False, instances={}, waited=0)
    client = module.client("ssm", retry_decorator=AWSRetry.jittered_backoff())
    try:
        online, status, waited = wait_online(client, ids, module.params["timeout"], module.params["poll_interval"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="cannot read the Systems Manager registration of the instances")
    if not online:
        module.fail_json(msg=not_online_message(status, waited, module.region), instances=status, waited=waited)
    module.exit_json(changed=False, instances=status, waited=waited)


if __name__ == "__main__":
    main()
