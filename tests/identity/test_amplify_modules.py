"""Unit tests of the amplify_app and amplify_branch modules against stubbed AWS (the emulator has no Amplify API).

Every request goes through a real botocore client, so its parameters are validated against botocore's Amplify
and S3 service models before the Stubber answers (an invalid request raises ParamValidationError), and the
Stubber checks each request's exact parameters and that no unexpected request is sent. Together the scenarios send
every Amplify operation the modules can call (test_every_request_the_modules_send_is_covered)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.clickstream.platform.plugins.module_utils.amplify import (
    DEPLOYED_ARTIFACT_TAG,
    REDACTED,
    parse_custom_headers,
    render_custom_headers,
)
from ansible_collections.clickstream.platform.plugins.modules import amplify_app, amplify_branch
from botocore.exceptions import ParamValidationError

from .stubbed import FakeModule, ModuleFailed, Recorder, app, branch, job_summary, params, s3_body, stubbed

MODULES = Path(amplify_app.__file__).parent
DB_URL = "postgresql://shop_app:s3cr3t-pw@203.0.113.10:5432/shop?sslmode=require"
HEADERS = [{"pattern": "**", "headers": {"Strict-Transport-Security": "max-age=31536000",
                                          "X-Content-Type-Options": "nosniff"}}]
PUBLIC_ENV = {"NEXT_PUBLIC_COGNITO_USER_POOL_ID": "us-east-1_abc", "NEXT_PUBLIC_CLICKSTREAM_URL": "https://x/y"}


def app_params(**given: Any) -> dict[str, Any]:
    base = {"name": "shop", "environment_variables": PUBLIC_ENV,
            "secret_environment_variables": {"DATABASE_URL": DB_URL}, "custom_headers": HEADERS,
            "tags": {"Project": "clickstream"}}
    return params(amplify_app.ARGUMENT_SPEC, **{**base, **given})


def existing_app(**fields: Any) -> dict[str, Any]:
    """The app exactly as app_params() wants it."""
    wanted = {"environmentVariables": {**PUBLIC_ENV, "DATABASE_URL": DB_URL},
              "customHeaders": render_custom_headers(HEADERS), "tags": {"Project": "clickstream"}}
    return app(**{**wanted, **fields})


# -- amplify_app -------------------------------------------------------------------------------------------------
def scenario_app_create(rec: Recorder | None = None) -> dict[str, Any]:
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": []}, {"maxResults": 100})
        created = existing_app()
        stub.add_response("create_app", {"app": created}, {
            "name": "shop", "description": "", "platform": "WEB_COMPUTE",
            "environmentVariables": {**PUBLIC_ENV, "DATABASE_URL": DB_URL}, "enableBranchAutoBuild": False,
            "customHeaders": render_custom_headers(HEADERS), "tags": {"Project": "clickstream"}})
        m = amplify_app.AmplifyApp(FakeModule(app_params()), c)
        result = m.ensure()
    assert m.actions == ["create app"]
    return result


def test_app_create_sends_a_valid_create_app_and_redacts_the_secret():
    result = scenario_app_create()
    assert result["app_id"] == "d1abc"
    assert result["platform"] == "WEB_COMPUTE"
    assert result["environment_variables"]["DATABASE_URL"] == REDACTED
    assert result["environment_variables"]["NEXT_PUBLIC_COGNITO_USER_POOL_ID"] == "us-east-1_abc"
    assert DB_URL not in repr(result)


def scenario_app_unchanged(rec: Recorder | None = None) -> amplify_app.AmplifyApp:
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": [app("other", "other-app"), existing_app()]}, {"maxResults": 100})
        m = amplify_app.AmplifyApp(FakeModule(app_params()), c)
        m.ensure()
    return m


def test_app_idempotent_when_it_matches():
    m = scenario_app_unchanged()
    assert m.actions == []
    assert m.before == m.after
    assert DB_URL not in repr(m.before)


def scenario_app_update(rec: Recorder | None = None, check: bool = False) -> amplify_app.AmplifyApp:
    current = existing_app(environmentVariables={"DATABASE_URL": "postgresql://old"},
                           customHeaders="customHeaders:\n- pattern: '**'\n  headers:\n  - key: X-Frame-Options\n"
                                         "    value: DENY\n",
                           tags={"Project": "clickstream", "Stale": "1"})
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": [current]}, {"maxResults": 100})
        if not check:
            stub.add_response("update_app", {"app": existing_app(tags=current["tags"])}, {
                "appId": "d1abc", "environmentVariables": {**PUBLIC_ENV, "DATABASE_URL": DB_URL},
                "customHeaders": render_custom_headers(HEADERS)})
            stub.add_response("untag_resource", {}, {"resourceArn": current["appArn"], "tagKeys": ["Stale"]})
        m = amplify_app.AmplifyApp(FakeModule(app_params(), check_mode=check), c)
        m.ensure()
    return m


def test_app_update_sends_only_what_differs():
    m = scenario_app_update()
    assert m.actions == ["update app: custom_headers, environment_variables", "untag ['Stale']"]
    assert m.before["environment_variables"]["DATABASE_URL"] == REDACTED
    assert m.after["environment_variables"]["DATABASE_URL"] == REDACTED


def test_app_check_mode_reports_and_sends_nothing_that_changes():
    m = scenario_app_update(check=True)
    assert m.actions == ["update app: custom_headers, environment_variables", "untag ['Stale']"]


def scenario_app_repository(rec: Recorder | None = None) -> None:
    repo = "https://github.com/example/shop"
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": []}, {"maxResults": 100})
        stub.add_response("create_app", {"app": existing_app(repository=repo, enableBranchAutoBuild=True)}, {
            "name": "shop", "description": "", "platform": "WEB_COMPUTE",
            "environmentVariables": {**PUBLIC_ENV, "DATABASE_URL": DB_URL}, "enableBranchAutoBuild": True,
            "customHeaders": render_custom_headers(HEADERS), "tags": {"Project": "clickstream"},
            "repository": repo, "accessToken": "ghp_token"})
        amplify_app.AmplifyApp(FakeModule(app_params(repository=repo, access_token="ghp_token",
                                                     enable_branch_auto_build=True)), c).ensure()
    # the app moves to another repository: the token goes along, and only then
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": [existing_app(repository=repo, enableBranchAutoBuild=True)]},
                          {"maxResults": 100})
        stub.add_response("update_app", {"app": existing_app(repository=repo + "2", enableBranchAutoBuild=True)},
                          {"appId": "d1abc", "repository": repo + "2", "accessToken": "ghp_token"})
        m = amplify_app.AmplifyApp(FakeModule(app_params(repository=repo + "2", access_token="ghp_token",
                                                         enable_branch_auto_build=True)), c)
        m.ensure()
    assert m.actions == ["update app: repository"]
    # same repository again: the token is not sent (it cannot be compared), nothing changes
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": [existing_app(repository=repo, enableBranchAutoBuild=True)]},
                          {"maxResults": 100})
        m = amplify_app.AmplifyApp(FakeModule(app_params(repository=repo, access_token="ghp_token",
                                                         enable_branch_auto_build=True)), c)
        m.ensure()
    assert m.actions == []


def test_app_repository_connection_sends_the_token_only_on_connect():
    scenario_app_repository()


def test_app_repository_without_token_fails_before_any_change():
    with stubbed("amplify") as (c, stub):
        stub.add_response("list_apps", {"apps": []}, {"maxResults": 100})
        with pytest.raises(ModuleFailed, match="access_token"):
            amplify_app.AmplifyApp(FakeModule(app_params(repository="https://github.com/example/shop")), c).ensure()


def test_app_with_two_apps_of_the_same_name_is_an_error():
    with stubbed("amplify") as (c, stub):
        stub.add_response("list_apps", {"apps": [existing_app(), existing_app(app_id="d2xyz")]}, {"maxResults": 100})
        with pytest.raises(ModuleFailed, match="2 Amplify apps"):
            amplify_app.AmplifyApp(FakeModule(app_params()), c).ensure()


def scenario_app_paginated_delete(rec: Recorder | None = None) -> amplify_app.AmplifyApp:
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": [app("a1", "first")], "nextToken": "t1"}, {"maxResults": 100})
        stub.add_response("list_apps", {"apps": [existing_app()]}, {"maxResults": 100, "nextToken": "t1"})
        stub.add_response("delete_app", {"app": existing_app()}, {"appId": "d1abc"})
        m = amplify_app.AmplifyApp(FakeModule(app_params(state="absent")), c)
        m.remove()
    return m


def test_app_absent_finds_it_on_a_later_page_and_deletes_it():
    assert scenario_app_paginated_delete().actions == ["delete app"]


def scenario_app_tags(rec: Recorder | None = None) -> None:
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("list_apps", {"apps": [existing_app(tags={})]}, {"maxResults": 100})
        stub.add_response("tag_resource", {}, {"resourceArn": existing_app()["appArn"],
                                               "tags": {"Project": "clickstream"}})
        m = amplify_app.AmplifyApp(FakeModule(app_params()), c)
        m.ensure()
    assert m.actions == ["tag ['Project']"]


def test_app_tags_are_added():
    scenario_app_tags()


# -- amplify_branch ----------------------------------------------------------------------------------------------
def branch_params(**given: Any) -> dict[str, Any]:
    base = {"app_id": "d1abc", "branch_name": "main", "environment_variables": {"NEXT_PUBLIC_STAGE": "prod"},
            "secret_environment_variables": {"DATABASE_URL": DB_URL}, "tags": {"Project": "clickstream"},
            "deployment": {"bucket": "assets", "key": "amplify/shop.zip"}}
    return params(amplify_branch.ARGUMENT_SPEC, **{**base, **given})


def wanted_branch(**fields: Any) -> dict[str, Any]:
    wanted = {"environmentVariables": {"NEXT_PUBLIC_STAGE": "prod", "DATABASE_URL": DB_URL},
              "tags": {"Project": "clickstream"}}
    return branch(**{**wanted, **fields})


def not_found(stub: Any) -> None:
    stub.add_client_error("get_branch", service_error_code="NotFoundException", service_message="no branch",
                          http_status_code=404, expected_params={"appId": "d1abc", "branchName": "main"})


def scenario_branch_create_and_deploy(rec: Recorder | None = None) -> tuple[amplify_branch.AmplifyBranch, list]:
    uploads: list[tuple[str, bytes]] = []
    with stubbed("amplify", rec) as (c, stub), stubbed("s3", rec) as (s3, s3stub):
        not_found(stub)
        created = wanted_branch()
        stub.add_response("create_branch", {"branch": created}, {
            "appId": "d1abc", "branchName": "main", "description": "", "stage": "PRODUCTION",
            "framework": "Next.js - SSR", "enableAutoBuild": False,
            "environmentVariables": {"NEXT_PUBLIC_STAGE": "prod", "DATABASE_URL": DB_URL},
            "tags": {"Project": "clickstream"}})
        s3stub.add_response("head_object", {"ETag": '"etag1"', "ContentLength": 3},
                            {"Bucket": "assets", "Key": "amplify/shop.zip"})
        stub.add_response("create_deployment", {"jobId": "7", "fileUploadUrls": {},
                                                "zipUploadUrl": "https://upload.example/presigned"},
                          {"appId": "d1abc", "branchName": "main"})
        s3stub.add_response("get_object", {"Body": s3_body(b"PK\x03\x04zip")},
                            {"Bucket": "assets", "Key": "amplify/shop.zip"})
        stub.add_response("start_deployment", {"jobSummary": job_summary("7")},
                          {"appId": "d1abc", "branchName": "main", "jobId": "7"})
        stub.add_response("tag_resource", {}, {"resourceArn": created["branchArn"],
                                               "tags": {DEPLOYED_ARTIFACT_TAG: "etag1@amplify/shop.zip"}})
        m = amplify_branch.AmplifyBranch(FakeModule(branch_params()), c, s3,
                                         uploader=lambda url, body: uploads.append((url, body)))
        result = m.ensure()
    assert result["environment_variables"]["DATABASE_URL"] == REDACTED
    return m, uploads


def test_branch_create_then_deploy_the_artifact_from_s3():
    m, uploads = scenario_branch_create_and_deploy()
    assert m.actions == ["create branch", "deploy s3://assets/amplify/shop.zip"]
    assert uploads == [("https://upload.example/presigned", b"PK\x03\x04zip")]
    assert m.deployment == {"job_id": "7", "status": "PENDING", "artifact": "etag1@amplify/shop.zip"}


def scenario_branch_unchanged(rec: Recorder | None = None) -> amplify_branch.AmplifyBranch:
    current = wanted_branch(tags={"Project": "clickstream", DEPLOYED_ARTIFACT_TAG: "etag1@amplify/shop.zip"})
    with stubbed("amplify", rec) as (c, stub), stubbed("s3", rec) as (s3, s3stub):
        stub.add_response("get_branch", {"branch": current}, {"appId": "d1abc", "branchName": "main"})
        s3stub.add_response("head_object", {"ETag": '"etag1"'}, {"Bucket": "assets", "Key": "amplify/shop.zip"})
        m = amplify_branch.AmplifyBranch(FakeModule(branch_params()), c, s3, uploader=pytest.fail)
        m.ensure()
    return m


def test_branch_idempotent_same_settings_same_artifact():
    m = scenario_branch_unchanged()
    assert m.actions == []
    assert m.deployment == {}


def scenario_branch_update_and_redeploy(rec: Recorder | None = None, check: bool = False) -> list:
    uploads: list = []
    current = branch(environmentVariables={"DATABASE_URL": "postgresql://old"}, framework="Next.js - SSG",
                     tags={"Project": "clickstream", "Old": "x", DEPLOYED_ARTIFACT_TAG: "etag1@amplify/shop.zip"})
    with stubbed("amplify", rec) as (c, stub), stubbed("s3", rec) as (s3, s3stub):
        stub.add_response("get_branch", {"branch": current}, {"appId": "d1abc", "branchName": "main"})
        if not check:
            stub.add_response("update_branch", {"branch": {**current, **wanted_branch(tags=current["tags"])}}, {
                "appId": "d1abc", "branchName": "main", "framework": "Next.js - SSR",
                "environmentVariables": {"NEXT_PUBLIC_STAGE": "prod", "DATABASE_URL": DB_URL}})
            stub.add_response("untag_resource", {}, {"resourceArn": current["branchArn"], "tagKeys": ["Old"]})
        s3stub.add_response("head_object", {"ETag": '"etag2"'}, {"Bucket": "assets", "Key": "amplify/shop.zip"})
        if not check:
            stub.add_response("create_deployment", {"jobId": "8", "fileUploadUrls": {}, "zipUploadUrl": "https://u/8"},
                              {"appId": "d1abc", "branchName": "main"})
            s3stub.add_response("get_object", {"Body": s3_body(b"new")},
                                {"Bucket": "assets", "Key": "amplify/shop.zip"})
            stub.add_response("start_deployment", {"jobSummary": job_summary("8", "RUNNING")},
                              {"appId": "d1abc", "branchName": "main", "jobId": "8"})
            stub.add_response("tag_resource", {}, {"resourceArn": current["branchArn"],
                                                   "tags": {DEPLOYED_ARTIFACT_TAG: "etag2@amplify/shop.zip"}})
        m = amplify_branch.AmplifyBranch(FakeModule(branch_params(), check_mode=check), c, s3,
                                         uploader=lambda url, body: uploads.append((url, body)))
        m.ensure()
    assert m.actions == ["update branch: environment_variables, framework", "untag ['Old']",
                         "deploy s3://assets/amplify/shop.zip"]
    assert DB_URL not in repr(m.before) + repr(m.after)
    return uploads


def test_branch_update_keeps_the_deployment_tag_and_redeploys_a_new_artifact():
    assert scenario_branch_update_and_redeploy() == [("https://u/8", b"new")]


def test_branch_check_mode_reports_and_sends_nothing_that_changes():
    assert scenario_branch_update_and_redeploy(check=True) == []


def test_branch_check_mode_on_a_new_branch():
    with stubbed("amplify") as (c, stub), stubbed("s3") as (s3, _):
        not_found(stub)
        m = amplify_branch.AmplifyBranch(FakeModule(branch_params(), check_mode=True), c, s3, uploader=pytest.fail)
        assert m.ensure() == {}
    assert m.actions == ["create branch", "deploy s3://assets/amplify/shop.zip"]


def test_branch_failed_upload_stops_before_start_deployment():
    def broken(url: str, body: bytes) -> None:
        raise OSError("connection reset")

    current = wanted_branch()
    with stubbed("amplify") as (c, stub), stubbed("s3") as (s3, s3stub):
        stub.add_response("get_branch", {"branch": current}, {"appId": "d1abc", "branchName": "main"})
        s3stub.add_response("head_object", {"ETag": '"e"'}, {"Bucket": "assets", "Key": "amplify/shop.zip"})
        stub.add_response("create_deployment", {"jobId": "9", "fileUploadUrls": {}, "zipUploadUrl": "https://u/9"},
                          {"appId": "d1abc", "branchName": "main"})
        s3stub.add_response("get_object", {"Body": s3_body(b"z")}, {"Bucket": "assets", "Key": "amplify/shop.zip"})
        with pytest.raises(ModuleFailed, match="connection reset"):
            amplify_branch.AmplifyBranch(FakeModule(branch_params()), c, s3, uploader=broken).ensure()
    # no start_deployment and no deployment tag: the next run tries again


def scenario_branch_delete(rec: Recorder | None = None) -> amplify_branch.AmplifyBranch:
    with stubbed("amplify", rec) as (c, stub):
        stub.add_response("get_branch", {"branch": wanted_branch()}, {"appId": "d1abc", "branchName": "main"})
        stub.add_response("delete_branch", {"branch": wanted_branch()}, {"appId": "d1abc", "branchName": "main"})
        m = amplify_branch.AmplifyBranch(FakeModule(branch_params(state="absent")), c)
        m.remove()
    return m


def test_branch_absent_deletes_it():
    assert scenario_branch_delete().actions == ["delete branch"]


# -- the model check itself, and coverage of every request -------------------------------------------------------
def test_an_invalid_request_is_refused_by_the_service_model():
    """The mechanism the tests rely on: a request that does not fit the model never reaches the Stubber."""
    with pytest.raises(ParamValidationError), stubbed("amplify") as (c, stub):
        stub.add_response("create_app", {"app": app()})  # a response is queued, yet validation refuses first
        c.create_app(name="shop", platform="WEB_COMPUTE", environmentVariables={"A": 1})
    with pytest.raises(ParamValidationError), stubbed("amplify") as (c, stub):
        stub.add_response("start_deployment", {"jobSummary": job_summary()})
        c.start_deployment(appId="d1abc", branchName="main", jobid="1")


def sent_operations(source: str) -> set[str]:
    """Operations a module's source can send: the method names in its call()/change() calls, as API names."""
    names = set(re.findall(r'(?:self\.call|self\.change)\(\s*(?:f?"[^"]*",\s*)?"([a-z_]+)"', source))
    names |= set(re.findall(r'self\.client\.([a-z_]+)\(', source))
    return {"".join(w.capitalize() for w in n.split("_")) for n in names}


def test_every_request_the_modules_send_is_covered():
    rec = Recorder()
    scenario_app_create(rec)
    scenario_app_unchanged(rec)
    scenario_app_update(rec)
    scenario_app_repository(rec)
    scenario_app_paginated_delete(rec)
    scenario_app_tags(rec)
    scenario_branch_create_and_deploy(rec)
    scenario_branch_unchanged(rec)
    scenario_branch_update_and_redeploy(rec)
    scenario_branch_delete(rec)
    expected = sent_operations((MODULES / "amplify_app.py").read_text())
    expected |= sent_operations((MODULES / "amplify_branch.py").read_text())
    assert {"CreateApp", "UpdateApp", "DeleteApp", "ListApps", "GetBranch", "CreateBranch", "UpdateBranch",
            "DeleteBranch", "CreateDeployment", "StartDeployment", "TagResource", "UntagResource", "HeadObject",
            "GetObject"} <= expected
    assert expected - rec.operations == set()


# -- pure helpers ------------------------------------------------------------------------------------------------
def test_custom_headers_round_trip_ignores_order_and_header_case():
    text = render_custom_headers(HEADERS)
    assert text.startswith("customHeaders:")
    reordered = ("customHeaders:\n  - pattern: '**'\n    headers:\n      - key: x-content-type-options\n"
                 "        value: nosniff\n      - key: Strict-Transport-Security\n        value: max-age=31536000\n")
    assert parse_custom_headers(reordered) == parse_custom_headers(text)
    assert parse_custom_headers("") == []
    assert parse_custom_headers(text) != parse_custom_headers(reordered.replace("nosniff", "sniff"))


def test_app_connected_to_a_repository_is_not_disconnected():
    repo = "https://github.com/example/shop"
    with stubbed("amplify") as (c, stub):
        stub.add_response("list_apps", {"apps": [existing_app(repository=repo)]}, {"maxResults": 100})
        module = FakeModule(app_params())
        m = amplify_app.AmplifyApp(module, c)
        m.ensure()
    assert m.actions == []
    assert any("stays connected" in w for w in module.warnings)
