#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amplify_branch
short_description: Manage a branch of an AWS Amplify Hosting app, optionally deploying a built artifact from S3
description:
  - Creates, updates or deletes the branch O(branch_name) of the Amplify app O(app_id), with its stage, framework
    (C(Next.js - SSR)), auto build, environment variables and tags.
  - With O(deployment), deploys a built artifact (a zip in S3) manually with CreateDeployment, upload of the zip to
    the URL it returns, StartDeployment. The artifact's key and ETag are recorded in the branch tag
    C(clickstream:deployed-artifact), so the same artifact is not deployed twice; O(purge_tags) never removes it.
  - O(secret_environment_variables) are never logged or returned.
  - Idempotent, supports check mode and diff mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  app_id:
    description: Id of the Amplify app.
    type: str
    required: true
  branch_name:
    description: Name of the branch (the Git branch when a repository is connected).
    type: str
    required: true
  state:
    description: Whether the branch should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description of the branch.
    type: str
    default: ""
  stage:
    description: Stage of the branch.
    type: str
    choices: [PRODUCTION, BETA, DEVELOPMENT, EXPERIMENTAL, PULL_REQUEST]
    default: PRODUCTION
  framework:
    description: Framework label.
    type: str
    default: Next.js - SSR
  enable_auto_build:
    description: Build on each commit (repository-connected apps).
    type: bool
    default: false
  environment_variables:
    description: Branch environment variables (not secret); they override the app's.
    type: dict
    default: {}
  secret_environment_variables:
    description: Branch environment variables whose values are secret (never logged or returned).
    type: dict
    default: {}
  deployment:
    description: A built artifact (zip) in S3 to deploy manually (apps without a repository).
    type: dict
    suboptions:
      bucket: {description: Bucket of the artifact., type: str, required: true}
      key: {description: Key of the zip., type: str, required: true}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Production branch, deploying the built shop from the assets bucket
  clickstream.platform.amplify_branch:
    app_id: "{{ app.app.app_id }}"
    branch_name: main
    stage: PRODUCTION
    framework: Next.js - SSR
    deployment:
      bucket: clickstream-dev-assets-123456789012-us-east-1
      key: amplify/shop.zip
"""

RETURN = r"""
actions:
  description: What was changed (or, in check mode, would be).
  returned: always
  type: list
  elements: str
branch:
  description: The branch (empty when absent, or when it would be created in check mode); secret values redacted.
  returned: always
  type: dict
  contains:
    branch_arn: {description: Branch ARN, type: str}
    branch_name: {description: Name, type: str}
    stage: {description: Stage, type: str}
    framework: {description: Framework, type: str}
    environment_variables: {description: Environment variables (secret values as ********), type: dict}
deployment:
  description: The manual deployment started by this run (job id and status), empty when none was needed.
  returned: always
  type: dict
"""

from collections.abc import Callable
from typing import Any

from ansible.module_utils.urls import open_url
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.amplify import (
    DEPLOYED_ARTIFACT_TAG,
    artifact_marker,
    branch_update_args,
    branch_view,
    desired_branch_view,
    differences,
    redact_env,
)
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource
from ansible_collections.clickstream.platform.plugins.module_utils.tags import TAG_OPTIONS, tag_changes, tag_values


def upload_zip(url: str, body: bytes) -> None:
    """PUT the artifact to the pre-signed upload URL CreateDeployment returned."""
    open_url(url, data=body, method="PUT", headers={"Content-Type": "application/zip"}, timeout=300)


class AmplifyBranch(Boto3Resource):
    def __init__(self, module: Any, client: Any, s3: Any = None,
                 uploader: Callable[[str, bytes], None] = upload_zip) -> None:
        super().__init__(module, client)
        self.s3 = s3
        self.uploader = uploader
        self.deployment: dict[str, Any] = {}
        self.secret_names = set((module.params.get("secret_environment_variables") or {}).keys())

    def find(self) -> dict[str, Any] | None:
        p = self.module.params
        found = self.call("get_branch", none_on={"NotFoundException"}, appId=p["app_id"], branchName=p["branch_name"])
        return found["branch"] if found else None

    def shown(self, view: dict[str, Any]) -> dict[str, Any]:
        return {**view, "environment_variables": redact_env(view["environment_variables"], self.secret_names)}

    def ensure(self) -> dict[str, Any]:
        p = self.module.params
        desired = desired_branch_view(p)
        self.after = self.shown(desired)
        branch = self.find()
        if branch is None:
            args: dict[str, Any] = {
                "appId": p["app_id"], "branchName": p["branch_name"], "description": desired["description"],
                "stage": desired["stage"], "framework": desired["framework"],
                "enableAutoBuild": desired["enable_auto_build"],
                "environmentVariables": desired["environment_variables"],
            }
            if p["tags"]:
                args["tags"] = tag_values(p["tags"])
            created = self.change("create branch", "create_branch", **args)
            if created is None:
                if p["deployment"]:
                    self.actions.append(f"deploy s3://{p['deployment']['bucket']}/{p['deployment']['key']}")
                return {}
            branch = created["branch"]
        else:
            current = branch_view(branch)
            self.before = self.shown(current)
            args = branch_update_args(current, desired)
            if args:
                updated = self.change(f"update branch: {', '.join(differences(current, desired))}",
                                      "update_branch", appId=p["app_id"], branchName=p["branch_name"], **args)
                branch = updated["branch"] if updated else branch
            self.ensure_tags(branch)
        if p["deployment"]:
            self.ensure_deployment(branch)
        return self.result(branch)

    def ensure_tags(self, branch: dict[str, Any]) -> None:
        p = self.module.params
        if p["tags"] is None:
            return
        to_set, to_remove = tag_changes(branch.get("tags"), p["tags"], p["purge_tags"], keep=(DEPLOYED_ARTIFACT_TAG,))
        if to_set:
            self.change(f"tag {sorted(to_set)}", "tag_resource", resourceArn=branch["branchArn"], tags=to_set)
        if to_remove:
            self.change(f"untag {to_remove}", "untag_resource", resourceArn=branch["branchArn"], tagKeys=to_remove)

    def ensure_deployment(self, branch: dict[str, Any]) -> None:
        p = self.module.params
        bucket, key = p["deployment"]["bucket"], p["deployment"]["key"]
        head = self.call("head_object", client=self.s3, Bucket=bucket, Key=key)
        marker = artifact_marker(key, head["ETag"])
        if (branch.get("tags") or {}).get(DEPLOYED_ARTIFACT_TAG) == marker:
            return
        self.actions.append(f"deploy s3://{bucket}/{key}")
        if self.check:
            return
        job = self.call("create_deployment", appId=p["app_id"], branchName=p["branch_name"])
        body = self.call("get_object", client=self.s3, Bucket=bucket, Key=key)["Body"].read()
        try:
            self.uploader(job["zipUploadUrl"], body)
        except Exception as e:  # any upload failure ends the run with its reason
            self.module.fail_json(msg=f"upload of s3://{bucket}/{key} to Amplify failed: {e}",
                                  job_id=job.get("jobId"))
        started = self.call("start_deployment", appId=p["app_id"], branchName=p["branch_name"], jobId=job["jobId"])
        self.call("tag_resource", resourceArn=branch["branchArn"], tags={DEPLOYED_ARTIFACT_TAG: marker})
        summary = started["jobSummary"]
        self.deployment = {"job_id": summary["jobId"], "status": summary["status"], "artifact": marker}

    def result(self, branch: dict[str, Any]) -> dict[str, Any]:
        return {
            "branch_arn": branch.get("branchArn", ""), "branch_name": branch.get("branchName", ""),
            "stage": branch.get("stage", ""), "framework": branch.get("framework", ""),
            "enable_auto_build": bool(branch.get("enableAutoBuild")),
            "environment_variables": redact_env(branch.get("environmentVariables"), self.secret_names),
            "active_job_id": branch.get("activeJobId", ""), "tags": branch.get("tags", {}),
        }

    def remove(self) -> None:
        p = self.module.params
        branch = self.find()
        if branch is not None:
            self.before = {"branch_name": branch["branchName"]}
            self.change("delete branch", "delete_branch", appId=p["app_id"], branchName=p["branch_name"])


ARGUMENT_SPEC: dict[str, Any] = dict(
    app_id=dict(type="str", required=True),
    branch_name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    description=dict(type="str", default=""),
    stage=dict(type="str", choices=["PRODUCTION", "BETA", "DEVELOPMENT", "EXPERIMENTAL", "PULL_REQUEST"],
               default="PRODUCTION"),
    framework=dict(type="str", default="Next.js - SSR"),
    enable_auto_build=dict(type="bool", default=False),
    environment_variables=dict(type="dict", default={}),
    secret_environment_variables=dict(type="dict", default={}, no_log=True),
    deployment=dict(type="dict", options=dict(
        bucket=dict(type="str", required=True),
        key=dict(type="str", required=True, no_log=False),
    )),
    **TAG_OPTIONS,
)


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    retry = AWSRetry.jittered_backoff()
    s3 = module.client("s3", retry_decorator=retry) if module.params["deployment"] else None
    manager = AmplifyBranch(module, module.client("amplify", retry_decorator=retry), s3)
    if module.params["state"] == "absent":
        manager.remove()
        manager.exit_json(branch={}, deployment={})
    result = manager.ensure()
    manager.exit_json(branch=result, deployment=manager.deployment)


if __name__ == "__main__":
    main()
