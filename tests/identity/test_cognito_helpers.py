"""Unit tests of the Cognito modules' pure helpers: what the modules send reads back as what was asked
(so a second run finds no difference), and bad input is refused before any call."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.clickstream.platform.plugins.module_utils.cognito import (
    client_args,
    client_input_errors,
    client_view,
    desired_client_view,
    desired_pool_view,
    mfa_args,
    pool_create_args,
    pool_view,
    view_differences,
)
from ansible_collections.clickstream.platform.plugins.modules.cognito_user_pool import pool_input_errors
from hypothesis import given
from hypothesis import strategies as st

POOL_OPTIONS = {"username_attributes": ["email"], "auto_verified_attributes": ["email"], "case_sensitive": False,
                "password_policy": {"minimum_length": 14, "require_symbols": False}, "mfa": "OPTIONAL",
                "deletion_protection": True, "verification_email_subject": "Code",
                "verification_email_message": "Code {####}", "tags": {"Project": "p"}}


def as_described(create_args: dict[str, Any]) -> dict[str, Any]:
    """What DescribeUserPool returns for a pool created with these arguments (the managed part)."""
    pool = {k: v for k, v in create_args.items() if k not in ("PoolName", "Schema")}
    pool["Id"], pool["Name"] = "us-east-1_x", create_args["PoolName"]
    return pool


def test_pool_created_as_asked_reads_back_without_difference():
    desired = desired_pool_view(POOL_OPTIONS)
    pool = as_described(pool_create_args("shop", desired))
    current = pool_view(pool, {"MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": True}},
                        desired)
    assert view_differences(current, desired) == []
    assert current["password_policy"]["minimum_length"] == 14
    assert current["password_policy"]["require_symbols"] is False


def test_pool_differences_are_named():
    desired = desired_pool_view(POOL_OPTIONS)
    pool = as_described(pool_create_args("shop", desired))
    pool["Policies"]["PasswordPolicy"]["MinimumLength"] = 8
    pool["DeletionProtection"] = "INACTIVE"
    current = pool_view(pool, {"MfaConfiguration": "OFF"}, desired)
    assert view_differences(current, desired) == ["deletion_protection", "mfa", "password_policy"]


def test_mfa_without_totp_is_a_difference():
    desired = desired_pool_view(POOL_OPTIONS)
    pool = as_described(pool_create_args("shop", desired))
    current = pool_view(pool, {"MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": False}},
                        desired)
    assert view_differences(current, desired) == ["mfa"]
    assert mfa_args("ON") == {"MfaConfiguration": "ON", "SoftwareTokenMfaConfiguration": {"Enabled": True}}
    assert mfa_args("OFF")["SoftwareTokenMfaConfiguration"] == {"Enabled": False}


def test_pool_is_created_with_mfa_off_and_email_required():
    args = pool_create_args("shop", desired_pool_view(POOL_OPTIONS))
    assert args["MfaConfiguration"] == "OFF"  # TOTP is switched on afterwards (SetUserPoolMfaConfig)
    assert args["UsernameAttributes"] == ["email"]
    assert args["Schema"] == [{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}]
    assert args["DeletionProtection"] == "ACTIVE"


@pytest.mark.parametrize(("options", "message"), [
    ({"password_policy": {"minimum_length": 5}}, "minimum_length"),
    ({"username_attributes": ["nickname"]}, "username_attributes"),
    ({"verification_email_message": "no code here"}, "{####}"),
])
def test_pool_bad_input(options, message):
    assert any(message in e for e in pool_input_errors(options))


CLIENT_OPTIONS = st.fixed_dictionaries({
    "explicit_auth_flows": st.lists(st.sampled_from(["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH",
                                                     "ALLOW_USER_PASSWORD_AUTH"]), unique=True),
    "allowed_oauth_flows": st.lists(st.sampled_from(["code", "implicit"]), unique=True),
    "allowed_oauth_scopes": st.lists(st.sampled_from(["openid", "email", "profile", "phone"]), min_size=1,
                                     unique=True),
    "callback_urls": st.lists(st.sampled_from(["https://a.example/cb", "http://localhost:3000/cb"]), min_size=1,
                              unique=True),
    "logout_urls": st.lists(st.sampled_from(["https://a.example/", "http://127.0.0.1:3000/"]), unique=True),
    "access_token_validity_minutes": st.integers(5, 1440),
    "id_token_validity_minutes": st.integers(5, 1440),
    "refresh_token_validity_days": st.integers(1, 3650),
    "prevent_user_existence_errors": st.booleans(),
    "enable_token_revocation": st.booleans(),
})


@given(CLIENT_OPTIONS)
def test_client_sent_as_asked_reads_back_without_difference(options):
    desired = desired_client_view(options)
    assert client_input_errors(desired) == []
    described = {"ClientId": "c", "ClientName": "web", **client_args(desired)}
    assert view_differences(client_view(described), desired) == []


def test_client_token_validity_units_are_converted():
    # AWS default units: hours for access/id tokens, days for refresh tokens
    view = client_view({"AccessTokenValidity": 1, "IdTokenValidity": 2, "RefreshTokenValidity": 30})
    assert (view["access_token_validity_minutes"], view["id_token_validity_minutes"]) == (60, 120)
    view = client_view({"RefreshTokenValidity": 3600, "TokenValidityUnits": {"RefreshToken": "minutes"}})
    assert view["refresh_token_validity_days"] == round(3600 / 1440)


@pytest.mark.parametrize(("options", "message"), [
    ({"allowed_oauth_flows": ["code"], "callback_urls": []}, "callback_url"),
    ({"allowed_oauth_flows": ["client_credentials"], "callback_urls": ["https://a/"]}, "secret"),
    ({"allowed_oauth_flows": ["code"], "callback_urls": ["http://shop.example.com/cb"]}, "https"),
    ({"logout_urls": ["http://evil.example/"]}, "https"),
    ({"access_token_validity_minutes": 2}, "access_token_validity_minutes"),
])
def test_client_bad_input(options, message):
    assert any(message in e for e in client_input_errors(desired_client_view(options)))


def test_protected_pool_is_not_deleted_without_force_delete():
    """Stubbed (the emulator ignores deletion protection): without force_delete nothing is sent after the reads."""
    from ansible_collections.clickstream.platform.plugins.modules import cognito_user_pool

    from .stubbed import FakeModule, ModuleFailed, params, stubbed

    pool = {"Id": "us-east-1_p", "Name": "shop", "DeletionProtection": "ACTIVE", "Arn": "arn:aws:cognito-idp:x"}
    with stubbed("cognito-idp") as (client, stub):
        stub.add_response("list_user_pools", {"UserPools": [{"Id": "us-east-1_p", "Name": "shop"}]},
                          {"MaxResults": 60})
        stub.add_response("describe_user_pool", {"UserPool": pool}, {"UserPoolId": "us-east-1_p"})
        module = FakeModule(params(cognito_user_pool.ARGUMENT_SPEC, name="shop", state="absent"))
        with pytest.raises(ModuleFailed, match="deletion protection"):
            cognito_user_pool.UserPool(module, client).remove()
