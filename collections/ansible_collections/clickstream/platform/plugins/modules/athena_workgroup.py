#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: athena_workgroup
short_description: Create or update an Amazon Athena workgroup with an enforced, encrypted result location
description:
  - No Ansible module manages Athena workgroups; this one does (CreateWorkGroup, GetWorkGroup, UpdateWorkGroup,
    TagResource, DeleteWorkGroup). Only the settings given here are compared, so a workgroup that matches them is
    left alone. Create and update send the same configuration, built once (C(configuration)).
    Idempotent, supports check mode and diff mode.
version_added: 1.1.0
author: clickstream-analytics
options:
  name:
    description: Workgroup name.
    type: str
    required: true
  description:
    description: Workgroup description.
    type: str
    default: ""
  output_location:
    description: s3://bucket/prefix/ where query results go (enforced for every query of the workgroup). Required
      with I(state=present).
    type: str
  encryption_option:
    description: Encryption of the query results.
    type: str
    choices: [SSE_S3, SSE_KMS, CSE_KMS]
    default: SSE_S3
  kms_key:
    description: KMS key ARN for SSE_KMS / CSE_KMS.
    type: str
  enforce_workgroup_configuration:
    description: Whether the workgroup's settings override a client's (result location, encryption).
    type: bool
    default: true
  bytes_scanned_cutoff_per_query:
    description: Bytes a query may scan before Athena cancels it (at least 10,000,000). Required with
      I(state=present).
    type: int
  publish_cloudwatch_metrics:
    description: Whether the workgroup publishes query metrics to CloudWatch.
    type: bool
    default: true
  engine_version:
    description: Athena engine version.
    type: str
    default: Athena engine version 3
  tags:
    description: Tags of the workgroup (added or changed; others are left alone).
    type: dict
    default: {}
  state:
    description:
      - C(absent) deletes the workgroup with its saved queries and query history (DeleteWorkGroup with
        RecursiveDeleteOption); the query results in S3 stay where they are. Only I(name) is needed then.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The lake's Athena workgroup
  clickstream.platform.athena_workgroup:
    name: clickstream-dev-lake
    output_location: s3://clickstream-dev-lake-123456789012-eu-west-1/athena-results/
    bytes_scanned_cutoff_per_query: 10737418240
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: list
  elements: str
arn:
  description: ARN of the workgroup.
  returned: always
  type: str
"""

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore  # noqa: F401
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource

MIN_CUTOFF = 10_000_000


def partition(region: str) -> str:
    return "aws-us-gov" if region.startswith("us-gov-") else ("aws-cn" if region.startswith("cn-") else "aws")


def configuration(p: dict) -> dict:
    """The workgroup's configuration as CreateWorkGroup takes it: the one place the module's options become it."""
    encryption = {"EncryptionOption": p["encryption_option"]}
    if p["kms_key"]:
        encryption["KmsKey"] = p["kms_key"]
    return {
        "ResultConfiguration": {"OutputLocation": p["output_location"], "EncryptionConfiguration": encryption},
        "EnforceWorkGroupConfiguration": p["enforce_workgroup_configuration"],
        "BytesScannedCutoffPerQuery": p["bytes_scanned_cutoff_per_query"],
        "PublishCloudWatchMetricsEnabled": p["publish_cloudwatch_metrics"],
        "EngineVersion": {"SelectedEngineVersion": p["engine_version"]},
    }


def configuration_updates(config: dict) -> dict:
    """The same configuration in UpdateWorkGroup's shape (its result settings are "ResultConfigurationUpdates")."""
    updates = {k: v for k, v in config.items() if k != "ResultConfiguration"}
    updates["ResultConfigurationUpdates"] = config["ResultConfiguration"]
    return updates


def wanted_view(p: dict) -> dict:
    """What the workgroup should look like, read from the configuration sent, as current_view reads GetWorkGroup."""
    return current_view({"Configuration": configuration(p), "Description": p["description"]})


def current_view(wg: dict) -> dict:
    c = wg.get("Configuration", {})
    result = c.get("ResultConfiguration", {})
    return {
        "OutputLocation": result.get("OutputLocation"),
        "Encryption": result.get("EncryptionConfiguration", {}),
        "EnforceWorkGroupConfiguration": c.get("EnforceWorkGroupConfiguration"),
        "BytesScannedCutoffPerQuery": c.get("BytesScannedCutoffPerQuery"),
        "PublishCloudWatchMetricsEnabled": c.get("PublishCloudWatchMetricsEnabled"),
        "EngineVersion": c.get("EngineVersion", {}).get("SelectedEngineVersion"),
        "Description": wg.get("Description", ""),
    }


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            description=dict(type="str", default=""),
            output_location=dict(type="str"),
            encryption_option=dict(type="str", default="SSE_S3", choices=["SSE_S3", "SSE_KMS", "CSE_KMS"]),
            kms_key=dict(type="str", no_log=False),
            enforce_workgroup_configuration=dict(type="bool", default=True),
            bytes_scanned_cutoff_per_query=dict(type="int"),
            publish_cloudwatch_metrics=dict(type="bool", default=True),
            engine_version=dict(type="str", default="Athena engine version 3"),
            tags=dict(type="dict", default={}),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("output_location", "bytes_scanned_cutoff_per_query"))],
        supports_check_mode=True,
    )
    p = module.params
    client = module.client("athena", retry_decorator=AWSRetry.jittered_backoff())
    r = Boto3Resource(module, client, failure_msg="athena {method} failed")
    found = r.call("get_work_group", WorkGroup=p["name"], none_on=("InvalidRequestException",))
    if not (found or {}).get("WorkGroup"):  # moto answers a missing workgroup with an empty body
        found = None
    if p["state"] == "absent":
        r.before, r.after = (current_view(found["WorkGroup"]) if found else {}), {}
        if found is not None:
            r.change(f"delete Athena workgroup {p['name']}", "delete_work_group", WorkGroup=p["name"],
                     RecursiveDeleteOption=True)
        r.exit_json(arn="")
    if not p["output_location"] or not p["output_location"].startswith("s3://"):
        module.fail_json(msg=f"output_location must be s3://bucket/prefix/, got {p['output_location']!r}")
    if p["bytes_scanned_cutoff_per_query"] is None or p["bytes_scanned_cutoff_per_query"] < MIN_CUTOFF:
        module.fail_json(msg=f"bytes_scanned_cutoff_per_query must be at least {MIN_CUTOFF} (Athena's minimum)")
    if p["encryption_option"] != "SSE_S3" and not p["kms_key"]:
        module.fail_json(msg=f"encryption_option {p['encryption_option']} needs kms_key")
    sts = module.client("sts", retry_decorator=AWSRetry.jittered_backoff())
    config = configuration(p)
    wanted = wanted_view(p)
    r.after = wanted
    account = r.call("get_caller_identity", client=sts)["Account"]
    arn = f"arn:{partition(module.region)}:athena:{module.region}:{account}:workgroup/{p['name']}"
    if found is None:
        r.change(f"create Athena workgroup {p['name']}", "create_work_group", Name=p["name"],
                 Description=p["description"], Configuration=config,
                 Tags=[{"Key": k, "Value": str(v)} for k, v in sorted(p["tags"].items())])
        r.exit_json(arn=arn)
    current = current_view(found["WorkGroup"])
    r.before = current
    if current != wanted:
        r.change(f"update Athena workgroup {p['name']}", "update_work_group", WorkGroup=p["name"],
                 Description=p["description"], ConfigurationUpdates=configuration_updates(config))
    tags = r.call("list_tags_for_resource", ResourceARN=arn).get("Tags", [])
    have = {t["Key"]: t["Value"] for t in tags}
    missing = {k: str(v) for k, v in p["tags"].items() if have.get(k) != str(v)}
    if missing:
        r.change(f"tag Athena workgroup {p['name']}", "tag_resource", ResourceARN=arn,
                 Tags=[{"Key": k, "Value": v} for k, v in sorted(missing.items())])
    r.exit_json(arn=arn)


if __name__ == "__main__":
    main()
