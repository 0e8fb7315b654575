"""The `identity` and `frontend_hosting` plays (site.yml for the preflight check) against a real moto server.

Each test uses its own project name, so its resources (and teardown) never touch another test's."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook

pytestmark = pytest.mark.integration

CALLBACKS = ["https://shop.example.com/api/auth/callback/cognito", "http://localhost:3000/api/auth/callback/cognito"]
LOGOUTS = ["https://shop.example.com/"]


def play(moto_server: Any, tmp_path: Path, project: str, *args: str, playbook: str = "playbooks/identity.yml",
         **extra: Any) -> PlaybookRun:
    """The identity play alone (the emulator already answers), or site.yml --tags identity with playbook="site.yml"."""
    varfile = tmp_path / f"vars-{uuid.uuid4().hex[:6]}.json"
    varfile.write_text(json.dumps({"clickstream_project": project, **extra}))
    return run_playbook(playbook, "--tags", "identity", "-e", f"@{varfile}", *args, env=moto_server.env())


def pools_named(cognito: Any, name: str) -> list[dict[str, Any]]:
    return [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == name]


def ssm_value(ssm: Any, name: str) -> str | None:
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


@pytest.mark.slow
def test_identity_check_create_idempotent_teardown(moto_server, tmp_path):
    cognito, ssm = moto_server.client("cognito-idp"), moto_server.client("ssm")
    project = f"idt{uuid.uuid4().hex[:6]}"
    pool_name, client_name = f"{project}-local-shop-users", f"{project}-local-shop-web"
    wanted = {"identity_callback_urls": CALLBACKS, "identity_logout_urls": LOGOUTS, "identity_mfa": "OPTIONAL",
              "identity_deletion_protection": True}

    # --check on a fresh emulator: reports the pool, creates nothing
    check = play(moto_server, tmp_path, project, "--check", **wanted)
    assert check.rc == 0, check.output
    assert "Cognito user pool (e-mail sign-in" in " ".join(check.changed_tasks())
    assert pools_named(cognito, pool_name) == []

    first = play(moto_server, tmp_path, project, **wanted)
    assert first.rc == 0, first.output
    [summary] = pools_named(cognito, pool_name)
    pool = cognito.describe_user_pool(UserPoolId=summary["Id"])["UserPool"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["VerificationMessageTemplate"]["DefaultEmailOption"] == "CONFIRM_WITH_CODE"
    assert "{####}" in pool["VerificationMessageTemplate"]["EmailMessage"]
    assert pool["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12, "RequireUppercase": True, "RequireLowercase": True, "RequireNumbers": True,
        "RequireSymbols": True, "TemporaryPasswordValidityDays": 7}
    assert pool["DeletionProtection"] == "ACTIVE"
    assert pool["UserPoolTags"]["Project"] == project
    mfa = cognito.get_user_pool_mfa_config(UserPoolId=pool["Id"])
    assert mfa["MfaConfiguration"] == "OPTIONAL"
    assert mfa["SoftwareTokenMfaConfiguration"]["Enabled"] is True

    [client_summary] = cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"]
    client = cognito.describe_user_pool_client(UserPoolId=pool["Id"],
                                               ClientId=client_summary["ClientId"])["UserPoolClient"]
    assert client["ClientName"] == client_name
    assert "ClientSecret" not in client
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(client["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    assert sorted(client["CallbackURLs"]) == sorted(CALLBACKS)
    assert client["LogoutURLs"] == LOGOUTS
    assert client["SupportedIdentityProviders"] == ["COGNITO"]

    prefix = f"/{project}/local/identity"
    assert ssm_value(ssm, f"{prefix}/user_pool_id") == pool["Id"]
    assert ssm_value(ssm, f"{prefix}/app_client_id") == client["ClientId"]
    assert f"Cognito user pool id:  {pool['Id']}" in first.output
    assert f"Cognito app client id: {client['ClientId']}" in first.output

    second = play(moto_server, tmp_path, project, **wanted)
    assert second.rc == 0, second.output
    assert second.changed == 0, second.changed_tasks()

    # --check with other wishes: reported as changes, nothing changes
    check2 = play(moto_server, tmp_path, project, "--check", **{**wanted, "identity_mfa": "ON",
                                                                 "identity_logout_urls": ["https://other.example/"]})
    assert check2.rc == 0, check2.output
    # The pool and its client are one module run (cognito_user_pool's app_client): one task reports both.
    assert len(check2.changed_tasks()) == 1, check2.changed_tasks()
    assert cognito.get_user_pool_mfa_config(UserPoolId=pool["Id"])["MfaConfiguration"] == "OPTIONAL"
    assert cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client["ClientId"])[
        "UserPoolClient"]["LogoutURLs"] == LOGOUTS

    # The client changed behind the play's back: the same run puts it back, the next one changes nothing.
    cognito.update_user_pool_client(UserPoolId=pool["Id"], ClientId=client["ClientId"], ClientName=client_name,
                                    LogoutURLs=["https://drift.example/"], CallbackURLs=CALLBACKS,
                                    AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"],
                                    AllowedOAuthFlowsUserPoolClient=True, SupportedIdentityProviders=["COGNITO"])
    fixed = play(moto_server, tmp_path, project, **wanted)
    assert fixed.rc == 0 and fixed.changed == 1, fixed.changed_tasks() or fixed.output[-3000:]
    again = cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client["ClientId"])["UserPoolClient"]
    assert again["LogoutURLs"] == LOGOUTS and sorted(again["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    assert play(moto_server, tmp_path, project, **wanted).changed == 0

    # teardown removes the protected pool (its client goes with it) and the parameters, and only this project's
    down = run_playbook("playbooks/teardown.yml", "-e", "teardown_confirm=yes", "-e",
                        f"clickstream_project={project}", env=moto_server.env())
    assert down.rc == 0, down.output
    assert pools_named(cognito, pool_name) == []
    assert ssm_value(ssm, f"{prefix}/user_pool_id") is None
    assert ssm_value(ssm, f"{prefix}/app_client_id") is None


def test_identity_bad_input_fails_in_preflight_before_anything_is_created(moto_server, tmp_path):
    cognito = moto_server.client("cognito-idp")
    project = f"idb{uuid.uuid4().hex[:6]}"
    run = play(moto_server, tmp_path, project, playbook="site.yml",
               identity_callback_urls=["http://evil.example.com/cb"])
    assert run.rc != 0
    assert "must be https (http only for localhost)" in run.output
    # the preflight play stopped the run: the identity play never started
    assert "PLAY [Identity: Cognito user pool and app client of the shop]" not in run.output
    assert pools_named(cognito, f"{project}-local-shop-users") == []


def test_frontend_skips_cleanly_against_the_emulator(moto_server, tmp_path):
    project = f"fe{uuid.uuid4().hex[:6]}"
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps({"clickstream_project": project}))
    run = run_playbook("playbooks/frontend.yml", "--tags", "frontend", "-e", f"@{varfile}", env=moto_server.env())
    assert run.rc == 0, run.output
    assert run.changed == 0
    assert "Amplify Hosting skipped: frontend_hosting_enabled is false" in run.output
    assert "frontend_hosting/tasks/app.yml" not in run.output  # the Amplify tasks were never included


def test_frontend_reads_ssm_at_deploy_time_and_never_prints_database_url(moto_server, tmp_path):
    """Forced past the emulator check: the role reads the Cognito ids, the ingest URL and DATABASE_URL from the
    emulator's SSM, then the Amplify call fails (the emulator has no Amplify API). The secret appears nowhere."""
    ssm = moto_server.client("ssm")
    project = f"fs{uuid.uuid4().hex[:6]}"
    secret = f"pw-{uuid.uuid4().hex}"
    prefix = f"/{project}/local"
    for name, value in (("identity/user_pool_id", "us-east-1_pool"), ("identity/app_client_id", "client123"),
                        ("ingest/api_url", "http://127.0.0.1:8080/clickstream")):
        ssm.put_parameter(Name=f"{prefix}/{name}", Value=value, Type="String")
    ssm.put_parameter(Name=f"{prefix}/db/oltp/database_url", Type="SecureString",
                      Value=f"postgresql://shop_app:{secret}@203.0.113.10:5432/shop?sslmode=require")
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps({"clickstream_project": project, "frontend_hosting_enabled": True}))
    # one attempt: the emulator answers every Amplify call with a 500, which botocore would otherwise retry
    env = {**moto_server.env(), "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    run = run_playbook("playbooks/frontend.yml", "-vv", "-e", f"@{varfile}", env=env)
    assert run.rc != 0
    assert "TASK [frontend_hosting : Amplify app of the shop" in run.output
    assert "amplify list_apps failed" in run.output
    assert secret not in run.output


def test_frontend_missing_inputs_fail_clearly(moto_server, tmp_path):
    project = f"fm{uuid.uuid4().hex[:6]}"
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps({"clickstream_project": project, "frontend_hosting_enabled": True}))
    run = run_playbook("playbooks/frontend.yml", "-e", f"@{varfile}", env=moto_server.env())
    assert run.rc != 0
    assert "Missing SSM parameters for the frontend" in run.output
    assert "NEXT_PUBLIC_COGNITO_USER_POOL_ID" in run.output
    assert "Amplify app of the shop" not in run.output
