#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cognito_user_pool_client
short_description: Manage a public (secretless) app client of an Amazon Cognito user pool
description:
  - Creates, updates or deletes the app client named O(name) in the user pool O(user_pool_id).
  - The client is public, it never has a secret (a browser or a Next.js frontend cannot keep one). A client with a
    secret under this name is replaced, since a secret cannot be removed from a client.
  - Manages the auth flows, the OAuth flows, scopes, callback and logout URLs, identity providers, token
    validity and revocation. UpdateUserPoolClient resets what it is not given, so an update sends every setting.
  - Idempotent, supports check mode and diff mode.
version_added: 1.0.0
author: clickstream-analytics
options:
  name:
    description: Name of the client. More than one client with this name in the pool is an error.
    type: str
    required: true
  user_pool_id:
    description: Id of the user pool.
    type: str
    required: true
  state:
    description: Whether the client should exist.
    type: str
    choices: [present, absent]
    default: present
  explicit_auth_flows:
    description: Authentication flows (C(ALLOW_USER_SRP_AUTH), C(ALLOW_REFRESH_TOKEN_AUTH), ...).
    type: list
    elements: str
    default: [ALLOW_USER_SRP_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  allowed_oauth_flows:
    description: OAuth flows (C(code), C(implicit)); empty for none. C(client_credentials) needs a secret.
    type: list
    elements: str
    default: [code]
  allowed_oauth_scopes:
    description: OAuth scopes.
    type: list
    elements: str
    default: [openid, email, profile]
  callback_urls:
    description: Allowed redirect URLs after sign-in (https; http only for localhost).
    type: list
    elements: str
    default: []
  logout_urls:
    description: Allowed redirect URLs after sign-out (https; http only for localhost).
    type: list
    elements: str
    default: []
  supported_identity_providers:
    description: Identity providers of the client.
    type: list
    elements: str
    default: [COGNITO]
  prevent_user_existence_errors:
    description: Answer the same for unknown users and wrong passwords.
    type: bool
    default: true
  enable_token_revocation:
    description: Allow refresh tokens to be revoked.
    type: bool
    default: true
  access_token_validity_minutes:
    description: Access token validity (5-1440 minutes).
    type: int
    default: 60
  id_token_validity_minutes:
    description: ID token validity (5-1440 minutes).
    type: int
    default: 60
  refresh_token_validity_days:
    description: Refresh token validity (1-3650 days).
    type: int
    default: 30
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Public client of the Next.js shop
  clickstream.platform.cognito_user_pool_client:
    name: clickstream-dev-shop-web
    user_pool_id: "{{ pool.user_pool.id }}"
    allowed_oauth_flows: [code]
    allowed_oauth_scopes: [openid, email, profile]
    callback_urls: [https://shop.example.com/api/auth/callback/cognito]
    logout_urls: [https://shop.example.com/]
"""

RETURN = r"""
actions:
  description: What was changed (or, in check mode, would be).
  returned: always
  type: list
  elements: str
client:
  description: The client (empty when absent, or when it would be created in check mode). Never holds a secret.
  returned: always
  type: dict
  contains:
    client_id: {description: Client id, type: str}
    name: {description: Name, type: str}
    user_pool_id: {description: Pool id, type: str}
    settings: {description: The managed settings as the module compares them, type: dict}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.clickstream.platform.plugins.module_utils.cognito import (
    CLIENT_ARGUMENT_SPEC,
    AppClient,
    client_input_errors,
    desired_client_view,
)

# The options (module_utils/cognito.py: cognito_user_pool's app_client takes the same ones but the pool id and state).
ARGUMENT_SPEC = CLIENT_ARGUMENT_SPEC


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    manager = AppClient(module, module.client("cognito-idp", retry_decorator=AWSRetry.jittered_backoff()))
    if module.params["state"] == "absent":
        manager.remove()
        manager.exit_json(client={})
    errors = client_input_errors(desired_client_view(module.params))
    if errors:
        module.fail_json(msg="; ".join(errors))
    result = manager.ensure()
    manager.exit_json(client=result)


if __name__ == "__main__":
    main()
