# Copyright: clickstream-analytics contributors
# MIT License
"""Pure helpers of the cognito_user_pool and cognito_user_pool_client modules: desired state from module options,
a normalised view of what Cognito returns (boto3 shapes), and their comparison. No AWS calls here."""

from __future__ import annotations

from typing import Any

from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource, paginate
from ansible_collections.clickstream.platform.plugins.module_utils.tags import tag_values

MFA_CHOICES = ("OFF", "OPTIONAL", "ON")
# Settings fixed when a pool is created: a different wish is reported, never applied (it needs a new pool).
POOL_IMMUTABLE = ("username_attributes", "case_sensitive")
CLIENT_DEFAULT_IDPS = ["COGNITO"]


# -- user pool ---------------------------------------------------------------------------------------------------
def desired_pool_view(p: dict[str, Any]) -> dict[str, Any]:
    """Module options -> the normalised settings the module manages (same shape as pool_view)."""
    pw = p.get("password_policy") or {}
    return {
        "username_attributes": sorted(p.get("username_attributes") or []),
        "case_sensitive": bool(p.get("case_sensitive")),
        "auto_verified_attributes": sorted(p.get("auto_verified_attributes") or []),
        "password_policy": {
            "minimum_length": int(pw.get("minimum_length", 12)),
            "require_uppercase": bool(pw.get("require_uppercase", True)),
            "require_lowercase": bool(pw.get("require_lowercase", True)),
            "require_numbers": bool(pw.get("require_numbers", True)),
            "require_symbols": bool(pw.get("require_symbols", True)),
            "temporary_password_validity_days": int(pw.get("temporary_password_validity_days", 7)),
        },
        "mfa": p.get("mfa") or "OFF",
        "deletion_protection": bool(p.get("deletion_protection")),
        "verification_email_subject": p.get("verification_email_subject") or "",
        "verification_email_message": p.get("verification_email_message") or "",
        "attributes_require_verification_before_update": sorted(p.get("auto_verified_attributes") or []),
        "allow_admin_create_user_only": bool(p.get("allow_admin_create_user_only")),
        "account_recovery": "verified_email" if "email" in (p.get("auto_verified_attributes") or []) else "admin_only",
        "tags": tag_values(p.get("tags")),
    }


def pool_view(pool: dict[str, Any], mfa_config: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """describe_user_pool()['UserPool'] + get_user_pool_mfa_config() -> the shape of desired_pool_view.

    Settings the caller did not ask about (an e-mail subject when none is wanted) are read as the wish, so AWS
    defaults never show up as a difference."""
    pw = (pool.get("Policies") or {}).get("PasswordPolicy") or {}
    template = pool.get("VerificationMessageTemplate") or {}
    recovery = [m.get("Name") for m in sorted((pool.get("AccountRecoverySetting") or {}).get("RecoveryMechanisms")
                                              or [], key=lambda m: m.get("Priority", 0))]
    mfa = mfa_config.get("MfaConfiguration") or pool.get("MfaConfiguration") or "OFF"
    if mfa != "OFF" and not (mfa_config.get("SoftwareTokenMfaConfiguration") or {}).get("Enabled"):
        mfa = f"{mfa} (without TOTP)"
    subject = (template.get("EmailSubject") or "") if desired["verification_email_subject"] else ""
    message = (template.get("EmailMessage") or "") if desired["verification_email_message"] else ""
    return {
        "username_attributes": sorted(pool.get("UsernameAttributes") or []),
        "case_sensitive": bool((pool.get("UsernameConfiguration") or {}).get("CaseSensitive", True)),
        "auto_verified_attributes": sorted(pool.get("AutoVerifiedAttributes") or []),
        "password_policy": {
            "minimum_length": int(pw.get("MinimumLength", 8)),
            "require_uppercase": bool(pw.get("RequireUppercase")),
            "require_lowercase": bool(pw.get("RequireLowercase")),
            "require_numbers": bool(pw.get("RequireNumbers")),
            "require_symbols": bool(pw.get("RequireSymbols")),
            "temporary_password_validity_days": int(pw.get("TemporaryPasswordValidityDays", 7)),
        },
        "mfa": mfa,
        "deletion_protection": pool.get("DeletionProtection") == "ACTIVE",
        "verification_email_subject": subject,
        "verification_email_message": message,
        "attributes_require_verification_before_update": sorted(
            (pool.get("UserAttributeUpdateSettings") or {}).get("AttributesRequireVerificationBeforeUpdate") or []),
        "allow_admin_create_user_only": bool((pool.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")),
        "account_recovery": recovery[0] if recovery else "",
        "tags": {k: v for k, v in (pool.get("UserPoolTags") or {}).items() if not k.startswith("aws:")},
    }


def view_differences(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    """Top-level keys whose values differ."""
    return sorted(k for k in desired if current.get(k) != desired[k])


def pool_mutable_args(d: dict[str, Any]) -> dict[str, Any]:
    """desired_pool_view -> the settings both CreateUserPool and UpdateUserPool take.

    UpdateUserPool resets every setting it is not given, so an update always sends all of them."""
    pw = d["password_policy"]
    template: dict[str, Any] = {"DefaultEmailOption": "CONFIRM_WITH_CODE"}
    if d["verification_email_subject"]:
        template["EmailSubject"] = d["verification_email_subject"]
    if d["verification_email_message"]:
        template["EmailMessage"] = d["verification_email_message"]
    recovery_name = d["account_recovery"]
    args: dict[str, Any] = {
        "Policies": {"PasswordPolicy": {
            "MinimumLength": pw["minimum_length"],
            "RequireUppercase": pw["require_uppercase"],
            "RequireLowercase": pw["require_lowercase"],
            "RequireNumbers": pw["require_numbers"],
            "RequireSymbols": pw["require_symbols"],
            "TemporaryPasswordValidityDays": pw["temporary_password_validity_days"],
        }},
        "DeletionProtection": "ACTIVE" if d["deletion_protection"] else "INACTIVE",
        "AutoVerifiedAttributes": d["auto_verified_attributes"],
        "VerificationMessageTemplate": template,
        "EmailConfiguration": {"EmailSendingAccount": "COGNITO_DEFAULT"},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": d["allow_admin_create_user_only"]},
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": recovery_name}]},
        "UserPoolTags": d["tags"],
    }
    if d["attributes_require_verification_before_update"]:
        args["UserAttributeUpdateSettings"] = {
            "AttributesRequireVerificationBeforeUpdate": d["attributes_require_verification_before_update"]}
    return args


def pool_create_args(name: str, d: dict[str, Any]) -> dict[str, Any]:
    """CreateUserPool arguments. MFA starts OFF: TOTP is switched on with SetUserPoolMfaConfig right after
    (CreateUserPool would otherwise ask for an SMS configuration)."""
    args = {"PoolName": name, **pool_mutable_args(d), "MfaConfiguration": "OFF",
            "UsernameConfiguration": {"CaseSensitive": d["case_sensitive"]}}
    if d["username_attributes"]:
        args["UsernameAttributes"] = d["username_attributes"]
    if "email" in d["username_attributes"] or "email" in d["auto_verified_attributes"]:
        args["Schema"] = [{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}]
    return args


def mfa_args(mfa: str) -> dict[str, Any]:
    """SetUserPoolMfaConfig arguments: MFA by authenticator app (TOTP) only; SMS would need an IAM role."""
    return {"MfaConfiguration": mfa, "SoftwareTokenMfaConfiguration": {"Enabled": mfa != "OFF"}}


# -- app client --------------------------------------------------------------------------------------------------
def desired_client_view(p: dict[str, Any]) -> dict[str, Any]:
    oauth_flows = sorted(p.get("allowed_oauth_flows") or [])
    return {
        "explicit_auth_flows": sorted(p.get("explicit_auth_flows") or []),
        "allowed_oauth_flows": oauth_flows,
        "allowed_oauth_scopes": sorted(p.get("allowed_oauth_scopes") or []) if oauth_flows else [],
        "allowed_oauth_flows_user_pool_client": bool(oauth_flows),
        "callback_urls": sorted(p.get("callback_urls") or []),
        "logout_urls": sorted(p.get("logout_urls") or []),
        "supported_identity_providers": sorted(p.get("supported_identity_providers") or CLIENT_DEFAULT_IDPS),
        "prevent_user_existence_errors": bool(p.get("prevent_user_existence_errors", True)),
        "enable_token_revocation": bool(p.get("enable_token_revocation", True)),
        "access_token_validity_minutes": int(p.get("access_token_validity_minutes") or 60),
        "id_token_validity_minutes": int(p.get("id_token_validity_minutes") or 60),
        "refresh_token_validity_days": int(p.get("refresh_token_validity_days") or 30),
    }


def _minutes(value: Any, unit: str | None, default_unit: str) -> int:
    factor = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 1440}[unit or default_unit]
    return round(int(value or 0) * factor)


def client_view(c: dict[str, Any]) -> dict[str, Any]:
    """describe_user_pool_client()['UserPoolClient'] -> the shape of desired_client_view."""
    units = c.get("TokenValidityUnits") or {}
    return {
        "explicit_auth_flows": sorted(c.get("ExplicitAuthFlows") or []),
        "allowed_oauth_flows": sorted(c.get("AllowedOAuthFlows") or []),
        "allowed_oauth_scopes": sorted(c.get("AllowedOAuthScopes") or []),
        "allowed_oauth_flows_user_pool_client": bool(c.get("AllowedOAuthFlowsUserPoolClient")),
        "callback_urls": sorted(c.get("CallbackURLs") or []),
        "logout_urls": sorted(c.get("LogoutURLs") or []),
        "supported_identity_providers": sorted(c.get("SupportedIdentityProviders") or []),
        "prevent_user_existence_errors": c.get("PreventUserExistenceErrors") == "ENABLED",
        "enable_token_revocation": bool(c.get("EnableTokenRevocation")),
        "access_token_validity_minutes": _minutes(c.get("AccessTokenValidity", 60), units.get("AccessToken"), "hours"),
        "id_token_validity_minutes": _minutes(c.get("IdTokenValidity", 60), units.get("IdToken"), "hours"),
        "refresh_token_validity_days": round(_minutes(c.get("RefreshTokenValidity", 30), units.get("RefreshToken"),
                                                      "days") / 1440),
    }


def client_args(d: dict[str, Any]) -> dict[str, Any]:
    """desired_client_view -> the settings CreateUserPoolClient and UpdateUserPoolClient share (an update resets
    what it is not given, so it sends them all)."""
    args: dict[str, Any] = {
        "ExplicitAuthFlows": d["explicit_auth_flows"],
        "SupportedIdentityProviders": d["supported_identity_providers"],
        "PreventUserExistenceErrors": "ENABLED" if d["prevent_user_existence_errors"] else "LEGACY",
        "EnableTokenRevocation": d["enable_token_revocation"],
        "AccessTokenValidity": d["access_token_validity_minutes"],
        "IdTokenValidity": d["id_token_validity_minutes"],
        "RefreshTokenValidity": d["refresh_token_validity_days"],
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        "AllowedOAuthFlowsUserPoolClient": d["allowed_oauth_flows_user_pool_client"],
    }
    if d["allowed_oauth_flows"]:
        args["AllowedOAuthFlows"] = d["allowed_oauth_flows"]
        args["AllowedOAuthScopes"] = d["allowed_oauth_scopes"]
    if d["callback_urls"]:
        args["CallbackURLs"] = d["callback_urls"]
    if d["logout_urls"]:
        args["LogoutURLs"] = d["logout_urls"]
    return args


def client_input_errors(d: dict[str, Any]) -> list[str]:
    """Problems Cognito would reject later, reported before any call."""
    errors = []
    if d["allowed_oauth_flows"] and not d["callback_urls"]:
        errors.append("allowed_oauth_flows need at least one callback_url")
    if "client_credentials" in d["allowed_oauth_flows"]:
        errors.append("client_credentials needs a client secret; a public client cannot use it")
    for url in d["callback_urls"] + d["logout_urls"]:
        if not (url.startswith("https://") or url.startswith("http://localhost")
                or url.startswith("http://127.0.0.1")):
            errors.append(f"{url}: callback/logout URLs must use https (http only for localhost)")
    if not 5 <= d["access_token_validity_minutes"] <= 1440:
        errors.append("access_token_validity_minutes must be 5-1440")
    if not 5 <= d["id_token_validity_minutes"] <= 1440:
        errors.append("id_token_validity_minutes must be 5-1440")
    if not 1 <= d["refresh_token_validity_days"] <= 3650:
        errors.append("refresh_token_validity_days must be 1-3650")
    return errors


# The app client's manager and options: cognito_user_pool_client's, and cognito_user_pool's O(app_client) (the pool
# and its client in one module run).
class AppClient(Boto3Resource):
    failure_msg = "cognito-idp {method} failed"

    def find(self, pool_id: str, name: str) -> dict[str, Any] | None:
        clients = paginate(lambda **token: self.call("list_user_pool_clients", UserPoolId=pool_id, MaxResults=60,
                                                     **token), "UserPoolClients")
        found = self.single_named(clients, name, what="app clients", id_key="ClientId", ids_key="client_ids",
                                  name_key="ClientName")
        if found is None:
            return None
        return self.call("describe_user_pool_client", UserPoolId=pool_id,
                         ClientId=found["ClientId"])["UserPoolClient"]

    def create(self, pool_id: str, desired: dict[str, Any]) -> dict[str, Any]:
        created = self.change("create client", "create_user_pool_client", UserPoolId=pool_id,
                              ClientName=self.module.params["name"], GenerateSecret=False, **client_args(desired))
        return self.result(created["UserPoolClient"]) if created else {}

    def ensure(self) -> dict[str, Any]:
        p = self.module.params
        desired = desired_client_view(p)
        self.after = desired
        pool_id = p["user_pool_id"]
        current = self.find(pool_id, p["name"])
        if current is None:
            return self.create(pool_id, desired)
        self.before = client_view(current)
        if current.get("ClientSecret"):
            self.change("delete client with a secret", "delete_user_pool_client", UserPoolId=pool_id,
                        ClientId=current["ClientId"])
            return self.create(pool_id, desired)
        diffs = view_differences(self.before, desired)
        if diffs:
            self.change(f"update client: {', '.join(diffs)}", "update_user_pool_client", UserPoolId=pool_id,
                        ClientId=current["ClientId"], ClientName=p["name"], **client_args(desired))
            if not self.check:
                current = self.call("describe_user_pool_client", UserPoolId=pool_id,
                                    ClientId=current["ClientId"])["UserPoolClient"]
        return self.result(current)

    def result(self, client: dict[str, Any]) -> dict[str, Any]:
        return {"client_id": client["ClientId"], "name": client.get("ClientName", ""),
                "user_pool_id": client.get("UserPoolId", ""), "settings": client_view(client)}

    def remove(self) -> None:
        p = self.module.params
        # a pool that is gone has no clients either
        if self.call("describe_user_pool", none_on={"ResourceNotFoundException"}, UserPoolId=p["user_pool_id"]) is None:
            return
        current = self.find(p["user_pool_id"], p["name"])
        if current is not None:
            self.before = client_view(current)
            self.change("delete client", "delete_user_pool_client", UserPoolId=p["user_pool_id"],
                        ClientId=current["ClientId"])


CLIENT_ARGUMENT_SPEC: dict[str, Any] = dict(
    name=dict(type="str", required=True),
    user_pool_id=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    explicit_auth_flows=dict(type="list", elements="str",
                             default=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]),
    allowed_oauth_flows=dict(type="list", elements="str", default=["code"]),
    allowed_oauth_scopes=dict(type="list", elements="str", default=["openid", "email", "profile"]),
    callback_urls=dict(type="list", elements="str", default=[]),
    logout_urls=dict(type="list", elements="str", default=[]),
    supported_identity_providers=dict(type="list", elements="str", default=["COGNITO"]),
    prevent_user_existence_errors=dict(type="bool", default=True),
    enable_token_revocation=dict(type="bool", default=True),
    access_token_validity_minutes=dict(type="int", default=60),
    id_token_validity_minutes=dict(type="int", default=60),
    refresh_token_validity_days=dict(type="int", default=30),
)
