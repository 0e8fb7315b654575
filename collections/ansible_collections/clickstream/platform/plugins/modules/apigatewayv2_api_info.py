#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apigatewayv2_api_info
short_description: Look up API Gateway v2 (HTTP/WebSocket) APIs by name
description:
  - Returns the APIs whose name equals O(name) (all APIs when it is omitted), with their ids and endpoints, so
    other roles (alarms, dashboards) can find the ApiId of the HTTP API the ingest role created.
version_added: 1.0.0
author: clickstream-analytics
options:
  name:
    description: Exact API name. Omit to list every API.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find the ingest HTTP API
  clickstream.platform.apigatewayv2_api_info:
    name: clickstream-dev-http-api
  register: api
"""

RETURN = r"""
apis:
  description: The matching APIs (snake_case keys of GetApis items; tags unchanged).
  returned: always
  type: list
  elements: dict
  sample: [{"api_id": "a1b2c3", "name": "clickstream-dev-http-api", "protocol_type": "HTTP",
            "api_endpoint": "https://a1b2c3.execute-api.us-east-1.amazonaws.com"}]
"""

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main() -> None:
    module = AnsibleAWSModule(argument_spec=dict(name=dict(type="str")), supports_check_mode=True)
    client = module.client("apigatewayv2", retry_decorator=AWSRetry.jittered_backoff())
    apis, token = [], None
    try:
        while True:
            page = client.get_apis(**({"NextToken": token} if token else {}), aws_retry=True)
            apis.extend(page.get("Items", []))
            token = page.get("NextToken")
            if not token:
                break
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="cannot list the API Gateway v2 APIs")
    wanted = module.params["name"]
    found = [camel_dict_to_snake_dict(a, ignore_list=["Tags"]) for a in apis if wanted is None or a["Name"] == wanted]
    module.exit_json(changed=False, apis=found)


if __name__ == "__main__":
    main()
