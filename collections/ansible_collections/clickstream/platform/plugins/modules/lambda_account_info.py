#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_account_info
short_description: Read the account's Lambda concurrency and whether planned reservations fit
description:
  - Reads the account's Lambda limits (GetAccountSettings) and the reserved concurrency of the functions named in
    O(reservations) (GetFunctionConcurrency; a function that does not exist yet holds none), and says whether
    the planned reservations fit. AWS keeps 10 concurrent executions of every account unreserved, so an account
    whose concurrency limit is 10 (common for new accounts) has no room for any reservation.
  - No amazon.aws module makes these calls. Read-only; supports check mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  reservations:
    description:
      - Function name -> the reserved concurrency the run will set (null or 0 for none).
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Is there room for the ingest function's reservation?
  clickstream.platform.lambda_account_info:
    reservations:
      clickstream-dev-ingest: 20
  register: lambda_account
"""

RETURN = r"""
account_limit:
  description: The account's concurrent executions quota (AccountLimit.ConcurrentExecutions).
  returned: always
  type: int
  sample: 1000
unreserved:
  description: Executions not reserved by any function today (AccountLimit.UnreservedConcurrentExecutions).
  returned: always
  type: int
  sample: 980
current:
  description: Function name -> its reserved concurrency today (null when none or when it does not exist).
  returned: always
  type: dict
  sample: {"clickstream-dev-ingest": null}
fits:
  description: Whether the planned reservations leave the 10 executions AWS keeps unreserved.
  returned: always
  type: bool
requested:
  description: Sum of the planned reservations.
  returned: always
  type: int
available:
  description: The most the named functions may reserve together.
  returned: always
  type: int
unreserved_after:
  description: Unreserved executions once the planned reservations are set.
  returned: always
  type: int
"""

from typing import Any

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.lambda_account import reservation_room

ARGUMENT_SPEC = dict(reservations=dict(type="dict", default={}))


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from `client` (a lambda client with the aws_retry wrapper)."""
    wanted = {name: (int(v) if v not in (None, "") else None) for name, v in module.params["reservations"].items()}
    if any(v is not None and v < 0 for v in wanted.values()):
        module.fail_json(msg=f"reservations must be >= 0 or null: {wanted}")
    try:
        limit = client.get_account_settings(aws_retry=True)["AccountLimit"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="cannot read the account's Lambda settings (lambda:GetAccountSettings)")
    current: dict[str, int | None] = {}
    for name in sorted(wanted):
        try:
            current[name] = client.get_function_concurrency(FunctionName=name, aws_retry=True).get(
                "ReservedConcurrentExecutions")
        except is_boto3_error_code("ResourceNotFoundException"):
            current[name] = None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"cannot read the reserved concurrency of {name}")
    room = reservation_room(limit["UnreservedConcurrentExecutions"], current, wanted)
    return {"changed": False, "account_limit": limit["ConcurrentExecutions"],
            "unreserved": limit["UnreservedConcurrentExecutions"], "current": current, **room}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("lambda", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
