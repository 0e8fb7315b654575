#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_app
short_description: Manage an AWS Amplify Hosting app (platform, environment variables, custom headers, repository)
description:
  - Creates, updates or deletes the Amplify app named O(name), with its platform (C(WEB_COMPUTE) for Next.js SSR),
    environment variables, custom response headers, build settings, an optional repository connection, and tags.
  - O(secret_environment_variables) are never logged or returned (their values show as C(********)); use them for
    values such as C(DATABASE_URL).
  - The repository access token cannot be read back, so it is sent only when the app is created or its
    O(repository) changes.
  - Idempotent (describe, compare, change only what differs); supports check mode and diff mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  name:
    description: Name of the app. More than one app with this name is an error.
    type: str
    required: true
  state:
    description: Whether the app should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description of the app.
    type: str
    default: ""
  platform:
    description: C(WEB_COMPUTE) for SSR (Next.js 12+), C(WEB) for static sites.
    type: str
    choices: [WEB, WEB_COMPUTE, WEB_DYNAMIC]
    default: WEB_COMPUTE
  environment_variables:
    description: Environment variables of the app (not secret).
    type: dict
    default: {}
  secret_environment_variables:
    description: Environment variables whose values are secret (never logged or returned).
    type: dict
    default: {}
  custom_headers:
    description: Custom response headers, one entry per path pattern.
    type: list
    elements: dict
    default: []
    suboptions:
      pattern: {description: "Path pattern (C(**) for every path).", type: str, required: true}
      headers: {description: Header name -> value., type: dict, required: true}
  repository:
    description: Git repository URL to connect (C(https://github.com/owner/repo)); empty for manual deployments.
    type: str
    default: ""
  access_token:
    description: Personal access token of the repository (GitHub); required when connecting a repository.
    type: str
  enable_branch_auto_build:
    description: Build branches automatically on each commit.
    type: bool
    default: false
  iam_service_role_arn:
    description: Service role of the app (for backend builds); empty for none.
    type: str
    default: ""
  build_spec:
    description: Build specification (YAML); empty to let Amplify detect it.
    type: str
    default: ""
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Amplify app of the Next.js shop
  clickstream.platform.amplify_app:
    name: clickstream-dev-shop
    platform: WEB_COMPUTE
    environment_variables:
      NEXT_PUBLIC_COGNITO_USER_POOL_ID: us-east-1_abc
    secret_environment_variables:
      DATABASE_URL: "{{ database_url }}"
    custom_headers:
      - pattern: "**"
        headers:
          Strict-Transport-Security: max-age=31536000; includeSubDomains
          X-Content-Type-Options: nosniff
  no_log: true
"""

RETURN = r"""
actions:
  description: What was changed (or, in check mode, would be).
  returned: always
  type: list
  elements: str
app:
  description: The app (empty when absent, or when it would be created in check mode); secret values redacted.
  returned: always
  type: dict
  contains:
    app_id: {description: App id, type: str}
    app_arn: {description: App ARN, type: str}
    default_domain: {description: "Default domain (C(<app_id>.amplifyapp.com))", type: str}
    name: {description: Name, type: str}
    platform: {description: Platform, type: str}
    environment_variables: {description: Environment variables (secret values as ********), type: dict}
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.amplify import (
    app_update_args,
    app_view,
    desired_app_view,
    differences,
    redact_env,
    render_custom_headers,
)
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource, paginate
from ansible_collections.clickstream.platform.plugins.module_utils.tags import TAG_OPTIONS, tag_changes, tag_values


class AmplifyApp(Boto3Resource):
    failure_msg = "amplify {method} failed"

    def __init__(self, module: Any, client: Any) -> None:
        super().__init__(module, client)
        self.secret_names = set((module.params.get("secret_environment_variables") or {}).keys())

    def find(self, name: str) -> dict[str, Any] | None:
        apps = paginate(lambda **token: self.call("list_apps", maxResults=100, **token), "apps", "nextToken")
        return self.single_named(apps, name, what="Amplify apps", id_key="appId", ids_key="app_ids", name_key="name")

    def shown(self, view: dict[str, Any]) -> dict[str, Any]:
        """A view fit for the diff: secret values redacted."""
        return {**view, "environment_variables": redact_env(view["environment_variables"], self.secret_names)}

    def ensure(self) -> dict[str, Any]:
        p = self.module.params
        desired = desired_app_view(p)
        headers_yaml = render_custom_headers(p["custom_headers"])
        self.after = self.shown(desired)
        app = self.find(p["name"])
        if app is None:
            return self.create(desired, headers_yaml)
        current = app_view(app, desired)
        self.before = self.shown(current)
        if current["repository"] and not desired["repository"]:
            # Amplify cannot turn a repository-connected app into a manual-deployment app.
            self.module.warn(f"Amplify app {p['name']} stays connected to {current['repository']}; delete the app "
                             "to deploy it manually instead")
            desired = {**desired, "repository": current["repository"]}
            self.after = self.shown(desired)
        args = app_update_args(current, desired, headers_yaml)
        if current["repository"] != desired["repository"]:
            if not p["access_token"]:
                self.module.fail_json(msg="connecting a repository needs access_token")
            args["repository"] = desired["repository"]
            args["accessToken"] = p["access_token"]
        if args:
            updated = self.change(f"update app: {', '.join(differences(current, desired))}", "update_app",
                                  appId=app["appId"], **args)
            app = updated["app"] if updated else app
        self.ensure_tags(app)
        return self.result(app)

    def create(self, desired: dict[str, Any], headers_yaml: str) -> dict[str, Any]:
        p = self.module.params
        args: dict[str, Any] = {"name": p["name"], "description": desired["description"],
                                "platform": desired["platform"],
                                "environmentVariables": desired["environment_variables"],
                                "enableBranchAutoBuild": desired["enable_branch_auto_build"]}
        if headers_yaml:
            args["customHeaders"] = headers_yaml
        if desired["repository"]:
            if not p["access_token"]:
                self.module.fail_json(msg="connecting a repository needs access_token")
            args["repository"] = desired["repository"]
            args["accessToken"] = p["access_token"]
        if desired["iam_service_role_arn"]:
            args["iamServiceRoleArn"] = desired["iam_service_role_arn"]
        if desired["build_spec"]:
            args["buildSpec"] = desired["build_spec"]
        if p["tags"]:
            args["tags"] = tag_values(p["tags"])
        created = self.change("create app", "create_app", **args)
        return self.result(created["app"]) if created else {}

    def ensure_tags(self, app: dict[str, Any]) -> None:
        p = self.module.params
        if p["tags"] is None:
            return
        to_set, to_remove = tag_changes(app.get("tags"), p["tags"], p["purge_tags"])
        if to_set:
            self.change(f"tag {sorted(to_set)}", "tag_resource", resourceArn=app["appArn"], tags=to_set)
        if to_remove:
            self.change(f"untag {to_remove}", "untag_resource", resourceArn=app["appArn"], tagKeys=to_remove)

    def result(self, app: dict[str, Any]) -> dict[str, Any]:
        return {
            "app_id": app["appId"], "app_arn": app.get("appArn", ""), "name": app.get("name", ""),
            "default_domain": app.get("defaultDomain", ""), "platform": app.get("platform", ""),
            "environment_variables": redact_env(app.get("environmentVariables"), self.secret_names),
            "custom_headers": app.get("customHeaders", ""), "repository": app.get("repository", ""),
            "tags": app.get("tags", {}),
        }

    def remove(self) -> None:
        app = self.find(self.module.params["name"])
        if app is not None:
            self.before = {"name": app["name"], "app_id": app["appId"]}
            self.change("delete app", "delete_app", appId=app["appId"])


ARGUMENT_SPEC: dict[str, Any] = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    description=dict(type="str", default=""),
    platform=dict(type="str", choices=["WEB", "WEB_COMPUTE", "WEB_DYNAMIC"], default="WEB_COMPUTE"),
    environment_variables=dict(type="dict", default={}),
    secret_environment_variables=dict(type="dict", default={}, no_log=True),
    custom_headers=dict(type="list", elements="dict", default=[], options=dict(
        pattern=dict(type="str", required=True),
        headers=dict(type="dict", required=True),
    )),
    repository=dict(type="str", default=""),
    access_token=dict(type="str", no_log=True),
    enable_branch_auto_build=dict(type="bool", default=False),
    iam_service_role_arn=dict(type="str", default=""),
    build_spec=dict(type="str", default=""),
    **TAG_OPTIONS,
)


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    manager = AmplifyApp(module, module.client("amplify", retry_decorator=AWSRetry.jittered_backoff()))
    if module.params["state"] == "absent":
        manager.remove()
        manager.exit_json(app={})
    result = manager.ensure()
    manager.exit_json(app=result)


if __name__ == "__main__":
    main()
