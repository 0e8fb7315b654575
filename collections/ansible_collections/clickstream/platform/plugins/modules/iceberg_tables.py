#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iceberg_tables
short_description: Ensure the lake's Glue database and its Iceberg tables (events, sessions)
description:
  - Makes the Glue database and the Apache Iceberg tables C(events) and C(sessions) of the clickstream lake when
    missing, and adds to an existing table the columns it lacks, with pyiceberg over the Glue catalog. The schemas
    and partition specs are the ETL's own (clickstream_etl.lake.schema, from the ETL's one list of event columns),
    imported from I(etl_source); the ETL itself calls the same function before each export.
  - Needs pyiceberg (with its glue and pyarrow extras) where the module runs (the control node's venv).
  - With I(state=absent) (the teardown), deletes every table of the Glue database (the Iceberg tables and any view
    Athena made there) and then the database, with the Glue API only; the tables' files in S3 are left alone (the
    teardown deletes the bucket, or keeps it with the catalog).
  - Idempotent, supports check mode.
version_added: 1.1.0
author: clickstream-analytics
options:
  database:
    description: Glue database (Iceberg namespace).
    type: str
    required: true
  location:
    description: s3://bucket/prefix under which each table lives (<location>/<table>). Required with I(state=present).
    type: str
  etl_source:
    description: The ETL's source directory (lambdas/etl/src), where clickstream_etl.lake lives. Required with
      I(state=present).
    type: path
  state:
    description: C(present) makes what is missing; C(absent) deletes the database with all its tables.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The lake's tables
  clickstream.platform.iceberg_tables:
    database: clickstream_dev_lake
    location: s3://clickstream-dev-lake-123456789012-eu-west-1/iceberg
    etl_source: "{{ playbook_dir }}/../lambdas/etl/src"

- name: Remove them (teardown)
  clickstream.platform.iceberg_tables:
    database: clickstream_dev_lake
    state: absent
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: list
  elements: str
"""

import os
import sys

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore  # noqa: F401
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource


def absent(module: AnsibleAWSModule, database: str) -> None:
    """Delete every table of the database (Iceberg tables, views), then the database. Glue's DeleteDatabase would
    drop the tables too, later and asynchronously; deleting them first names each one in the actions."""
    glue = module.client("glue", retry_decorator=AWSRetry.jittered_backoff())
    r = Boto3Resource(module, glue, failure_msg="glue {method} failed")
    if r.call("get_database", Name=database, none_on=("EntityNotFoundException",)) is None:
        r.exit_json(with_diff=False)
    tables, token = [], None
    while True:
        page = r.call("get_tables", DatabaseName=database, **({"NextToken": token} if token else {}))
        tables += [t["Name"] for t in page.get("TableList", [])]
        token = page.get("NextToken")
        if not token:
            break
    for name in sorted(tables):
        r.change(f"delete Glue table {database}.{name}", "delete_table", DatabaseName=database, Name=name)
    r.change(f"delete Glue database {database}", "delete_database", Name=database)
    r.exit_json(with_diff=False)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(database=dict(type="str", required=True), location=dict(type="str"),
                           etl_source=dict(type="path"),
                           state=dict(type="str", default="present", choices=["present", "absent"])),
        required_if=[("state", "present", ("location", "etl_source"))],
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "absent":
        absent(module, p["database"])
    if not p["location"].startswith("s3://"):
        module.fail_json(msg=f"location must be s3://bucket/prefix, got {p['location']!r}")
    if not os.path.isdir(os.path.join(p["etl_source"], "clickstream_etl", "lake")):
        module.fail_json(msg=f"etl_source {p['etl_source']} has no clickstream_etl/lake")
    sys.path.insert(0, p["etl_source"])
    try:
        from clickstream_etl.lake import catalog
    except ImportError as e:
        module.fail_json(msg=f"cannot import the lake's code (is pyiceberg installed?): {e}")
    env = dict(os.environ)
    if module.region:
        env["AWS_REGION"] = module.region
    for param, var in (("endpoint_url", "AWS_ENDPOINT_URL"), ("access_key", "AWS_ACCESS_KEY_ID"),
                       ("secret_key", "AWS_SECRET_ACCESS_KEY"), ("session_token", "AWS_SESSION_TOKEN")):
        if module.params.get(param):
            env[var] = module.params[param]
    try:
        actions = catalog.ensure_tables(catalog.load(env), p["database"], p["location"].rstrip("/"),
                                        check=module.check_mode)
    except Exception as e:  # pyiceberg wraps boto3's errors in its own
        module.fail_json(msg=f"cannot ensure the lake's tables in {p['database']}: {type(e).__name__}: {e}")
    module.exit_json(changed=bool(actions), actions=actions)


if __name__ == "__main__":
    main()
