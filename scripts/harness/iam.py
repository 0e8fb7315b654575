"""IAM enforced by the emulator: the iam role's own roles and policies, assumed, as boto3 credentials.

`EnforcingIam` starts a moto server of its own that checks every request against IAM (INITIAL_NO_AUTH_ACTION_COUNT:
the first requests make an admin user and its key, unauthenticated; every later one is signature-checked and
evaluated). Its entry point is scripts/harness/moto_enforcing.py, which gives moto's evaluator the resource ARN of
SSM Parameter Store and CloudWatch Logs calls (moto alone evaluates those against "*", so a policy scoped to one
parameter would match nothing).

A role is made on first use from the documents the iam role renders for the given variables
(scripts/harness/playbooks/render_iam_roles.yml reads roles/iam/defaults and vars; nothing is copied into a test):
its real name, its real inline policy and managed policies. Only its trust policy differs: it trusts the admin
user, because moto compares the caller with the trust policy's principal literally and a user cannot assume a
role that trusts a service (lambda.amazonaws.com, ec2.amazonaws.com). The real trust policies are in `rendered`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import boto3

from scripts.harness.ansible import run_playbook
from scripts.harness.moto import MotoServer

RENDER_PLAYBOOK = "scripts/harness/playbooks/render_iam_roles.yml"
ENFORCING_SERVER = Path(__file__).with_name("moto_enforcing.py")
ACCOUNT = "123456789012"
REGION = "us-east-1"
_ADMIN_REQUESTS = 3  # create_user, put_user_policy, create_access_key


def render_roles(variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"roles": {key: role}, "secrets_key_policy": ...} as the iam role renders them for these variables."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "roles.json"
        run = run_playbook(RENDER_PLAYBOOK, "-e", json.dumps({**(variables or {}), "render_iam_roles_out": str(out)}))
        assert run.rc == 0, run.output[-3000:]
        rendered = json.loads(out.read_text())
    return {"roles": {r["key"]: r for r in rendered["roles"]}, "secrets_key_policy": rendered["secrets_key_policy"]}


class EnforcingIam:
    """A moto server that enforces IAM, an admin, and the platform's roles on demand (see the module docstring)."""

    def __init__(self, log_dir: Path, variables: dict[str, Any] | None = None) -> None:
        self.rendered = render_roles(variables)
        self.server = MotoServer(log_dir, extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": str(_ADMIN_REQUESTS)},
                                 server_script=ENFORCING_SERVER)
        self.url = self.server.url
        self._credentials: dict[str, dict[str, str]] = {}
        try:
            iam = self.server.client("iam")
            self.admin_arn = iam.create_user(UserName="admin")["User"]["Arn"]
            iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            key = iam.create_access_key(UserName="admin")["AccessKey"]
        except Exception:
            self.server.close()
            raise
        self.admin_credentials = {"aws_access_key_id": key["AccessKeyId"],
                                  "aws_secret_access_key": key["SecretAccessKey"]}

    def role(self, key: str) -> dict[str, Any]:
        """The rendered role (name, trust, policy, managed) of the iam role's entry `key` (ingest, etl, oltp, dw)."""
        return self.rendered["roles"][key]

    def admin(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **self.admin_credentials)

    def credentials(self, key: str) -> dict[str, str]:
        """boto3 client keyword arguments: temporary credentials of the role `key`, made and assumed once."""
        if key not in self._credentials:
            role, iam = self.role(key), self.admin("iam")
            iam.create_role(RoleName=role["name"], AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": self.admin_arn},
                                                        "Action": "sts:AssumeRole"}]}))
            iam.put_role_policy(RoleName=role["name"], PolicyName="least-privilege",
                                PolicyDocument=json.dumps(role["policy"]))
            for managed in role["managed"]:
                iam.attach_role_policy(RoleName=role["name"], PolicyArn=f"arn:aws:iam::aws:policy/{managed}")
            creds = self.admin("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role['name']}",
                                                  RoleSessionName=f"test-{key}")["Credentials"]
            self._credentials[key] = {"aws_access_key_id": creds["AccessKeyId"],
                                      "aws_secret_access_key": creds["SecretAccessKey"],
                                      "aws_session_token": creds["SessionToken"]}
        return self._credentials[key]

    def client(self, key: str, service: str, **kwargs: Any) -> Any:
        """A boto3 client of `service` that acts as the role `key`."""
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **self.credentials(key), **kwargs)

    def env(self, key: str) -> dict[str, str]:
        """Environment variables under which boto3 (e.g. a Lambda handler's own clients) acts as the role `key`."""
        creds = self.credentials(key)
        return {"AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
                "AWS_SESSION_TOKEN": creds["aws_session_token"],
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.url}

    def close(self) -> None:
        self.server.close()
