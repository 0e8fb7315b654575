#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_function
short_description: Ensure a Lambda function with its log groups, reserved concurrency and permissions in one call
description:
  - Converges in one module run what a function needs - its CloudWatch log groups (retention, tags), the function
    (code, configuration, VPC, environment, tags), its reserved concurrency and the resource-policy statements that
    let other services invoke it - instead of one amazon.aws.iam_role_info, cloudwatchlogs_log_group, lambda,
    lambda_concurrency and lambda_policy run each.
  - The function's role may be given by name; it is looked up (a missing role fails clearly, or in check mode is
    reported as a prerequisite the run would need). Code is compared by SHA-256 with the deployed code, so an
    unchanged zip is not sent again.
  - Everything is read first and written only when it differs (C(changed=false) on a re-run with nothing to
    change); drift is put back. Permission statements not given are left alone. Supports check mode and diff mode.
version_added: 1.3.0
author: clickstream-analytics
options:
  name:
    description: The function's name.
    type: str
    required: true
  description:
    description: The function's description.
    type: str
    default: ""
  runtime:
    description: The runtime (e.g. C(python3.11)).
    type: str
    required: true
  handler:
    description: The handler (C(module.function)).
    type: str
    required: true
  architecture:
    description: C(x86_64) or C(arm64).
    type: str
    default: x86_64
    choices: [x86_64, arm64]
  role:
    description: The execution role, by name or ARN.
    type: str
    required: true
  zip_file:
    description: Path of the deployment package on the controller; its SHA-256 is compared with the deployed code.
    type: path
    required: true
  s3_bucket:
    description: Send the code from this bucket (with I(s3_key); the object must hold the I(zip_file)) instead of
      in the request (for a package larger than a direct upload allows).
    type: str
  s3_key:
    description: The object of I(s3_bucket) holding the package.
    type: str
  memory_size:
    description: Memory in MB.
    type: int
    default: 128
  timeout:
    description: Timeout in seconds.
    type: int
    default: 3
  environment:
    description: Environment variables (exact).
    type: dict
    default: {}
  vpc_subnet_ids:
    description: Subnets of the function's network interfaces (with I(vpc_security_group_ids)); empty for none.
    type: list
    elements: str
    default: []
  vpc_security_group_ids:
    description: Security groups of the function's network interfaces.
    type: list
    elements: str
    default: []
  tags:
    description: The function's tags (exact).
    type: dict
    default: {}
  reserved_concurrency:
    description: Reserved concurrent executions; null removes the reservation (unless I(purge_reserved_concurrency)
      is false).
    type: int
  purge_reserved_concurrency:
    description: With I(reserved_concurrency) null, whether to remove a reservation (true) or leave it alone.
    type: bool
    default: true
  log_groups:
    description:
      - Log groups to ensure before the function, each a dict with C(name), C(retention) (days) and C(tags)
        (exact). The function's own is C(/aws/lambda/<name>).
    type: list
    elements: dict
    default: []
  permissions:
    description:
      - Resource-policy statements, each a dict with C(statement_id), C(principal) (a service, e.g.
        C(events.amazonaws.com)), C(source_arn) and C(action) (default C(lambda:InvokeFunction)). A statement
        that differs is replaced.
    type: list
    elements: dict
    default: []
  wait_timeout:
    description: Seconds to wait for the function to be active and for an update to finish.
    type: int
    default: 600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the function
  clickstream.platform.lambda_function:
    name: shop-etl
    runtime: python3.11
    handler: app.handler
    role: shop-lambda-etl
    zip_file: build/etl.zip
    memory_size: 512
    timeout: 300
    environment: {LOG_LEVEL: INFO}
    tags: {Name: shop-etl}
    log_groups:
      - {name: /aws/lambda/shop-etl, retention: 30, tags: {Name: /aws/lambda/shop-etl}}
    permissions:
      - {statement_id: shop-etl-schedule-invoke, principal: events.amazonaws.com,
         source_arn: "arn:aws:events:us-east-1:123456789012:rule/shop-etl-schedule"}
"""

RETURN = r"""
function_arn:
  description: The function's ARN (empty in check mode for a function that would be created).
  returned: always
  type: str
role_arn:
  description: The role's ARN (empty in check mode when the role does not exist yet).
  returned: always
  type: str
code_sha256:
  description: Base64 SHA-256 of the package (what Lambda reports as CodeSha256).
  returned: always
  type: str
statements:
  description:
    - Statement id -> C(Action), C(Principal), C(SourceArn) and C(Resource) of each statement of the function's
      resource policy after the run (those given in I(permissions) and any other), so that a later task can tell
      whether a statement it manages itself is already in place.
  returned: always
  type: dict
actions:
  description: What the run changed (in check mode, would change), one line each.
  returned: always
  type: list
  elements: str
"""

import base64
import hashlib
import json
import time
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource, error_code

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    description=dict(type="str", default=""),
    runtime=dict(type="str", required=True),
    handler=dict(type="str", required=True),
    architecture=dict(type="str", default="x86_64", choices=["x86_64", "arm64"]),
    role=dict(type="str", required=True),
    zip_file=dict(type="path", required=True),
    s3_bucket=dict(type="str"),
    s3_key=dict(type="str"),
    memory_size=dict(type="int", default=128),
    timeout=dict(type="int", default=3),
    environment=dict(type="dict", default={}),
    vpc_subnet_ids=dict(type="list", elements="str", default=[]),
    vpc_security_group_ids=dict(type="list", elements="str", default=[]),
    tags=dict(type="dict", default={}),
    reserved_concurrency=dict(type="int"),
    purge_reserved_concurrency=dict(type="bool", default=True),
    log_groups=dict(type="list", elements="dict", default=[]),
    permissions=dict(type="list", elements="dict", default=[]),
    wait_timeout=dict(type="int", default=600),
)


def check_input(p: dict[str, Any]) -> list[str]:
    """What is wrong with the input (nothing: an empty list), checked before any AWS call."""
    problems = []
    if bool(p.get("s3_bucket")) != bool(p.get("s3_key")):
        problems.append("s3_bucket and s3_key go together")
    if bool(p["vpc_subnet_ids"]) != bool(p["vpc_security_group_ids"]):
        problems.append("vpc_subnet_ids and vpc_security_group_ids go together")
    for i, group in enumerate(p["log_groups"]):
        if not isinstance(group, dict) or not group.get("name"):
            problems.append(f"log_groups[{i}]: needs a name")
        elif set(group) - {"name", "retention", "tags"}:
            problems.append(f"log group {group['name']}: unknown option(s) "
                            f"{', '.join(sorted(set(group) - {'name', 'retention', 'tags'}))}")
    for i, perm in enumerate(p["permissions"]):
        if not isinstance(perm, dict) or not all(perm.get(k) for k in ("statement_id", "principal", "source_arn")):
            problems.append(f"permissions[{i}]: needs a statement_id, a principal and a source_arn")
    return problems


def code_sha256(path: str) -> str:
    """The package's SHA-256 as Lambda reports it (base64 of the digest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def wanted_statement(perm: dict[str, Any], function_arn: str) -> dict[str, Any]:
    """A permission as the comparable part of a resource-policy statement."""
    return {"Action": perm.get("action") or "lambda:InvokeFunction", "Principal": str(perm["principal"]),
            "SourceArn": str(perm["source_arn"]), "Resource": function_arn}


def current_statement(statement: dict[str, Any]) -> dict[str, Any]:
    """A statement of the function's resource policy, read back, as wanted_statement() gives it."""
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("Service") or principal.get("AWS")
    condition = statement.get("Condition") or {}
    source = (condition.get("ArnLike") or {}).get("AWS:SourceArn") or (condition.get("ArnEquals") or {}).get(
        "AWS:SourceArn")
    action = statement.get("Action")
    return {"Action": action[0] if isinstance(action, list) and len(action) == 1 else action,
            "Principal": principal, "SourceArn": source, "Resource": statement.get("Resource")}


class LambdaFunction(Boto3Resource):
    failure_msg = "{method} failed (Lambda function)"

    def __init__(self, module: Any, clients: dict[str, Any]) -> None:
        super().__init__(module, clients.get("lambda"))
        self.clients = clients
        self.p = module.params

    def note(self, what: str, before: Any, after: Any) -> None:
        self.before[what], self.after[what] = before, after

    def role_arn(self) -> str:
        role = self.p["role"]
        if role.startswith("arn:"):
            return role
        found = self.call("get_role", client=self.clients["iam"], none_on=("NoSuchEntity",), RoleName=role)
        if found:
            return found["Role"]["Arn"]
        if self.check:
            self.module.warn(f"IAM role {role} does not exist yet (the iam play creates it); the function would be "
                             "created with it")
            return ""
        self.module.fail_json(msg=f"IAM role {role} does not exist. It is created by the iam role: run "
                                  "`ansible-playbook site.yml --tags iam` (or the whole site.yml) first.")
        return ""

    def log_groups(self) -> None:
        logs = self.clients["logs"]
        for group in self.p["log_groups"]:
            name = group["name"]
            what = f"log group {name}"
            found = [g for g in self.call("describe_log_groups", client=logs, logGroupNamePrefix=name).get(
                "logGroups", []) if g["logGroupName"] == name]
            want_tags = {str(k): str(v) for k, v in (group.get("tags") or {}).items()}
            retention = group.get("retention")
            if not found:
                self.change(f"create {what}", "create_log_group", client_name="logs", logGroupName=name,
                            **({"tags": want_tags} if want_tags else {}))
                if retention:
                    self.change(f"set retention of {what} to {retention} days", "put_retention_policy",
                                client_name="logs", logGroupName=name, retentionInDays=int(retention))
                continue
            have_retention = found[0].get("retentionInDays")
            if retention and have_retention != int(retention):
                self.note(f"{what} retention", have_retention, int(retention))
                self.change(f"set retention of {what} to {retention} days", "put_retention_policy",
                            client_name="logs", logGroupName=name, retentionInDays=int(retention))
            elif not retention and have_retention:
                self.note(f"{what} retention", have_retention, None)
                self.change(f"remove the retention of {what}", "delete_retention_policy", client_name="logs",
                            logGroupName=name)
            have_tags = self.call("list_tags_log_group", client=logs, logGroupName=name).get("tags", {})
            if have_tags != want_tags:
                self.note(f"{what} tags", have_tags, want_tags)
                stale = sorted(set(have_tags) - set(want_tags))
                if stale:
                    self.change(f"untag {what}: {', '.join(stale)}", "untag_log_group", client_name="logs",
                                logGroupName=name, tags=stale)
                new = {k: v for k, v in want_tags.items() if have_tags.get(k) != v}
                if new:
                    self.change(f"tag {what}: {', '.join(sorted(new))}", "tag_log_group", client_name="logs",
                                logGroupName=name, tags=new)

    def change(self, action: str, method: str, client_name: str = "lambda", **kwargs: Any) -> Any:
        self.actions.append(action)
        return None if self.check else self.call(method, client=self.clients[client_name], **kwargs)

    def create_function(self, **kwargs: Any) -> Any:
        """CreateFunction, retried while Lambda cannot assume a role just made (IAM is eventually consistent)."""
        deadline = time.monotonic() + min(self.p["wait_timeout"], 120)
        while True:
            try:
                return self.client.create_function(aws_retry=True, **kwargs)
            except botocore.exceptions.ClientError as e:
                if (error_code(e) == "InvalidParameterValueException" and "assume" in str(e)
                        and time.monotonic() < deadline):
                    time.sleep(5)
                    continue
                self.module.fail_json_aws(e, msg=self.failure_msg.replace("{method}", "create_function"))

    def wait(self, name: str) -> None:
        """Until the function is active and no update is in progress."""
        if self.check:
            return
        deadline = time.monotonic() + self.p["wait_timeout"]
        while True:
            config = self.call("get_function_configuration", FunctionName=name)
            if config.get("State", "Active") == "Failed" or config.get("LastUpdateStatus") == "Failed":
                self.module.fail_json(msg=f"function {name} failed: {config.get('StateReason')} "
                                          f"{config.get('LastUpdateStatusReason')}".strip())
            if config.get("State", "Active") == "Active" and config.get("LastUpdateStatus", "Successful") != \
                    "InProgress":
                return
            if time.monotonic() > deadline:
                self.module.fail_json(msg=f"function {name} still not ready after {self.p['wait_timeout']} s")
            time.sleep(2)

    def code(self) -> dict[str, Any]:
        if self.p["s3_bucket"]:
            return {"S3Bucket": self.p["s3_bucket"], "S3Key": self.p["s3_key"]}
        with open(self.p["zip_file"], "rb") as f:
            return {"ZipFile": f.read()}

    def wanted_config(self, role_arn: str) -> dict[str, Any]:
        p = self.p
        return {"Description": p["description"], "Runtime": p["runtime"], "Handler": p["handler"],
                "Role": role_arn, "MemorySize": p["memory_size"], "Timeout": p["timeout"],
                "Environment": {"Variables": {str(k): str(v) for k, v in p["environment"].items()}},
                "VpcConfig": {"SubnetIds": sorted(p["vpc_subnet_ids"]),
                              "SecurityGroupIds": sorted(p["vpc_security_group_ids"])}}

    @staticmethod
    def current_config(config: dict[str, Any]) -> dict[str, Any]:
        vpc = config.get("VpcConfig") or {}
        return {"Description": config.get("Description") or "", "Runtime": config.get("Runtime"),
                "Handler": config.get("Handler"), "Role": config.get("Role"), "MemorySize": config.get("MemorySize"),
                "Timeout": config.get("Timeout"),
                "Environment": {"Variables": (config.get("Environment") or {}).get("Variables") or {}},
                "VpcConfig": {"SubnetIds": sorted(vpc.get("SubnetIds") or []),
                              "SecurityGroupIds": sorted(vpc.get("SecurityGroupIds") or [])}}

    def function(self, found: dict[str, Any] | None, role_arn: str, sha: str) -> str:
        """Create or update the function (``found``: its GetFunction answer, None when there is none)."""
        p = self.p
        name = p["name"]
        what = f"function {name}"
        want = self.wanted_config(role_arn)
        tags = {str(k): str(v) for k, v in p["tags"].items()}
        if not found:
            self.actions.append(f"create {what}")
            made = None if self.check else self.create_function(
                FunctionName=name, Code=self.code(), Architectures=[p["architecture"]], Publish=False,
                **({"Tags": tags} if tags else {}), **want)
            self.concurrency(None)
            if made is None:
                return ""
            self.wait(name)
            return made["FunctionArn"]
        config = found["Configuration"]
        arn = config["FunctionArn"]
        have = self.current_config(config)
        differs = {k: v for k, v in want.items() if have.get(k) != v and not (k == "Role" and not v)}
        if differs:
            self.note(f"{what} configuration", {k: have.get(k) for k in differs}, differs)
            self.wait(name)
            self.change(f"update the configuration of {what}: {', '.join(sorted(differs))}",
                        "update_function_configuration", FunctionName=name, **differs)
        have_arch = (config.get("Architectures") or ["x86_64"])[0]
        if config.get("CodeSha256") != sha or have_arch != p["architecture"]:
            self.note(f"{what} code", {"sha256": config.get("CodeSha256"), "architecture": have_arch},
                      {"sha256": sha, "architecture": p["architecture"]})
            self.wait(name)
            self.change(f"update the code of {what}", "update_function_code", FunctionName=name,
                        Architectures=[p["architecture"]], **self.code())
        have_tags = found.get("Tags") or {}
        if have_tags != tags:
            self.note(f"{what} tags", have_tags, tags)
            stale = sorted(set(have_tags) - set(tags))
            if stale:
                self.change(f"untag {what}: {', '.join(stale)}", "untag_resource", Resource=arn, TagKeys=stale)
            new = {k: v for k, v in tags.items() if have_tags.get(k) != v}
            if new:
                self.change(f"tag {what}: {', '.join(sorted(new))}", "tag_resource", Resource=arn, Tags=new)
        have_concurrency = (found.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
        self.concurrency(have_concurrency)
        self.wait(name)
        return arn

    def concurrency(self, have: int | None) -> None:
        want = self.p["reserved_concurrency"]
        name = self.p["name"]
        if have == want or (want is None and not self.p["purge_reserved_concurrency"]):
            return
        self.note(f"function {name} reserved concurrency", have, want)
        if want is None:
            self.change(f"remove the reserved concurrency of function {name}", "delete_function_concurrency",
                        FunctionName=name)
        else:
            self.change(f"reserve {want} concurrent executions for function {name}", "put_function_concurrency",
                        FunctionName=name, ReservedConcurrentExecutions=want)

    def permissions(self, arn: str, new: bool) -> dict[str, Any]:
        """Ensure the permissions; the statements of the function's policy (as current_statement() gives them)
        after the run, by statement id."""
        name = self.p["name"]
        policy = None if new else self.call("get_policy", none_on=("ResourceNotFoundException",), FunctionName=name)
        statements = {s.get("Sid"): s for s in json.loads(policy["Policy"]).get("Statement", [])} if policy else {}
        out = {sid: current_statement(s) for sid, s in statements.items()}
        for perm in self.p["permissions"]:
            sid = perm["statement_id"]
            want = wanted_statement(perm, arn or f"function:{name}")
            have = current_statement(statements[sid]) if sid in statements else None
            if have is not None and all(have.get(k) == v for k, v in want.items() if k != "Resource"):
                continue
            self.note(f"function {name} permission {sid}", have, want)
            if have is not None:
                self.change(f"remove permission {sid} of function {name}", "remove_permission", FunctionName=name,
                            StatementId=sid)
            self.change(f"add permission {sid} to function {name}", "add_permission", FunctionName=name,
                        StatementId=sid, Action=want["Action"], Principal=want["Principal"],
                        SourceArn=want["SourceArn"])
            out[sid] = want
        return out

    def run(self) -> dict[str, Any]:
        problems = check_input(self.p)
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        sha = code_sha256(self.p["zip_file"])
        role_arn = self.role_arn()
        self.log_groups()
        found = self.call("get_function", none_on=("ResourceNotFoundException",), FunctionName=self.p["name"])
        arn = self.function(found, role_arn, sha)
        statements = self.permissions(arn, new=not found)
        return {"function_arn": arn, "role_arn": role_arn, "code_sha256": sha, "statements": statements}


def run(module: Any, clients: dict[str, Any]) -> dict[str, Any]:
    """The module's result, from ``clients`` (lambda, iam and logs clients with the aws_retry wrapper)."""
    manager = LambdaFunction(module, clients)
    return manager.result(manager.run())


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    retry = AWSRetry.jittered_backoff()
    module.exit_json(**run(module, {name: module.client(name, retry_decorator=retry)
                                    for name in ("lambda", "iam", "logs")}))


if __name__ == "__main__":
    main()
