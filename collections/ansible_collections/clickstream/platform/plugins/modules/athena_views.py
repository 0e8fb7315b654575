#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: athena_views
short_description: Create the lake's views in Amazon Athena (CREATE OR REPLACE VIEW through StartQueryExecution)
description:
  - Runs C(CREATE OR REPLACE VIEW name AS select) in an Athena workgroup for each view given, and waits for each
    query. No Ansible module manages Athena views.
  - Idempotent through a tag on the workgroup that holds the SHA-256 of the database and the views' SQL; the
    views are created again only when their SQL (or the database) changed since the last run, or the tag is gone.
    A view dropped by hand comes back when the tag is removed.
  - Athena in the local emulator (moto) accepts the queries and runs nothing; there only the API calls can be
    checked.
  - Supports check mode (nothing is sent but the tag lookup).
version_added: 1.1.0
author: clickstream-analytics
options:
  database:
    description: The Glue database (Athena schema) of the lake's Iceberg tables and of the views.
    type: str
    required: true
  workgroup:
    description: The Athena workgroup the queries run in (its enforced result location and scan limit apply).
    type: str
    required: true
  views:
    description: View name -> its SELECT in Trino SQL (C(python -m clickstream_etl.lake.views) prints them).
    type: dict
    required: true
  wait_seconds:
    description: How long to wait for each query.
    type: int
    default: 120
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The lake's views in Athena
  clickstream.platform.athena_views:
    database: clickstream_dev_lake
    workgroup: clickstream-dev-lake
    views: "{{ __lake_views.stdout | from_json }}"
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: list
  elements: str
query_execution_ids:
  description: The Athena query execution id of each view created.
  returned: always
  type: dict
"""

import hashlib
import json
import re
import time

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore  # noqa: F401
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

TAG = "clickstream:lake-views-sha256"
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


def digest(database: str, views: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps([database, sorted(views.items())]).encode()).hexdigest()


def statement(name: str, select: str) -> str:
    return f"CREATE OR REPLACE VIEW {name} AS\n{select.strip()}"


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            database=dict(type="str", required=True),
            workgroup=dict(type="str", required=True),
            views=dict(type="dict", required=True),
            wait_seconds=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    p = module.params
    bad = [n for n in p["views"] if not NAME.match(n)]
    if bad or not NAME.match(p["database"]):
        module.fail_json(msg=f"view and database names must match {NAME.pattern}: {bad or p['database']}")
    athena = module.client("athena", retry_decorator=AWSRetry.jittered_backoff())
    try:
        wg = athena.get_work_group(WorkGroup=p["workgroup"]).get("WorkGroup")
    except is_boto3_error_code("InvalidRequestException"):  # AWS's answer for a missing workgroup
        wg = None
    except Exception as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"reading workgroup {p['workgroup']}")
    if not wg:  # (the emulator answers without one)
        if module.check_mode:  # check mode on a new platform: the lake play only planned the workgroup
            module.exit_json(changed=True, query_execution_ids={},
                             actions=[f"create or replace view {p['database']}.{n}" for n in sorted(p["views"])])
        module.fail_json(msg=f"Athena workgroup {p['workgroup']} not found: it is made by the lake play (--tags lake)")
    partition, account = _caller(module)
    arn = f"arn:{partition}:athena:{module.region}:{account}:workgroup/{wg['Name']}"
    tags = _tags(module, athena, arn)
    want = digest(p["database"], p["views"])
    if tags.get(TAG) == want:
        module.exit_json(changed=False, actions=[], query_execution_ids={})
    actions = [f"create or replace view {p['database']}.{n}" for n in sorted(p["views"])]
    if module.check_mode:
        module.exit_json(changed=True, actions=actions, query_execution_ids={})
    ids = {}
    for name in sorted(p["views"]):
        try:
            qid = athena.start_query_execution(
                QueryString=statement(name, p["views"][name]),
                QueryExecutionContext={"Database": p["database"]}, WorkGroup=p["workgroup"])["QueryExecutionId"]
        except Exception as e:
            module.fail_json_aws(e, msg=f"starting CREATE VIEW {name}")
        ids[name] = qid
        deadline = time.monotonic() + p["wait_seconds"]
        while True:
            status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
            if status["State"] in DONE:
                break
            if time.monotonic() > deadline:
                module.fail_json(msg=f"CREATE VIEW {name} did not finish in {p['wait_seconds']} s", query_id=qid)
            time.sleep(1)
        if status["State"] != "SUCCEEDED":
            module.fail_json(msg=f"CREATE VIEW {name}: {status['State']}: {status.get('StateChangeReason', '')}",
                             query_id=qid)
    try:
        athena.tag_resource(ResourceARN=arn, Tags=[{"Key": TAG, "Value": want}])
    except Exception as e:
        module.fail_json_aws(e, msg=f"tagging workgroup {p['workgroup']}")
    module.exit_json(changed=True, actions=actions, query_execution_ids=ids)


def _tags(module, athena, arn: str) -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in athena.list_tags_for_resource(ResourceARN=arn).get("Tags", [])}
    except Exception as e:
        # The emulator answers "Resource ... Does Not Exist" for a resource without tags (AWS: an empty list); the
        # workgroup's existence was checked by GetWorkGroup above.
        if "Does Not Exist" in str(e):
            return {}
        module.fail_json_aws(e, msg=f"reading the tags of {arn}")


def _caller(module) -> tuple[str, str]:
    """The partition (aws, aws-cn, aws-us-gov) and account of the caller: the workgroup's ARN is built from them."""
    identity = module.client("sts").get_caller_identity()
    return identity["Arn"].split(":")[1], identity["Account"]


if __name__ == "__main__":
    main()
