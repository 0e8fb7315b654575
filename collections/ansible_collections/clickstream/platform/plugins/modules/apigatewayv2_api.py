#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apigatewayv2_api
short_description: Manage an API Gateway v2 HTTP API that proxies routes to one Lambda function
description:
  - Creates, updates or deletes an HTTP API (API Gateway v2) identified by its O(name), with one
    C(AWS_PROXY) Lambda integration, the routes in O(route_keys) pointing at it, one stage (normally
    C($default) with auto-deploy) carrying throttling and access-log settings, a CORS configuration and tags.
  - The API is managed as a whole, so routes not listed in O(route_keys) and integrations no route uses are removed.
  - Idempotent; in check mode it reports what it would change (RV(actions)) without changing anything.
  - Does not add the Lambda permission for API Gateway; use M(amazon.aws.lambda_policy) with RV(api.execution_arn).
version_added: 1.0.0
author: clickstream-analytics
options:
  name:
    description: Name of the API. More than one API with this name is an error.
    type: str
    required: true
  state:
    description: Whether the API should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description of the API.
    type: str
    default: ""
  lambda_arn:
    description:
      - ARN of the Lambda function the routes invoke (a version qualifier is dropped). Required with O(state=present).
    type: str
  payload_format_version:
    description: Payload format of the Lambda proxy integration.
    type: str
    choices: ["1.0", "2.0"]
    default: "2.0"
  integration_timeout_ms:
    description: Integration timeout in milliseconds (50-30000).
    type: int
    default: 10000
  route_keys:
    description: Route keys (C(METHOD /path)) that invoke the Lambda function.
    type: list
    elements: str
    default: ["POST /clickstream"]
  cors:
    description: CORS configuration; omit or give no O(cors.allow_origins) to have none.
    type: dict
    suboptions:
      allow_origins:
        description: Allowed origins (C(https://shop.example.com)); C(*) for any.
        type: list
        elements: str
        default: []
      allow_methods:
        description: Allowed methods.
        type: list
        elements: str
        default: [POST, OPTIONS]
      allow_headers:
        description: Allowed request headers.
        type: list
        elements: str
        default: [content-type]
      expose_headers:
        description: Response headers the browser may read.
        type: list
        elements: str
        default: []
      max_age:
        description: Seconds a browser may cache a preflight answer.
        type: int
        default: 3600
      allow_credentials:
        description: Whether credentials (cookies) are allowed.
        type: bool
        default: false
  stage:
    description: The stage.
    type: dict
    suboptions:
      name:
        description: Stage name.
        type: str
        default: $default
      auto_deploy:
        description: Deploy every change automatically.
        type: bool
        default: true
      throttling_rate_limit:
        description: Steady-state requests per second for every route of the stage.
        type: float
      throttling_burst_limit:
        description: Burst of requests for every route of the stage.
        type: int
      detailed_metrics:
        description: Per-route CloudWatch metrics.
        type: bool
        default: false
      access_log_destination_arn:
        description: ARN of the CloudWatch Logs log group for access logs (without C(:*)).
        type: str
      access_log_format:
        description: Access log format (C($context) variables).
        type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: HTTP API POST /clickstream -> Lambda
  clickstream.platform.apigatewayv2_api:
    name: clickstream-dev-http-api
    lambda_arn: arn:aws:lambda:eu-west-1:123456789012:function:clickstream-dev-ingest
    route_keys: ["POST /clickstream"]
    cors:
      allow_origins: ["https://shop.example.com"]
    stage:
      name: $default
      throttling_rate_limit: 100
      throttling_burst_limit: 200
      access_log_destination_arn: arn:aws:logs:eu-west-1:123456789012:log-group:/aws/apigateway/clickstream-dev-http-api
      access_log_format: '{"requestId":"$context.requestId","status":"$context.status"}'
    tags:
      Project: clickstream

- name: Remove it
  clickstream.platform.apigatewayv2_api:
    name: clickstream-dev-http-api
    state: absent
"""

RETURN = r"""
actions:
  description: What was changed (or, in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: ["create api", "create integration", "create route POST /clickstream", "create stage $default"]
api:
  description: The API (empty when absent, or when it would be created in check mode).
  returned: always
  type: dict
  contains:
    api_id: {description: API id, type: str}
    api_endpoint: {description: "Base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com", type: str}
    execution_arn: {description: "arn:aws:execute-api:REGION:ACCOUNT:API_ID, for Lambda permissions", type: str}
    name: {description: Name, type: str}
    cors_configuration: {description: CORS configuration, type: dict}
    tags: {description: Tags, type: dict}
integration:
  description: The Lambda proxy integration.
  returned: when the API exists
  type: dict
routes:
  description: The routes.
  returned: when the API exists
  type: list
  elements: dict
stage:
  description: The managed stage.
  returned: when the API exists
  type: dict
"""

from typing import Any

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.apigatewayv2 import (
    LAMBDA_INTEGRATION_TYPE,
    cors_differs,
    desired_cors,
    desired_stage,
    integration_differs,
    integration_matches,
    route_plan,
    stage_differs,
    unversioned_lambda_arn,
)
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource, paginate
from ansible_collections.clickstream.platform.plugins.module_utils.tags import TAG_OPTIONS, tag_changes, tag_values

NOT_IMPLEMENTED = {"NotImplemented", "NotImplementedException", "InternalFailure", "InternalServerError", "500"}


class HttpApi(Boto3Resource):
    failure_msg = "apigatewayv2 {method} failed"

    def __init__(self, module: AnsibleAWSModule) -> None:
        super().__init__(module, module.client("apigatewayv2", retry_decorator=AWSRetry.jittered_backoff()))

    def items(self, method: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a paginated get_* listing (apis, integrations, routes, stages)."""
        return paginate(lambda **token: self.call(method, **kwargs, **token), "Items")

    # -- lookups -------------------------------------------------------------------------------------------
    def find(self, name: str) -> dict[str, Any] | None:
        return self.single_named(self.items("get_apis"), name, what="APIs", id_key="ApiId", ids_key="api_ids")

    def api_arn(self, api_id: str) -> str:
        return f"arn:aws:apigateway:{self.module.region}::/apis/{api_id}"

    # -- present -------------------------------------------------------------------------------------------
    def ensure(self) -> dict[str, Any]:
        p = self.module.params
        if not p["lambda_arn"]:
            self.module.fail_json(msg="lambda_arn is required with state=present")
        lambda_arn = unversioned_lambda_arn(p["lambda_arn"])
        cors = desired_cors(p["cors"])
        api = self.find(p["name"])
        if api is None:
            args: dict[str, Any] = {"Name": p["name"], "ProtocolType": "HTTP", "Description": p["description"]}
            if cors:
                args["CorsConfiguration"] = cors
            if p["tags"]:
                args["Tags"] = tag_values(p["tags"])
            api = self.change("create api", "create_api", **args)
            if api is None:  # check mode: everything below would be created too
                self.actions += ["create integration", *[f"create route {k}" for k in p["route_keys"]],
                                 f"create stage {(p['stage'] or {}).get('name') or '$default'}"]
                return {}
        else:
            self.update_api(api, cors)
        api_id = api["ApiId"]
        integration_id = self.ensure_integration(api_id, lambda_arn)
        self.ensure_routes(api_id, integration_id)
        self.ensure_stage(api_id)
        return self.describe(api_id)

    def update_api(self, api: dict[str, Any], cors: dict[str, Any] | None) -> None:
        p = self.module.params
        api_id = api["ApiId"]
        if (api.get("Description") or "") != p["description"]:
            self.change("update description", "update_api", ApiId=api_id, Description=p["description"])
        if cors_differs(api.get("CorsConfiguration"), cors):
            if cors:
                self.change("update cors", "update_api", ApiId=api_id, CorsConfiguration=cors)
            else:
                self.change("delete cors", "delete_cors_configuration", ApiId=api_id)
        if p["tags"] is not None:
            to_set, to_remove = tag_changes(api.get("Tags"), p["tags"], p["purge_tags"])
            if to_set:
                self.change(f"tag {sorted(to_set)}", "tag_resource", ResourceArn=self.api_arn(api_id), Tags=to_set)
            if to_remove:
                self.change(f"untag {to_remove}", "untag_resource", ResourceArn=self.api_arn(api_id),
                            TagKeys=to_remove)

    def ensure_integration(self, api_id: str, lambda_arn: str) -> str | None:
        p = self.module.params
        integrations = self.items("get_integrations", ApiId=api_id)
        ours = [i for i in integrations if integration_matches(i, lambda_arn)]
        if not ours:
            created = self.change("create integration", "create_integration", ApiId=api_id,
                                  IntegrationType=LAMBDA_INTEGRATION_TYPE, IntegrationUri=lambda_arn,
                                  IntegrationMethod="POST", PayloadFormatVersion=p["payload_format_version"],
                                  TimeoutInMillis=p["integration_timeout_ms"])
            return created["IntegrationId"] if created else None
        integration = ours[0]
        if integration_differs(integration, p["payload_format_version"], p["integration_timeout_ms"]):
            self.change("update integration", "update_integration", ApiId=api_id,
                        IntegrationId=integration["IntegrationId"], PayloadFormatVersion=p["payload_format_version"],
                        TimeoutInMillis=p["integration_timeout_ms"])
        return integration["IntegrationId"]

    def ensure_routes(self, api_id: str, integration_id: str | None) -> None:
        target = f"integrations/{integration_id}" if integration_id else None
        routes = self.items("get_routes", ApiId=api_id)
        create, retarget, delete = route_plan(routes, self.module.params["route_keys"], target)
        for key in create:
            self.change(f"create route {key}", "create_route", ApiId=api_id, RouteKey=key,
                        AuthorizationType="NONE", **({"Target": target} if target else {}))
        for route in retarget:
            self.change(f"retarget route {route['RouteKey']}", "update_route", ApiId=api_id,
                        RouteId=route["RouteId"], **({"Target": target} if target else {}))
        for route in delete:
            self.change(f"delete route {route['RouteKey']}", "delete_route", ApiId=api_id, RouteId=route["RouteId"])
        # integrations no route uses any more (e.g. an earlier Lambda ARN)
        integrations = self.items("get_integrations", ApiId=api_id)
        for integration in integrations:
            if integration_id and integration["IntegrationId"] != integration_id:
                self.change(f"delete integration {integration['IntegrationId']}", "delete_integration",
                            ApiId=api_id, IntegrationId=integration["IntegrationId"])

    def ensure_stage(self, api_id: str) -> None:
        want = desired_stage(self.module.params["stage"] or {})
        name = want["StageName"]
        stages = {s["StageName"]: s for s in self.items("get_stages", ApiId=api_id)}
        if name not in stages:
            self.change(f"create stage {name}", "create_stage", ApiId=api_id, **want)
            return
        diffs = stage_differs(stages[name], want)
        if not diffs:
            return
        updated = self.change(f"update stage {name}: {', '.join(diffs)}", "update_stage", none_on=NOT_IMPLEMENTED,
                              ApiId=api_id, **want)
        if updated is None and not self.check:
            # An emulator without UpdateStage: replace the stage (same name, same settings as requested).
            self.call("delete_stage", ApiId=api_id, StageName=name)
            self.call("create_stage", ApiId=api_id, **want)

    # -- absent --------------------------------------------------------------------------------------------
    def remove(self) -> None:
        api = self.find(self.module.params["name"])
        if api is not None:
            self.change("delete api", "delete_api", ApiId=api["ApiId"])

    # -- result --------------------------------------------------------------------------------------------
    def describe(self, api_id: str) -> dict[str, Any]:
        api = self.call("get_api", ApiId=api_id)
        account_id, partition = get_aws_account_info(self.module)
        integrations = self.items("get_integrations", ApiId=api_id)
        routes = self.items("get_routes", ApiId=api_id)
        stage_name = (self.module.params["stage"] or {}).get("name") or "$default"
        stages = [s for s in self.items("get_stages", ApiId=api_id)
                  if s["StageName"] == stage_name]
        for item in (api, *integrations, *routes, *stages):
            item.pop("ResponseMetadata", None)
        out = camel_dict_to_snake_dict(api, ignore_list=["Tags"])
        out["execution_arn"] = f"arn:{partition}:execute-api:{self.module.region}:{account_id}:{api_id}"
        return {
            "api": out,
            "integration": camel_dict_to_snake_dict(integrations[0]) if integrations else {},
            "routes": [camel_dict_to_snake_dict(r) for r in routes],
            "stage": camel_dict_to_snake_dict(stages[0], ignore_list=["Tags"]) if stages else {},
        }


def main() -> None:
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        description=dict(type="str", default=""),
        lambda_arn=dict(type="str"),
        payload_format_version=dict(type="str", choices=["1.0", "2.0"], default="2.0"),
        integration_timeout_ms=dict(type="int", default=10000),
        route_keys=dict(type="list", elements="str", default=["POST /clickstream"]),
        cors=dict(type="dict", options=dict(
            allow_origins=dict(type="list", elements="str", default=[]),
            allow_methods=dict(type="list", elements="str", default=["POST", "OPTIONS"]),
            allow_headers=dict(type="list", elements="str", default=["content-type"]),
            expose_headers=dict(type="list", elements="str", default=[]),
            max_age=dict(type="int", default=3600),
            allow_credentials=dict(type="bool", default=False),
        )),
        stage=dict(type="dict", options=dict(
            name=dict(type="str", default="$default"),
            auto_deploy=dict(type="bool", default=True),
            throttling_rate_limit=dict(type="float"),
            throttling_burst_limit=dict(type="int"),
            detailed_metrics=dict(type="bool", default=False),
            access_log_destination_arn=dict(type="str"),
            access_log_format=dict(type="str"),
        )),
        **TAG_OPTIONS,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("state", "present", ["lambda_arn"])])
    if not 50 <= module.params["integration_timeout_ms"] <= 30000:
        module.fail_json(msg="integration_timeout_ms must be between 50 and 30000")
    manager = HttpApi(module)
    if module.params["state"] == "absent":
        manager.remove()
        manager.exit_json(with_diff=False, api={})
    result = manager.ensure()
    manager.exit_json(with_diff=False, **({"api": {}} | result))


if __name__ == "__main__":
    main()
