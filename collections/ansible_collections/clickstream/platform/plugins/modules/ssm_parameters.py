#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ssm_parameters
short_description: Ensure a set of SSM parameters in one call, generating the secrets that are missing
description:
  - Reads every parameter of O(parameters) (GetParameters with decryption, ten names a call; DescribeParameters for
    their descriptions; their tags), and writes only those that are missing or differ in value, type, description
    or tags (PutParameter, AddTagsToResource, RemoveTagsFromResource). One module run for the whole set instead of
    a lookup and a community.aws.ssm_parameter run per parameter.
  - A parameter without O(parameters[].value) keeps the value it has; when it does not exist yet, a random one of
    O(generate_length) letters and digits is generated and stored (a password made once). Its value is returned
    in RV(values), so that the caller can use it (run the task with C(no_log=true)).
  - Supports check mode (what would be written; generated values are returned but not stored) and diff mode
    (names only, never values).
version_added: 1.1.0
author: clickstream-analytics
options:
  parameters:
    description: The parameters.
    type: list
    elements: dict
    required: true
    suboptions:
      name: {description: Parameter name., type: str, required: true}
      value:
        description: Its value; omitted, the existing value is kept (generated when the parameter is missing).
        type: str
      type: {description: Parameter type., type: str, default: SecureString, choices: [SecureString, String]}
      description: {description: Its description (compared only when given)., type: str}
  key_id:
    description: KMS key of SecureString parameters (written with a changed value); empty for the account's aws/ssm key.
    type: str
    default: ""
  tags:
    description: Tags of every parameter (tags not named are removed).
    type: dict
    default: {}
  tier:
    description: Parameter tier.
    type: str
    default: Standard
  generate_length:
    description: Length of a generated value (letters and digits).
    type: int
    default: 32
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Database passwords, generated once
  clickstream.platform.ssm_parameters:
    parameters:
      - {name: /shop/dev/db/dw/dw_owner/password, description: Database password managed by Ansible}
      - {name: /shop/dev/db/dw/etl_writer/password, value: "{{ vaulted_password }}"}
    key_id: alias/shop-secrets
    tags: {Project: shop}
  register: passwords
  no_log: true
"""

RETURN = r"""
values:
  description: Name -> value of every parameter given without O(parameters[].value) (existing or generated).
  returned: always
  type: dict
written:
  description: Names of the parameters written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import secrets
import string
from typing import Any

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ARGUMENT_SPEC = dict(
    parameters=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        # Not no_log: Ansible would then scrub any returned string equal to it; the task itself is no_log.
        value=dict(type="str", no_log=False),
        type=dict(type="str", default="SecureString", choices=["SecureString", "String"]),
        description=dict(type="str"),
    )),
    key_id=dict(type="str", default="", no_log=False),
    tags=dict(type="dict", default={}),
    tier=dict(type="str", default="Standard"),
    generate_length=dict(type="int", default=32),
)
ALPHABET = string.ascii_letters + string.digits
# GetParameters takes at most 10 names per call, DescribeParameters' Name filter 50 values.
NAMES_PER_GET = 10
NAMES_PER_DESCRIBE = 50


def generate(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def read(client: Any, names: list[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """(name -> GetParameters' Parameter, name -> description) of those that exist."""
    found: dict[str, dict] = {}
    for start in range(0, len(names), NAMES_PER_GET):
        page = client.get_parameters(Names=names[start:start + NAMES_PER_GET], WithDecryption=True, aws_retry=True)
        found.update({p["Name"]: p for p in page.get("Parameters", [])})
    descriptions: dict[str, str] = {}
    existing = sorted(found)
    for start in range(0, len(existing), NAMES_PER_DESCRIBE):
        filters = [{"Key": "Name", "Option": "Equals", "Values": existing[start:start + NAMES_PER_DESCRIBE]}]
        token = None
        while True:
            page = client.describe_parameters(ParameterFilters=filters, aws_retry=True,
                                              **({"NextToken": token} if token else {}))
            descriptions.update({p["Name"]: p.get("Description", "") for p in page.get("Parameters", [])})
            token = page.get("NextToken")
            if not token:
                break
    return found, descriptions


def tags_of(client: Any, name: str) -> dict[str, str]:
    page = client.list_tags_for_resource(ResourceType="Parameter", ResourceId=name, aws_retry=True)
    return {t["Key"]: t["Value"] for t in page.get("TagList", [])}


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from `client` (an ssm client with the aws_retry wrapper)."""
    p = module.params
    wanted_tags = {k: str(v) for k, v in (p["tags"] or {}).items()}
    names = [q["name"] for q in p["parameters"]]
    if len(set(names)) != len(names):
        module.fail_json(msg="ssm_parameters: a parameter is named twice: " + ", ".join(sorted(
            {n for n in names if names.count(n) > 1})))
    try:
        found, descriptions = read(client, names)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="cannot read the parameters (ssm:GetParameters, ssm:DescribeParameters)")
    values: dict[str, str] = {}
    written: list[str] = []
    for q in p["parameters"]:
        name = q["name"]
        old = found.get(name)
        value = q["value"] if q["value"] is not None else (old["Value"] if old else generate(p["generate_length"]))
        if q["value"] is None:
            values[name] = value
        put = dict(Name=name, Value=value, Type=q["type"], Tier=p["tier"])
        if q["description"]:
            put["Description"] = q["description"]
        if q["type"] == "SecureString" and p["key_id"]:
            put["KeyId"] = p["key_id"]
        try:
            if old is None:
                if wanted_tags:
                    put["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(wanted_tags.items())]
                written.append(name)
                if not module.check_mode:
                    client.put_parameter(aws_retry=True, **put)
                continue
            differs = (old["Type"] != q["type"] or old["Value"] != value
                       or (q["description"] and descriptions.get(name, "") != q["description"]))
            current_tags = tags_of(client, name)
            add = {k: v for k, v in wanted_tags.items() if current_tags.get(k) != v}
            remove = sorted(set(current_tags) - set(wanted_tags))
            if differs or add or remove:
                written.append(name)
            if module.check_mode:
                continue
            if differs:
                client.put_parameter(aws_retry=True, Overwrite=True, **put)
            if add:
                client.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, aws_retry=True,
                                            Tags=[{"Key": k, "Value": v} for k, v in sorted(add.items())])
            if remove:
                client.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=remove,
                                                 aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"cannot write parameter {name} (ssm:PutParameter, tags)")
    result: dict[str, Any] = {"changed": bool(written), "values": values, "written": written}
    if getattr(module, "_diff", False) and written:
        result["diff"] = {"before": {"written": []}, "after": {"written": written}}
    return result


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("ssm", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
