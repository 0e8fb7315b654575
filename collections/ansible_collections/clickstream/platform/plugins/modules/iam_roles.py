#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_roles
short_description: Ensure a set of IAM roles and their inline policies in one call
description:
  - For each role of O(roles), reads what exists and changes only what differs. One module run for the whole set
    instead of an amazon.aws.iam_role and an amazon.aws.iam_policy run per role.
  - Each setting is enforced only when its key is given, so one call may create the roles and a later one (once a
    resource the policies name exists) add their inline policies, each call naming only what it manages.
  - Policies are compared as amazon.aws does (amazon.aws.module_utils.policy.compare_policies), so a role made by
    amazon.aws.iam_role / iam_policy with the same documents reads as unchanged.
  - Roles not in the set, and inline policies not named, are left alone. Supports check mode and diff mode.
version_added: 1.2.0
author: clickstream-analytics
options:
  roles:
    description:
      - The roles, each a dict with C(name) and any of C(description), C(trust) (the assume-role policy, a dict),
        C(managed_policies) (ARNs; exact, others are detached), C(boundary) (a permissions boundary ARN; empty or
        absent leaves the role's boundary alone), C(tags) (a dict, exact), C(instance_profile) (true for an instance
        profile of the same name holding the role), C(max_session_duration) (seconds) and C(inline_policies) (policy
        name -> document).
      - A role that does not exist yet needs C(trust).
      - C(if_missing) (a message) is for a role this call does not create, only adds to (its C(inline_policies)). When
        the role does not exist the run fails with that message, or in check mode leaves the role out with a warning
        (an earlier play would create it). Without it a missing role with no C(trust) fails the run.
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The roles
  clickstream.platform.iam_roles:
    roles:
      - name: shop-lambda-etl
        description: Lambda ETL
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com},
                                                    Action: "sts:AssumeRole"}]}
        managed_policies: ["arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]
        tags: {Name: shop-lambda-etl}
        instance_profile: false

- name: Their inline policies, once the key they name exists
  clickstream.platform.iam_roles:
    roles:
      - name: shop-lambda-etl
        inline_policies: {shop-etl: {Version: "2012-10-17", Statement: []}}
"""

RETURN = r"""
roles:
  description: Name -> the role's ARN (in check mode, for a role that would be created, its would-be name only) and
    whether the run changed it.
  returned: always
  type: dict
  sample: {"shop-lambda-etl": {"arn": "arn:aws:iam::123456789012:role/shop-lambda-etl", "changed": false}}
  contains:
    missing:
      description: True for a role with C(if_missing) that does not exist (check mode only; otherwise the run fails).
      type: bool
      returned: when the role is missing
actions:
  description: What the run changed (in check mode, would change), one line each.
  returned: always
  type: list
  elements: str
"""

import json
from typing import Any
from urllib.parse import unquote

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource, paginate

ARGUMENT_SPEC = dict(roles=dict(type="list", elements="dict", required=True))
ROLE_KEYS = {"name", "description", "trust", "managed_policies", "boundary", "tags", "instance_profile",
             "max_session_duration", "inline_policies", "if_missing"}


def check_input(roles: list[dict[str, Any]]) -> list[str]:
    problems = []
    names = [r.get("name") for r in roles if isinstance(r, dict)]
    for i, role in enumerate(roles):
        if not isinstance(role, dict) or not role.get("name"):
            problems.append(f"role {i}: needs a name")
            continue
        if set(role) - ROLE_KEYS:
            problems.append(f"role {role['name']}: unknown option(s) {', '.join(sorted(set(role) - ROLE_KEYS))}")
        for key in ("trust", "tags", "inline_policies"):
            if role.get(key) is not None and not isinstance(role[key], dict):
                problems.append(f"role {role['name']}: {key} must be a dict")
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        problems.append(f"roles given twice: {', '.join(duplicates)}")
    return problems


def document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it (a dict from boto3, or URL-encoded JSON text) or as given."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value or {}


class Roles(Boto3Resource):
    failure_msg = "{method} failed (IAM roles)"

    def role(self, spec: dict[str, Any]) -> dict[str, Any]:
        name = spec["name"]
        found = self.call("get_role", none_on=("NoSuchEntity",), RoleName=name)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        start = len(self.actions)
        if found is None:
            if spec.get("trust") is None and spec.get("if_missing"):
                if self.module.check_mode:
                    self.module.warn(f"role {name} does not exist: left out ({spec['if_missing']})")
                    return {"arn": None, "changed": False, "missing": True}
                self.module.fail_json(msg=spec["if_missing"])
            if spec.get("trust") is None:
                self.module.fail_json(msg=f"role {name} does not exist and no trust policy is given to create it")
            params: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(spec["trust"])}
            if spec.get("description") is not None:
                params["Description"] = spec["description"]
            if spec.get("boundary"):
                params["PermissionsBoundary"] = spec["boundary"]
            if spec.get("max_session_duration"):
                params["MaxSessionDuration"] = int(spec["max_session_duration"])
            if spec.get("tags"):
                params["Tags"] = [{"Key": str(k), "Value": str(v)} for k, v in spec["tags"].items()]
            created = self.change(f"create role {name}", "create_role", **params)
            current: dict[str, Any] = created["Role"] if created else {"Arn": None}
            before[name], after[name] = None, {k: spec[k] for k in spec if k != "inline_policies"}
            new = True
        else:
            current = found["Role"]
            new = False
        if not new:
            self.compare_role(spec, current, before, after)
        self.compare_managed(spec, new, before, after)
        self.compare_instance_profile(spec, new)
        self.compare_inline(spec, new, before, after)
        if before or after:
            self.before[name], self.after[name] = before.get(name, before), after.get(name, after)
        return {"arn": current.get("Arn"), "changed": len(self.actions) > start}

    def compare_role(self, spec: dict[str, Any], current: dict[str, Any], before: dict, after: dict) -> None:
        name = spec["name"]
        if spec.get("trust") is not None:
            have = document(current.get("AssumeRolePolicyDocument"))
            if compare_policies(have, spec["trust"]):
                before["trust"], after["trust"] = have, spec["trust"]
                self.change(f"trust policy of {name}", "update_assume_role_policy", RoleName=name,
                            PolicyDocument=json.dumps(spec["trust"]))
        # UpdateRole sets both (the emulator clears a description the call leaves out): one call with both values.
        description = spec["description"] if spec.get("description") is not None else current.get("Description", "")
        duration = int(spec.get("max_session_duration") or current.get("MaxSessionDuration") or 3600)
        if (description, duration) != (current.get("Description", ""), current.get("MaxSessionDuration", 3600)):
            before.update(description=current.get("Description", ""),
                          max_session_duration=current.get("MaxSessionDuration"))
            after.update(description=description, max_session_duration=duration)
            self.change(f"description and max session duration of {name}", "update_role", RoleName=name,
                        Description=description, MaxSessionDuration=duration)
        have_boundary = (current.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", "")
        if spec.get("boundary") and have_boundary != spec["boundary"]:
            before["boundary"], after["boundary"] = have_boundary, spec["boundary"]
            self.change(f"permissions boundary of {name}", "put_role_permissions_boundary", RoleName=name,
                        PermissionsBoundary=spec["boundary"])
        if spec.get("tags") is not None:
            have = {t["Key"]: t["Value"] for t in paginate(
                lambda **kw: self.call("list_role_tags", RoleName=name, **kw), "Tags", "Marker")}
            want = {str(k): str(v) for k, v in spec["tags"].items()}
            if have != want:
                before["tags"], after["tags"] = have, want
                stale = sorted(set(have) - set(want))
                if stale:
                    self.change(f"untag {name}: {', '.join(stale)}", "untag_role", RoleName=name, TagKeys=stale)
                changed = {k: v for k, v in want.items() if have.get(k) != v}
                if changed:
                    self.change(f"tag {name}: {', '.join(sorted(changed))}", "tag_role", RoleName=name,
                                Tags=[{"Key": k, "Value": v} for k, v in sorted(changed.items())])

    def compare_managed(self, spec: dict[str, Any], new: bool, before: dict, after: dict) -> None:
        if spec.get("managed_policies") is None:
            return
        name = spec["name"]
        have = set() if new else {p["PolicyArn"] for p in paginate(
            lambda **kw: self.call("list_attached_role_policies", RoleName=name, **kw), "AttachedPolicies", "Marker")}
        want = set(spec["managed_policies"])
        if have == want:
            return
        if not new:
            before["managed_policies"], after["managed_policies"] = sorted(have), sorted(want)
        for arn in sorted(have - want):
            self.change(f"detach {arn} from {name}", "detach_role_policy", RoleName=name, PolicyArn=arn)
        for arn in sorted(want - have):
            self.change(f"attach {arn} to {name}", "attach_role_policy", RoleName=name, PolicyArn=arn)

    def compare_instance_profile(self, spec: dict[str, Any], new: bool) -> None:
        if not spec.get("instance_profile"):
            return
        name = spec["name"]
        profile = None if new else self.call("get_instance_profile", none_on=("NoSuchEntity",),
                                             InstanceProfileName=name)
        if profile is None:
            self.change(f"create instance profile {name}", "create_instance_profile", InstanceProfileName=name)
            holds: list[str] = []
        else:
            holds = [r["RoleName"] for r in profile["InstanceProfile"].get("Roles", [])]
        if name not in holds:
            self.change(f"add role {name} to instance profile {name}", "add_role_to_instance_profile",
                        InstanceProfileName=name, RoleName=name)

    def compare_inline(self, spec: dict[str, Any], new: bool, before: dict, after: dict) -> None:
        name = spec["name"]
        for policy_name, want in (spec.get("inline_policies") or {}).items():
            found = None if new else self.call("get_role_policy", none_on=("NoSuchEntity",), RoleName=name,
                                               PolicyName=policy_name)
            have = document(found["PolicyDocument"]) if found else None
            if have is not None and not compare_policies(have, want):
                continue
            before.setdefault("inline_policies", {})[policy_name] = have
            after.setdefault("inline_policies", {})[policy_name] = want
            self.change(f"inline policy {policy_name} of {name}", "put_role_policy", RoleName=name,
                        PolicyName=policy_name, PolicyDocument=json.dumps(want))


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from ``client`` (an iam client with the aws_retry wrapper)."""
    roles = module.params["roles"]
    problems = check_input(roles)
    if problems:
        module.fail_json(msg="; ".join(problems))
    manager = Roles(module, client)
    return manager.result({"roles": {spec["name"]: manager.role(spec) for spec in roles}})


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("iam", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
