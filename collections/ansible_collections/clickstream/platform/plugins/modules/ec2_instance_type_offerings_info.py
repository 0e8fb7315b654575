#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_instance_type_offerings_info
short_description: Which EC2 instance types are offered in an availability zone or region
description:
  - Calls DescribeInstanceTypeOfferings for O(instance_types) in O(location) and returns the ones offered there
    and the ones that are not, so a play can stop before it launches an instance type the zone does not have.
  - No amazon.aws module makes this call. Read-only; supports check mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  instance_types:
    description: Instance types to look for, e.g. C([t3.small, t3.large]).
    type: list
    elements: str
    required: true
  location:
    description: The availability zone (C(us-east-1a)), zone id (C(use1-az1)) or region, as O(location_type) says.
    type: str
    required: true
  location_type:
    description: What O(location) is.
    type: str
    choices: [availability-zone, availability-zone-id, region]
    default: availability-zone
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Are the instance types offered in the subnets' zone?
  clickstream.platform.ec2_instance_type_offerings_info:
    instance_types: [t3.small, t3.large]
    location: us-east-1a
  register: offerings
"""

RETURN = r"""
offered:
  description: The requested instance types offered in the location (sorted).
  returned: always
  type: list
  elements: str
  sample: ["t3.large", "t3.small"]
missing:
  description: The requested instance types not offered there (sorted).
  returned: always
  type: list
  elements: str
  sample: []
"""

from typing import Any

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ARGUMENT_SPEC = dict(
    instance_types=dict(type="list", elements="str", required=True),
    location=dict(type="str", required=True),
    location_type=dict(type="str", choices=["availability-zone", "availability-zone-id", "region"],
                       default="availability-zone"),
)


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from `client` (an ec2 client with the aws_retry wrapper)."""
    p = module.params
    wanted = sorted(set(p["instance_types"]))
    request = {"LocationType": p["location_type"],
               "Filters": [{"Name": "location", "Values": [p["location"]]},
                           {"Name": "instance-type", "Values": wanted}]}
    found: set[str] = set()
    try:
        while True:
            page = client.describe_instance_type_offerings(**request, aws_retry=True)
            found.update(o["InstanceType"] for o in page.get("InstanceTypeOfferings", []))
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"cannot read the instance type offerings of {p['location']}")
    return {"changed": False, "offered": sorted(found & set(wanted)), "missing": sorted(set(wanted) - found)}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
