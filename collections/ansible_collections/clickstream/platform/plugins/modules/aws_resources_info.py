#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_resources_info
short_description: Look up several EC2 and IAM resources in one call
description:
  - Describes each resource named in O(lookups) and returns what it found under the same key, in the shape the
    amazon.aws info modules return (snake_case keys, C(tags) as a dict).
  - A role that needs its VPC, subnets, security groups, IAM role, instance, log groups, HTTP API or SNS topic
    before it changes anything makes one module call (one interpreter, one boto3 session) instead of one info task
    per resource.
  - Read-only; supports check mode. A resource that does not exist is an empty list, not an error.
version_added: 1.1.0
author: clickstream-analytics
options:
  lookups:
    description:
      - Key -> what to look up, a dict with C(type) and the type's selectors. The result has the same keys.
      - C(type) is one of C(vpc), C(subnet), C(security_group), C(instance), C(vpc_endpoint) and C(image), which
        take C(filters)
        (EC2 Describe filters, name -> value or list of values), C(image) also C(owners) (account ids, C(amazon),
        C(self)); or C(iam_role), C(iam_instance_profile), C(log_group) (CloudWatch Logs, exact name),
        C(http_api) (API Gateway v2, exact name), C(lambda_function) (its configuration), C(events_rule) (an
        EventBridge rule of the default bus with its targets) and C(cloudwatch_dashboard) (its name, ARN and
        C(body), the parsed JSON), which take C(name); or
        C(sns_topic), which takes C(arn).
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Look up what the function needs
  clickstream.platform.aws_resources_info:
    lookups:
      role: {type: iam_role, name: clickstream-dev-etl}
      subnet: {type: subnet, filters: {"tag:Name": clickstream-dev-etl}}
      sg: {type: security_group, filters: {group-name: clickstream-dev-etl-lambda}}
  register: found
# found.resources.role[0].arn, found.resources.subnet[0].subnet_id, found.resources.sg[0].group_id
"""

RETURN = r"""
resources:
  description:
    - Key of O(lookups) -> the list of resources found (empty when none). Items have the fields of the matching
      amazon.aws info module (ec2_vpc_net_info, ec2_vpc_subnet_info, ec2_security_group_info, ec2_instance_info,
      ec2_ami_info, iam_role_info, iam_instance_profile_info, cloudwatchlogs_log_group_info) in snake_case, with
      C(tags) as a dict; an C(http_api) item has the keys of clickstream.platform.apigatewayv2_api_info's, an
      C(sns_topic) item C(topic_arn), its attributes in snake_case, C(subscriptions) (C(protocol), C(endpoint),
      sorted) and C(tags), a C(lambda_function) item the function's
      configuration (GetFunctionConfiguration) in snake_case.
  returned: always
  type: dict
  sample: {"subnet": [{"subnet_id": "subnet-0123", "vpc_id": "vpc-0123", "tags": {"Name": "clickstream-dev-etl"}}]}
"""

import json
from typing import Any

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

ARGUMENT_SPEC = dict(lookups=dict(type="dict", required=True))
TYPES = ("vpc", "subnet", "security_group", "instance", "image", "vpc_endpoint", "iam_role", "iam_instance_profile",
         "log_group", "http_api", "sns_topic", "lambda_function", "events_rule", "cloudwatch_dashboard")
# Types looked up by an exact name (not EC2 filters).
NAMED = ("iam_role", "iam_instance_profile", "log_group", "http_api", "lambda_function", "events_rule",
         "cloudwatch_dashboard")
SELECTORS = {"filters", "owners", "name", "arn", "type"}


def check(key: str, spec: Any) -> str | None:
    """Why one lookup is malformed, or None."""
    if not isinstance(spec, dict) or spec.get("type") not in TYPES:
        return f"lookup {key}: needs a type, one of {', '.join(TYPES)}"
    if set(spec) - SELECTORS:
        return f"lookup {key}: unknown option(s) {', '.join(sorted(set(spec) - SELECTORS))}"
    if spec["type"] in NAMED and not spec.get("name"):
        return f"lookup {key}: type {spec['type']} needs a name"
    if spec["type"] == "sns_topic" and not spec.get("arn"):
        return f"lookup {key}: type sns_topic needs an arn"
    if not isinstance(spec.get("filters", {}), dict) or not isinstance(spec.get("owners", []), list):
        return f"lookup {key}: filters must be a dict and owners a list"
    return None


# EC2 lookup type -> (Describe call, key of its result list).
EC2_CALLS = {
    "vpc": ("describe_vpcs", "Vpcs"),
    "subnet": ("describe_subnets", "Subnets"),
    "security_group": ("describe_security_groups", "SecurityGroups"),
    "image": ("describe_images", "Images"),
    "instance": ("describe_instances", "Reservations"),
    "vpc_endpoint": ("describe_vpc_endpoints", "VpcEndpoints"),
}


def boto3_filters(filters: dict[str, Any]) -> list[dict[str, Any]]:
    """EC2 filters as boto3 wants them; a scalar value becomes a one-element list of strings."""
    return [{"Name": name, "Values": [str(v) for v in (value if isinstance(value, list) else [value])]}
            for name, value in sorted(filters.items())]


def snake(item: dict[str, Any]) -> dict[str, Any]:
    """One resource in the amazon.aws info modules' shape: snake_case keys, tags as a dict."""
    out = camel_dict_to_snake_dict(item, ignore_list=["Tags"])
    out["tags"] = boto3_tag_list_to_ansible_dict(item.get("Tags", []))
    return out


def describe_ec2(client: Any, kind: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    call, key = EC2_CALLS[kind]
    kwargs: dict[str, Any] = {"Filters": boto3_filters(spec.get("filters", {}))}
    if kind == "image":
        if spec.get("owners"):
            kwargs["Owners"] = [str(o) for o in spec["owners"]]
        items = client.describe_images(aws_retry=True, **kwargs)["Images"]
    else:
        paginator = client.get_paginator(call)
        items = paginator.paginate(**kwargs).build_full_result()[key]
    if kind == "instance":
        items = [instance for reservation in items for instance in reservation["Instances"]]
    found = [snake(item) for item in items]
    if kind in ("vpc", "subnet"):  # ec2_vpc_net_info and ec2_vpc_subnet_info also give the id as `id`
        for item in found:
            item["id"] = item[f"{kind}_id"]
    return found


def describe_iam(client: Any, kind: str, name: str) -> list[dict[str, Any]]:
    try:
        if kind == "iam_role":
            item = client.get_role(RoleName=name, aws_retry=True)["Role"]
        else:
            item = client.get_instance_profile(InstanceProfileName=name, aws_retry=True)["InstanceProfile"]
    except is_boto3_error_code("NoSuchEntity"):
        return []
    return [snake(item)]


def describe_log_group(client: Any, name: str) -> list[dict[str, Any]]:
    """The log group of exactly that name (DescribeLogGroups takes a prefix)."""
    paginator = client.get_paginator("describe_log_groups")
    groups = paginator.paginate(logGroupNamePrefix=name).build_full_result().get("logGroups", [])
    return [camel_dict_to_snake_dict(g) for g in groups if g["logGroupName"] == name]


def describe_http_api(client: Any, name: str) -> list[dict[str, Any]]:
    """The API Gateway v2 APIs of that name (GetApis has no name filter: every page is read)."""
    apis, token = [], None
    while True:
        page = client.get_apis(aws_retry=True, **({"NextToken": token} if token else {}))
        apis += page.get("Items", [])
        token = page.get("NextToken")
        if not token:
            return [camel_dict_to_snake_dict(a, ignore_list=["Tags"]) for a in apis if a["Name"] == name]


def describe_sns_topic(client: Any, arn: str) -> list[dict[str, Any]]:
    try:
        attributes = client.get_topic_attributes(TopicArn=arn, aws_retry=True)["Attributes"]
    except is_boto3_error_code("NotFound"):
        return []
    subscriptions = []
    token = None
    while True:
        page = client.list_subscriptions_by_topic(TopicArn=arn, aws_retry=True,
                                                  **({"NextToken": token} if token else {}))
        subscriptions += [{"protocol": s["Protocol"], "endpoint": s["Endpoint"]} for s in page.get("Subscriptions", [])]
        token = page.get("NextToken")
        if not token:
            break
    tags = client.list_tags_for_resource(ResourceArn=arn, aws_retry=True).get("Tags", [])
    return [{"topic_arn": arn, **camel_dict_to_snake_dict(attributes),
             "subscriptions": sorted(subscriptions, key=lambda s: (s["protocol"], s["endpoint"])),
             "tags": boto3_tag_list_to_ansible_dict(tags)}]


def describe_lambda_function(client: Any, name: str) -> list[dict[str, Any]]:
    try:
        config = client.get_function_configuration(FunctionName=name, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        return []
    config.pop("ResponseMetadata", None)
    return [camel_dict_to_snake_dict(config)]


def describe_events_rule(client: Any, name: str) -> list[dict[str, Any]]:
    """The rule (DescribeRule, snake_case) with C(targets) (ListTargetsByRule, snake_case, sorted by id)."""
    try:
        rule = client.describe_rule(Name=name, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        return []
    rule.pop("ResponseMetadata", None)
    targets = []
    token = None
    while True:
        page = client.list_targets_by_rule(Rule=name, aws_retry=True, **({"NextToken": token} if token else {}))
        targets += page.get("Targets", [])
        token = page.get("NextToken")
        if not token:
            break
    return [{**camel_dict_to_snake_dict(rule),
             "targets": [camel_dict_to_snake_dict(t) for t in sorted(targets, key=lambda t: t["Id"])]}]


def describe_dashboard(client: Any, name: str) -> list[dict[str, Any]]:
    """The CloudWatch dashboard (GetDashboard) with its body parsed, as clickstream.platform.cloudwatch_dashboard
    compares it."""
    try:
        found = client.get_dashboard(DashboardName=name, aws_retry=True)
    except is_boto3_error_code("ResourceNotFound"):
        return []
    return [{"dashboard_name": found["DashboardName"], "dashboard_arn": found.get("DashboardArn"),
             "body": json.loads(found["DashboardBody"])}]


def run(module: Any, clients: Any) -> dict[str, Any]:
    """The module's result; ``clients(service)`` gives a client with the aws_retry wrapper (made once each)."""
    resources: dict[str, list[dict[str, Any]]] = {}
    lookups = module.params["lookups"]
    problems = [p for p in (check(key, spec) for key, spec in lookups.items()) if p]
    if problems:
        module.fail_json(msg="; ".join(problems))
    for key, spec in lookups.items():
        kind = spec["type"]
        try:
            if kind.startswith("iam_"):
                resources[key] = describe_iam(clients("iam"), kind, spec["name"])
            elif kind == "log_group":
                resources[key] = describe_log_group(clients("logs"), spec["name"])
            elif kind == "http_api":
                resources[key] = describe_http_api(clients("apigatewayv2"), spec["name"])
            elif kind == "events_rule":
                resources[key] = describe_events_rule(clients("events"), spec["name"])
            elif kind == "lambda_function":
                resources[key] = describe_lambda_function(clients("lambda"), spec["name"])
            elif kind == "cloudwatch_dashboard":
                resources[key] = describe_dashboard(clients("cloudwatch"), spec["name"])
            elif kind == "sns_topic":
                resources[key] = describe_sns_topic(clients("sns"), spec["arn"])
            else:
                resources[key] = describe_ec2(clients("ec2"), kind, spec)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"cannot look up {key} ({kind})")
    return {"changed": False, "resources": resources}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    made: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in made:
            made[service] = module.client(service, retry_decorator=AWSRetry.jittered_backoff())
        return made[service]

    module.exit_json(**run(module, clients))


if __name__ == "__main__":
    main()
