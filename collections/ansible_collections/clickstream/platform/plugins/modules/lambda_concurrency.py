#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_concurrency
short_description: Set or remove the reserved concurrency of a Lambda function
description:
  - amazon.aws.lambda does not manage reserved concurrency; this module does (PutFunctionConcurrency /
    DeleteFunctionConcurrency). Idempotent, supports check mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  name:
    description: Function name or ARN.
    type: str
    required: true
  reserved_concurrency:
    description:
      - Reserved concurrent executions. Omit (null) to remove the reservation (the function then uses the
        account's unreserved pool). C(0) stops every invocation.
    type: int
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Cap the ingest function at 20 concurrent executions
  clickstream.platform.lambda_concurrency:
    name: clickstream-dev-ingest
    reserved_concurrency: 20
"""

RETURN = r"""
reserved_concurrency:
  description: The reserved concurrency after the run (null when none is reserved).
  returned: always
  type: int
previous:
  description: The reserved concurrency before the run.
  returned: always
  type: int
"""

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(name=dict(type="str", required=True), reserved_concurrency=dict(type="int")),
        supports_check_mode=True,
    )
    name, wanted = module.params["name"], module.params["reserved_concurrency"]
    if wanted is not None and wanted < 0:
        module.fail_json(msg="reserved_concurrency must be >= 0 (omit it to remove the reservation)")
    client = module.client("lambda", retry_decorator=AWSRetry.jittered_backoff())
    try:
        current = client.get_function_concurrency(FunctionName=name, aws_retry=True).get(
            "ReservedConcurrentExecutions")
        changed = current != wanted
        if changed and not module.check_mode:
            if wanted is None:
                client.delete_function_concurrency(FunctionName=name, aws_retry=True)
            else:
                client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=wanted,
                                                aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException") as e:
        if module.check_mode:  # the function would be created by an earlier task of the same run
            module.exit_json(changed=True, reserved_concurrency=wanted, previous=None)
        module.fail_json_aws(e, msg=f"function {name} not found")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"cannot manage the reserved concurrency of {name}")
    module.exit_json(changed=changed, reserved_concurrency=wanted if changed else current, previous=current)


if __name__ == "__main__":
    main()
