#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_vpc_endpoint_policy
short_description: Set the policy of an existing VPC endpoint
description:
  - amazon.aws.ec2_vpc_endpoint sets a policy only when it creates an endpoint; this module keeps the policy of an
    existing one as given (DescribeVpcEndpoints, ModifyVpcEndpoint). Policies are compared as documents
    (amazon.aws compare_policies), so formatting and statement order do not count as a change. Supports check
    and diff mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  vpc_endpoint_id:
    description: The endpoint (vpce-...).
    type: str
    required: true
  policy:
    description: The endpoint policy, a JSON document (string or dict).
    type: json
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Only the platform's buckets through the S3 gateway endpoint
  clickstream.platform.ec2_vpc_endpoint_policy:
    vpc_endpoint_id: vpce-0123456789abcdef0
    policy: "{{ lookup('ansible.builtin.template', 'endpoint-policy.json.j2') }}"
"""

RETURN = r"""
policy:
  description: The endpoint's policy after the run.
  returned: always
  type: dict
"""

import json

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(vpc_endpoint_id=dict(type="str", required=True), policy=dict(type="json", required=True)),
        supports_check_mode=True,
    )
    endpoint_id = module.params["vpc_endpoint_id"]
    wanted = json.loads(module.params["policy"])
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        endpoints = client.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id], aws_retry=True)["VpcEndpoints"]
        if not endpoints:
            module.fail_json(msg=f"VPC endpoint {endpoint_id} not found")
        current = json.loads(endpoints[0].get("PolicyDocument") or "{}")
        changed = compare_policies(current, wanted)
        if changed and not module.check_mode:
            client.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(wanted), aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"cannot manage the policy of VPC endpoint {endpoint_id}")
    module.exit_json(changed=changed, policy=wanted if changed else current,
                     diff={"before": current, "after": wanted})


if __name__ == "__main__":
    main()
