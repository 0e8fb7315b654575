#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cognito_user_pool
short_description: Manage an Amazon Cognito user pool (e-mail sign-in, password policy, verification, MFA)
description:
  - Creates, updates or deletes a Cognito user pool identified by its O(name).
  - Manages sign-in attributes, the password policy, e-mail verification, MFA by authenticator app (TOTP),
    deletion protection, self sign-up, account recovery and tags. UpdateUserPool resets what it is not given, so
    an update always sends every managed setting.
  - O(username_attributes) and O(case_sensitive) are fixed when the pool is created; a different wish is reported
    as a warning and not applied (it needs a new pool, which would lose the users).
  - Idempotent, supports check mode and diff mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  name:
    description: Name of the pool. More than one pool with this name is an error.
    type: str
    required: true
  state:
    description: Whether the pool should exist.
    type: str
    choices: [present, absent]
    default: present
  username_attributes:
    description: Attributes users sign in with instead of a user name (C(email)).
    type: list
    elements: str
    default: [email]
  case_sensitive:
    description: Whether user names are case sensitive.
    type: bool
    default: false
  auto_verified_attributes:
    description: Attributes Cognito verifies by sending a code (C(email)).
    type: list
    elements: str
    default: [email]
  verification_email_subject:
    description: Subject of the verification e-mail; empty for Cognito's default.
    type: str
    default: ""
  verification_email_message:
    description: Body of the verification e-mail, must contain C({####}); empty for Cognito's default.
    type: str
    default: ""
  password_policy:
    description: Password policy.
    type: dict
    suboptions:
      minimum_length: {description: Minimum length (6-99)., type: int, default: 12}
      require_uppercase: {description: Require an upper-case letter., type: bool, default: true}
      require_lowercase: {description: Require a lower-case letter., type: bool, default: true}
      require_numbers: {description: Require a digit., type: bool, default: true}
      require_symbols: {description: Require a symbol., type: bool, default: true}
      temporary_password_validity_days: {description: Days a temporary password is valid., type: int, default: 7}
  mfa:
    description: MFA by authenticator app (TOTP). C(OPTIONAL) lets each user turn it on.
    type: str
    choices: ["OFF", "OPTIONAL", "ON"]
    default: "OFF"
  deletion_protection:
    description: Whether Cognito refuses to delete the pool.
    type: bool
    default: false
  allow_admin_create_user_only:
    description: Whether only administrators may create users (no self sign-up).
    type: bool
    default: false
  force_delete:
    description: With O(state=absent), turn deletion protection off first. Without it a protected pool is an error.
    type: bool
    default: false
  app_client:
    description:
      - A public app client of the pool to ensure in the same module run (one interpreter and boto3 session for the
        pool and its client), as M(clickstream.platform.cognito_user_pool_client) does it; its result is RV(client).
      - Its keys are that module's options but O(clickstream.platform.cognito_user_pool_client#module:user_pool_id)
        and O(clickstream.platform.cognito_user_pool_client#module:state), with the same defaults.
      - Under check mode for a pool that does not exist yet, the client is only reported as would-be created.
      - Ignored with O(state=absent) (deleting the pool deletes its clients).
    type: dict
    suboptions:
      name: {description: Name of the client., type: str, required: true}
      explicit_auth_flows: {description: Authentication flows., type: list, elements: str}
      allowed_oauth_flows: {description: OAuth flows., type: list, elements: str}
      allowed_oauth_scopes: {description: OAuth scopes., type: list, elements: str}
      callback_urls: {description: Redirect URLs after sign-in., type: list, elements: str}
      logout_urls: {description: Redirect URLs after sign-out., type: list, elements: str}
      supported_identity_providers: {description: Identity providers., type: list, elements: str}
      prevent_user_existence_errors: {description: Same answer for unknown users and wrong passwords., type: bool}
      enable_token_revocation: {description: Allow refresh tokens to be revoked., type: bool}
      access_token_validity_minutes: {description: Access token validity (minutes)., type: int}
      id_token_validity_minutes: {description: ID token validity (minutes)., type: int}
      refresh_token_validity_days: {description: Refresh token validity (days)., type: int}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Shop user pool
  clickstream.platform.cognito_user_pool:
    name: clickstream-dev-shop-users
    mfa: OPTIONAL
    deletion_protection: true
    password_policy:
      minimum_length: 12
    tags:
      Project: clickstream

- name: Remove it (turning deletion protection off first)
  clickstream.platform.cognito_user_pool:
    name: clickstream-dev-shop-users
    state: absent
    force_delete: true
"""

RETURN = r"""
actions:
  description: What was changed (or, in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: ["create pool", "set mfa OPTIONAL"]
user_pool:
  description: The pool (empty when absent, or when it would be created in check mode).
  returned: always
  type: dict
  contains:
    id: {description: Pool id, type: str}
    arn: {description: Pool ARN, type: str}
    name: {description: Name, type: str}
    settings: {description: The managed settings as the module compares them, type: dict}
client:
  description: With O(app_client), the client as M(clickstream.platform.cognito_user_pool_client) returns it (empty when
    it would be created in check mode). Never holds a secret.
  returned: when O(app_client) is given
  type: dict
"""

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource, paginate
from ansible_collections.clickstream.platform.plugins.module_utils.cognito import (
    CLIENT_ARGUMENT_SPEC,
    MFA_CHOICES,
    POOL_IMMUTABLE,
    AppClient,
    client_input_errors,
    desired_client_view,
    desired_pool_view,
    mfa_args,
    pool_create_args,
    pool_mutable_args,
    pool_view,
    view_differences,
)
from ansible_collections.clickstream.platform.plugins.module_utils.tags import TAG_OPTIONS, tags_after


class UserPool(Boto3Resource):
    failure_msg = "cognito-idp {method} failed"

    def find(self, name: str) -> dict[str, Any] | None:
        pools = paginate(lambda **token: self.call("list_user_pools", MaxResults=60, **token), "UserPools")
        pool = self.single_named(pools, name, what="user pools", id_key="Id", ids_key="user_pool_ids")
        return self.call("describe_user_pool", UserPoolId=pool["Id"])["UserPool"] if pool else None

    def ensure(self) -> dict[str, Any]:
        p = self.module.params
        desired = desired_pool_view(p)
        self.after = desired
        pool = self.find(p["name"])
        if pool is None:
            created = self.change("create pool", "create_user_pool", **pool_create_args(p["name"], desired))
            if desired["mfa"] != "OFF":
                self.actions.append(f"set mfa {desired['mfa']}")
                if created:
                    self.call("set_user_pool_mfa_config", UserPoolId=created["UserPool"]["Id"],
                              **mfa_args(desired["mfa"]))
            return self.result(created["UserPool"]["Id"], desired) if created else {}
        pool_id = pool["Id"]
        current = pool_view(pool, self.call("get_user_pool_mfa_config", UserPoolId=pool_id), desired)
        self.before = current
        # UpdateUserPool takes the whole tag set: what O(tags) and O(purge_tags) leave of the current one.
        desired = {**desired, "tags": tags_after(current["tags"], p["tags"], p["purge_tags"])}
        for key in POOL_IMMUTABLE:
            if current[key] != desired[key]:
                self.module.warn(f"user pool {p['name']}: {key} is {current[key]!r} and cannot change after "
                                 f"creation (wanted {desired[key]!r}); create a new pool to change it")
                desired = {**desired, key: current[key]}
        self.after = desired
        diffs = view_differences(current, desired)
        if "mfa" in diffs:
            self.change(f"set mfa {desired['mfa']}", "set_user_pool_mfa_config", UserPoolId=pool_id,
                        **mfa_args(desired["mfa"]))
        others = [d for d in diffs if d != "mfa"]
        if others:
            # UpdateUserPool carries MfaConfiguration as well; without it Cognito would switch MFA off again.
            self.change(f"update pool: {', '.join(others)}", "update_user_pool", UserPoolId=pool_id,
                        MfaConfiguration=desired["mfa"], **pool_mutable_args(desired))
        return self.result(pool_id, desired)

    def result(self, pool_id: str, desired: dict[str, Any]) -> dict[str, Any]:
        pool = self.call("describe_user_pool", UserPoolId=pool_id)["UserPool"]
        settings = desired if self.check else pool_view(
            pool, self.call("get_user_pool_mfa_config", UserPoolId=pool_id), desired)
        return {"id": pool_id, "arn": pool.get("Arn", ""), "name": pool.get("Name", ""), "settings": settings}

    def remove(self) -> None:
        p = self.module.params
        pool = self.find(p["name"])
        if pool is None:
            return
        self.before = {"name": p["name"], "id": pool["Id"]}
        if pool.get("DeletionProtection") == "ACTIVE":
            if not p["force_delete"]:
                self.module.fail_json(msg=f"user pool {p['name']} has deletion protection on; set force_delete to "
                                          "turn it off and delete it")
            # Keep every other setting while lifting the protection (UpdateUserPool resets what it is not given).
            current = pool_view(pool, self.call("get_user_pool_mfa_config", UserPoolId=pool["Id"]),
                                desired_pool_view({}))
            current["mfa"] = current["mfa"].split(" ")[0]
            self.change("turn deletion protection off", "update_user_pool", UserPoolId=pool["Id"],
                        MfaConfiguration=current["mfa"],
                        **pool_mutable_args({**current, "deletion_protection": False}))
        self.change("delete pool", "delete_user_pool", UserPoolId=pool["Id"])


ARGUMENT_SPEC: dict[str, Any] = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    username_attributes=dict(type="list", elements="str", default=["email"]),
    case_sensitive=dict(type="bool", default=False),
    auto_verified_attributes=dict(type="list", elements="str", default=["email"]),
    verification_email_subject=dict(type="str", default=""),
    verification_email_message=dict(type="str", default=""),
    password_policy=dict(type="dict", no_log=False, options=dict(
        minimum_length=dict(type="int", default=12),
        require_uppercase=dict(type="bool", default=True),
        require_lowercase=dict(type="bool", default=True),
        require_numbers=dict(type="bool", default=True),
        require_symbols=dict(type="bool", default=True),
        temporary_password_validity_days=dict(type="int", default=7),
    )),
    mfa=dict(type="str", choices=list(MFA_CHOICES), default="OFF"),
    deletion_protection=dict(type="bool", default=False),
    allow_admin_create_user_only=dict(type="bool", default=False),
    force_delete=dict(type="bool", default=False),
    app_client=dict(type="dict", options={k: v for k, v in CLIENT_ARGUMENT_SPEC.items()
                                          if k not in ("user_pool_id", "state")}),
    **TAG_OPTIONS,
)


class ClientParams:
    """The module as AppClient sees it: the same module, the client's parameters (O(app_client) with the pool's id)."""

    def __init__(self, module: Any, params: dict[str, Any]) -> None:
        self._module = module
        self.params = params

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def ensure_client(module: Any, manager: UserPool, pool: dict[str, Any]) -> dict[str, Any]:
    """O(app_client) in the pool just ensured; its actions and diff join the pool's."""
    spec = module.params["app_client"]
    if not pool.get("id"):  # check mode, the pool would be created: so would its client
        manager.actions.append(f"create client {spec['name']}")
        manager.after = {**manager.after, "app_client": desired_client_view(spec)}
        return {}
    clients = AppClient(ClientParams(module, {**spec, "user_pool_id": pool["id"], "state": "present"}),
                        manager.client)
    result = clients.ensure()
    manager.actions += [f"client {spec['name']}: {action}" for action in clients.actions]
    manager.before = {**manager.before, "app_client": clients.before}
    manager.after = {**manager.after, "app_client": clients.after}
    return result


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    errors = pool_input_errors(module.params)
    if module.params["app_client"] is not None and module.params["state"] == "present":
        errors += [f"app_client: {e}" for e in client_input_errors(desired_client_view(module.params["app_client"]))]
    if errors:
        module.fail_json(msg="; ".join(errors))
    manager = UserPool(module, module.client("cognito-idp", retry_decorator=AWSRetry.jittered_backoff()))
    if module.params["state"] == "absent":
        manager.remove()
        manager.exit_json(user_pool={})
    result = manager.ensure()
    if module.params["app_client"] is not None:
        manager.exit_json(user_pool=result, client=ensure_client(module, manager, result))
    manager.exit_json(user_pool=result)


def pool_input_errors(p: dict[str, Any]) -> list[str]:
    errors = []
    pw = p.get("password_policy") or {}
    if not 6 <= int(pw.get("minimum_length", 12)) <= 99:
        errors.append("password_policy.minimum_length must be 6-99")
    if not 0 <= int(pw.get("temporary_password_validity_days", 7)) <= 365:
        errors.append("password_policy.temporary_password_validity_days must be 0-365")
    for attr in p.get("username_attributes") or []:
        if attr not in ("email", "phone_number"):
            errors.append(f"username_attributes: {attr!r} is not email or phone_number")
    message = p.get("verification_email_message") or ""
    if message and "{####}" not in message:
        errors.append("verification_email_message must contain {####} (the code)")
    return errors


if __name__ == "__main__":
    main()
