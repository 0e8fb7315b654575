#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kms_key_deletion
short_description: Schedule a customer-managed KMS key, found by alias, for deletion
description:
  - Describes the key behind O(alias) and calls ScheduleKeyDeletion with its key id, unless the key is already
    pending deletion or the alias names no key. Idempotent, supports check mode.
  - amazon.aws.kms_key with C(state=absent) does the same but passes the key ARN, which the moto emulator (5.2)
    answers with an internal error; the project's teardown runs against it in CI, so it uses this module.
version_added: 1.0.0
author: clickstream-analytics
options:
  alias:
    description: Alias of the key (C(alias/...)).
    type: str
    required: true
  pending_window:
    description: Days (7-30) before KMS deletes the key; it can be restored until then.
    type: int
    default: 7
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Schedule the secrets key for deletion in a week
  clickstream.platform.kms_key_deletion:
    alias: alias/clickstream-dev-secrets
    pending_window: 7
"""

RETURN = r"""
key_id:
  description: Id of the key (empty when the alias names none).
  returned: always
  type: str
key_state:
  description: State of the key after the run (PendingDeletion, or empty when there is no key).
  returned: always
  type: str
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
        argument_spec=dict(alias=dict(type="str", required=True), pending_window=dict(type="int", default=7)),
        supports_check_mode=True,
    )
    alias, window = module.params["alias"], module.params["pending_window"]
    if not alias.startswith("alias/") or alias.startswith("alias/aws/"):
        module.fail_json(msg=f"alias must be a customer-managed alias/..., not {alias}")
    if not 7 <= window <= 30:
        module.fail_json(msg=f"pending_window must be 7 to 30 days, not {window}")
    client = module.client("kms", retry_decorator=AWSRetry.jittered_backoff())
    try:
        key = client.describe_key(KeyId=alias, aws_retry=True)["KeyMetadata"]
    except is_boto3_error_code("NotFoundException"):
        module.exit_json(changed=False, key_id="", key_state="")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"cannot describe the key {alias}")
    if key["KeyState"] == "PendingDeletion":
        module.exit_json(changed=False, key_id=key["KeyId"], key_state=key["KeyState"])
    if not module.check_mode:
        try:
            client.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=window, aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"cannot schedule the key {alias} for deletion")
    module.exit_json(changed=True, key_id=key["KeyId"], key_state="PendingDeletion")


if __name__ == "__main__":
    main()
