# Copyright: clickstream-analytics contributors
# MIT License
"""Pure helpers of the amplify_app and amplify_branch modules: desired state from module options, a normalised
view of what Amplify returns (boto3 shapes, camelCase keys), their comparison, and the redaction of secret
environment variables. No AWS calls here."""

from __future__ import annotations

from typing import Any

import yaml

REDACTED = "********"
# Branch tag recording the artifact of the last manual deployment (key@etag), so a re-run does not redeploy.
DEPLOYED_ARTIFACT_TAG = "clickstream:deployed-artifact"
# Amplify's framework label of a Next.js app with server-side rendering (platform WEB_COMPUTE).
NEXTJS_SSR_FRAMEWORK = "Next.js - SSR"


def merged_env(env: dict[str, Any] | None, secret_env: dict[str, Any] | None) -> dict[str, str]:
    """Plain and secret environment variables together (a secret wins on a name clash); values as strings."""
    return {str(k): str(v) for k, v in {**(env or {}), **(secret_env or {})}.items()}


def redact_env(env: dict[str, str] | None, secret_names: set[str]) -> dict[str, str]:
    """The variables with the secret ones' values replaced: what may be returned or shown in a diff."""
    return {k: (REDACTED if k in secret_names else v) for k, v in (env or {}).items()}


def render_custom_headers(rules: list[dict[str, Any]] | None) -> str:
    """Module option `custom_headers` ([{pattern, headers: {name: value}}]) -> Amplify's customHeaders YAML."""
    if not rules:
        return ""
    doc = {"customHeaders": [
        {"pattern": r["pattern"],
         "headers": [{"key": k, "value": str(v)} for k, v in sorted((r.get("headers") or {}).items())]}
        for r in rules]}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def parse_custom_headers(text: str | None) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """customHeaders YAML (as Amplify returns it) -> comparable [(pattern, ((lower-case key, value), ...))]."""
    if not text or not text.strip():
        return []
    doc = yaml.safe_load(text)
    rules = doc.get("customHeaders", []) if isinstance(doc, dict) else (doc or [])
    out = []
    for rule in rules or []:
        headers = tuple(sorted((str(h.get("key", "")).lower(), str(h.get("value", "")))
                               for h in rule.get("headers") or []))
        out.append((str(rule.get("pattern", "")), headers))
    return sorted(out)


def desired_app_view(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": p.get("description") or "",
        "platform": p.get("platform") or "WEB_COMPUTE",
        "repository": p.get("repository") or "",
        "environment_variables": merged_env(p.get("environment_variables"), p.get("secret_environment_variables")),
        "custom_headers": parse_custom_headers(render_custom_headers(p.get("custom_headers"))),
        "enable_branch_auto_build": bool(p.get("enable_branch_auto_build")),
        "iam_service_role_arn": p.get("iam_service_role_arn") or "",
        "build_spec": p.get("build_spec") or "",
    }


def app_view(app: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """get_app()['app'] -> the shape of desired_app_view. An unset build spec is read as the wish (Amplify may
    detect one from the repository)."""
    return {
        "description": app.get("description") or "",
        "platform": app.get("platform") or "",
        "repository": app.get("repository") or "",
        "environment_variables": dict(app.get("environmentVariables") or {}),
        "custom_headers": parse_custom_headers(app.get("customHeaders")),
        "enable_branch_auto_build": bool(app.get("enableBranchAutoBuild")),
        "iam_service_role_arn": app.get("iamServiceRoleArn") or "",
        "build_spec": (app.get("buildSpec") or "") if desired["build_spec"] else "",
    }


def app_update_args(current: dict[str, Any], desired: dict[str, Any], custom_headers_yaml: str) -> dict[str, Any]:
    """UpdateApp arguments for the settings that differ (UpdateApp leaves the others alone)."""
    args: dict[str, Any] = {}
    if current["description"] != desired["description"]:
        args["description"] = desired["description"]
    if current["platform"] != desired["platform"]:
        args["platform"] = desired["platform"]
    if current["environment_variables"] != desired["environment_variables"]:
        args["environmentVariables"] = desired["environment_variables"]
    if current["custom_headers"] != desired["custom_headers"]:
        args["customHeaders"] = custom_headers_yaml
    if current["enable_branch_auto_build"] != desired["enable_branch_auto_build"]:
        args["enableBranchAutoBuild"] = desired["enable_branch_auto_build"]
    if current["iam_service_role_arn"] != desired["iam_service_role_arn"] and desired["iam_service_role_arn"]:
        args["iamServiceRoleArn"] = desired["iam_service_role_arn"]
    if current["build_spec"] != desired["build_spec"]:
        args["buildSpec"] = desired["build_spec"]
    return args


def desired_branch_view(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": p.get("description") or "",
        "stage": p.get("stage") or "PRODUCTION",
        "framework": p.get("framework") or NEXTJS_SSR_FRAMEWORK,
        "enable_auto_build": bool(p.get("enable_auto_build")),
        "environment_variables": merged_env(p.get("environment_variables"), p.get("secret_environment_variables")),
    }


def branch_view(branch: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": branch.get("description") or "",
        "stage": branch.get("stage") or "",
        "framework": branch.get("framework") or "",
        "enable_auto_build": bool(branch.get("enableAutoBuild")),
        "environment_variables": dict(branch.get("environmentVariables") or {}),
    }


def branch_update_args(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    keys = {"description": "description", "stage": "stage", "framework": "framework",
            "enable_auto_build": "enableAutoBuild", "environment_variables": "environmentVariables"}
    return {api: desired[k] for k, api in keys.items() if current[k] != desired[k]}


def differences(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    return sorted(k for k in desired if current.get(k) != desired[k])


def artifact_marker(key: str, etag: str) -> str:
    """Value of DEPLOYED_ARTIFACT_TAG for an S3 object (tag values: at most 256 characters)."""
    marker = f"{etag.strip(chr(34))}@{key}"
    return marker[:256]
