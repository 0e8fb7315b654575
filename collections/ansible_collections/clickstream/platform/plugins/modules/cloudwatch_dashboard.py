#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Create, update or delete a CloudWatch dashboard
description:
  - amazon.aws and community.aws have no dashboard module; this one manages one dashboard by name with
    GetDashboard / PutDashboard / DeleteDashboards. The body is compared as parsed JSON, so key order and
    whitespace never cause a change. Idempotent, supports check mode and diff mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  name:
    description: Dashboard name (letters, digits, C(-) and C(_), up to 255 characters).
    type: str
    required: true
  state:
    description: Whether the dashboard should exist.
    type: str
    default: present
    choices: [present, absent]
  body:
    description:
      - The dashboard body (C(widgets), optional C(start), C(periodOverride) ...) as a dict or a JSON string.
        Required with O(state=present).
    type: raw
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Pipeline dashboard
  clickstream.platform.cloudwatch_dashboard:
    name: clickstream-dev-pipeline
    body:
      widgets:
        - type: metric
          x: 0
          y: 0
          width: 12
          height: 6
          properties:
            title: Events loaded
            region: us-east-1
            metrics: [["Clickstream/ETL", "EventsLoaded", "Pipeline", "clickstream-dev"]]
            stat: Sum
            period: 1800
"""

RETURN = r"""
dashboard_arn:
  description: ARN of the dashboard (absent after a delete).
  returned: when the dashboard exists
  type: str
validation_messages:
  description: Warnings CloudWatch returned for the body.
  returned: when the body was written
  type: list
  elements: dict
"""

import json
import re
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def parse_body(body: Any) -> dict[str, Any]:
    """The body as a dict; a JSON string is parsed. Raises ValueError on anything else."""
    if isinstance(body, str):
        body = json.loads(body)
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        raise ValueError("body must be a dict (or JSON object) with a 'widgets' list")
    return body


def canonical(body: dict[str, Any]) -> str:
    """Order-independent text of a body, for comparing and for sending."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(name=dict(type="str", required=True),
                           state=dict(type="str", default="present", choices=["present", "absent"]),
                           body=dict(type="raw")),
        required_if=[("state", "present", ["body"])],
        supports_check_mode=True,
    )
    name, state = module.params["name"], module.params["state"]
    if not NAME_RE.match(name):
        module.fail_json(msg=f"invalid dashboard name {name!r}: letters, digits, '-' and '_' only")
    desired = None
    if state == "present":
        try:
            desired = parse_body(module.params["body"])
        except ValueError as e:
            module.fail_json(msg=f"invalid dashboard body: {e}")
    aws = Boto3Resource(module, module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff()),
                        failure_msg=f"cannot manage the CloudWatch dashboard {name}")
    current = aws.call("get_dashboard", none_on={"ResourceNotFound"}, DashboardName=name)
    before = json.loads(current["DashboardBody"]) if current else None
    result: dict[str, Any] = {}
    if state == "absent":
        if current is not None:
            aws.change("delete", "delete_dashboards", DashboardNames=[name])
    elif before is None or canonical(before) != canonical(desired):
        put = aws.change("put", "put_dashboard", DashboardName=name, DashboardBody=canonical(desired))
        if put is not None:
            result["validation_messages"] = put.get("DashboardValidationMessages", [])
            current = aws.call("get_dashboard", DashboardName=name)
    if state == "present" and current:
        result["dashboard_arn"] = current.get("DashboardArn")
    diff = {"before": canonical(before) + "\n" if before else "", "after": canonical(desired) + "\n" if desired else ""}
    module.exit_json(changed=bool(aws.actions), diff=diff, **result)


if __name__ == "__main__":
    main()
