#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_metric_alarms
short_description: Ensure a set of CloudWatch metric alarms in one call
description:
  - Reads every alarm named in O(alarms) with one DescribeAlarms call, compares each with what is wanted and
    writes (PutMetricAlarm) only those that are missing or differ. One module run for the whole set instead of one
    amazon.aws.cloudwatch_metric_alarm run per alarm.
  - Alarms not named in O(alarms) are left alone. Supports check mode and diff mode.
version_added: 1.1.0
author: clickstream-analytics
options:
  alarms:
    description:
      - The alarms. Each is a dict with C(name), C(description), C(namespace), C(metric), C(dimensions) (name ->
        value), C(statistic), C(comparison) (an API name such as C(GreaterThanThreshold)), C(threshold),
        C(period), C(evaluation_periods), C(datapoints) (datapoints to alarm), C(unit) (empty for none) and
        C(treat_missing_data).
    type: list
    elements: dict
    required: true
  alarm_actions:
    description: ARNs notified when an alarm goes to ALARM (every alarm of the set).
    type: list
    elements: str
    default: []
  ok_actions:
    description: ARNs notified when an alarm goes back to OK (every alarm of the set).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the alarms
  clickstream.platform.cloudwatch_metric_alarms:
    alarms:
      - name: shop-etl-errors
        description: The ETL failed
        namespace: AWS/Lambda
        metric: Errors
        dimensions: {FunctionName: shop-etl}
        statistic: Sum
        comparison: GreaterThanOrEqualToThreshold
        threshold: 1
        period: 300
        evaluation_periods: 1
        datapoints: 1
        unit: ""
        treat_missing_data: notBreaching
    alarm_actions: ["arn:aws:sns:us-east-1:123456789012:shop-alarms"]
    ok_actions: ["arn:aws:sns:us-east-1:123456789012:shop-alarms"]
"""

RETURN = r"""
alarms:
  description: Name -> whether the run wrote that alarm (created or updated; in check mode, would have).
  returned: always
  type: dict
  sample: {"shop-etl-errors": false}
"""

from typing import Any

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ARGUMENT_SPEC = dict(
    alarms=dict(type="list", elements="dict", required=True),
    alarm_actions=dict(type="list", elements="str", default=[]),
    ok_actions=dict(type="list", elements="str", default=[]),
)
REQUIRED = ("name", "description", "namespace", "metric", "dimensions", "statistic", "comparison", "threshold",
            "period", "evaluation_periods", "datapoints", "treat_missing_data")
# DescribeAlarms answers with at most 100 names per call.
NAMES_PER_CALL = 100


def wanted_params(alarm: dict[str, Any], alarm_actions: list[str], ok_actions: list[str]) -> dict[str, Any]:
    """PutMetricAlarm's parameters for one alarm of the input."""
    params = {
        "AlarmName": alarm["name"],
        "AlarmDescription": alarm["description"],
        "Namespace": alarm["namespace"],
        "MetricName": alarm["metric"],
        "Dimensions": [{"Name": k, "Value": str(v)} for k, v in (alarm["dimensions"] or {}).items()],
        "Statistic": alarm["statistic"],
        "ComparisonOperator": alarm["comparison"],
        "Threshold": float(alarm["threshold"]),
        "Period": int(alarm["period"]),
        "EvaluationPeriods": int(alarm["evaluation_periods"]),
        "DatapointsToAlarm": int(alarm["datapoints"]),
        "TreatMissingData": alarm["treat_missing_data"],
        "ActionsEnabled": True,
        "AlarmActions": list(alarm_actions),
        "OKActions": list(ok_actions),
    }
    if alarm.get("unit"):
        params["Unit"] = alarm["unit"]
    return params


def comparable(alarm: dict[str, Any]) -> dict[str, Any]:
    """The fields PutMetricAlarm sets, in a form where order does not matter (dimensions, actions)."""
    out = {k: alarm.get(k) for k in ("AlarmName", "AlarmDescription", "Namespace", "MetricName", "Statistic",
                                     "ComparisonOperator", "Period", "EvaluationPeriods", "DatapointsToAlarm",
                                     "Unit", "ActionsEnabled")}
    out["Threshold"] = float(alarm["Threshold"]) if alarm.get("Threshold") is not None else None
    # Alarms created before TreatMissingData existed behave as "missing" (amazon.aws.cloudwatch_metric_alarm too).
    out["TreatMissingData"] = alarm.get("TreatMissingData") or "missing"
    out["Dimensions"] = sorted((d["Name"], str(d["Value"])) for d in alarm.get("Dimensions") or [])
    out["AlarmActions"] = sorted(alarm.get("AlarmActions") or [])
    out["OKActions"] = sorted(alarm.get("OKActions") or [])
    return out


def check_input(alarms: list[dict[str, Any]]) -> list[str]:
    problems = []
    names = [a.get("name") for a in alarms]
    for i, alarm in enumerate(alarms):
        missing = [k for k in REQUIRED if alarm.get(k) in (None, "") and k != "dimensions"]
        if missing:
            problems.append(f"alarm {alarm.get('name') or i}: missing {', '.join(missing)}")
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        problems.append(f"alarm names given twice: {', '.join(duplicates)}")
    return problems


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from `client` (a cloudwatch client with the aws_retry wrapper)."""
    alarms = module.params["alarms"]
    problems = check_input(alarms)
    if problems:
        module.fail_json(msg="; ".join(problems))
    wanted = [wanted_params(a, module.params["alarm_actions"], module.params["ok_actions"]) for a in alarms]
    names = [w["AlarmName"] for w in wanted]
    current: dict[str, dict[str, Any]] = {}
    try:
        for start in range(0, len(names), NAMES_PER_CALL):
            page = client.describe_alarms(AlarmNames=names[start:start + NAMES_PER_CALL], AlarmTypes=["MetricAlarm"],
                                          aws_retry=True)
            current.update({a["AlarmName"]: a for a in page.get("MetricAlarms", [])})
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="cannot read the alarms (cloudwatch:DescribeAlarms)")
    written: dict[str, bool] = {}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for params in wanted:
        name = params["AlarmName"]
        old = current.get(name)
        changed = old is None or comparable(old) != comparable(params)
        written[name] = changed
        if not changed:
            continue
        before[name] = comparable(old) if old else None
        after[name] = comparable(params)
        if not module.check_mode:
            try:
                client.put_metric_alarm(aws_retry=True, **params)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"cannot write alarm {name} (cloudwatch:PutMetricAlarm)")
    result: dict[str, Any] = {"changed": any(written.values()), "alarms": written}
    if module._diff and result["changed"]:
        result["diff"] = {"before": before, "after": after}
    return result


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
