# Copyright: clickstream-analytics contributors
# MIT License
"""Pure helpers of the apigatewayv2_api module: desired state from module options, and comparisons with what
API Gateway returns (boto3 shapes, PascalCase keys). No AWS calls here, so tests can use them directly."""

from __future__ import annotations

from typing import Any

LAMBDA_INTEGRATION_TYPE = "AWS_PROXY"


def unversioned_lambda_arn(arn: str) -> str:
    """arn:aws:lambda:r:a:function:name[:qualifier] -> arn:aws:lambda:r:a:function:name."""
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 and parts[5] == "function" else arn


def desired_cors(cors: dict[str, Any] | None) -> dict[str, Any] | None:
    """Module option `cors` -> boto3 CorsConfiguration (None when CORS is off)."""
    if not cors or not cors.get("allow_origins"):
        return None
    out: dict[str, Any] = {
        "AllowOrigins": list(cors["allow_origins"]),
        "AllowMethods": [m.upper() for m in cors.get("allow_methods") or []],
        "AllowHeaders": [h.lower() for h in cors.get("allow_headers") or []],
        "ExposeHeaders": [h.lower() for h in cors.get("expose_headers") or []],
        "MaxAge": int(cors.get("max_age") or 0),
        "AllowCredentials": bool(cors.get("allow_credentials")),
    }
    return out


def _norm_cors(c: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if not c or not c.get("AllowOrigins"):
        return None
    return (
        tuple(sorted(c.get("AllowOrigins") or [])),
        tuple(sorted(m.upper() for m in c.get("AllowMethods") or [])),
        tuple(sorted(h.lower() for h in c.get("AllowHeaders") or [])),
        tuple(sorted(h.lower() for h in c.get("ExposeHeaders") or [])),
        int(c.get("MaxAge") or 0),
        bool(c.get("AllowCredentials")),
    )


def cors_differs(current: dict[str, Any] | None, desired: dict[str, Any] | None) -> bool:
    return _norm_cors(current) != _norm_cors(desired)


def integration_matches(current: dict[str, Any], lambda_arn: str) -> bool:
    """Is this integration the Lambda proxy integration of `lambda_arn`?"""
    return (current.get("IntegrationType") == LAMBDA_INTEGRATION_TYPE
            and unversioned_lambda_arn(current.get("IntegrationUri") or "") == lambda_arn)


def integration_differs(current: dict[str, Any], payload_format_version: str, timeout_ms: int) -> bool:
    return (str(current.get("PayloadFormatVersion")) != payload_format_version
            or int(current.get("TimeoutInMillis") or 30000) != timeout_ms)


def desired_stage(stage: dict[str, Any]) -> dict[str, Any]:
    """Module option `stage` -> the create_stage/update_stage arguments we manage."""
    route_settings: dict[str, Any] = {"DetailedMetricsEnabled": bool(stage.get("detailed_metrics"))}
    if stage.get("throttling_rate_limit") is not None:
        route_settings["ThrottlingRateLimit"] = float(stage["throttling_rate_limit"])
    if stage.get("throttling_burst_limit") is not None:
        route_settings["ThrottlingBurstLimit"] = int(stage["throttling_burst_limit"])
    out: dict[str, Any] = {
        "StageName": stage.get("name") or "$default",
        "AutoDeploy": bool(stage.get("auto_deploy", True)),
        "DefaultRouteSettings": route_settings,
    }
    if stage.get("access_log_destination_arn"):
        out["AccessLogSettings"] = {
            "DestinationArn": stage["access_log_destination_arn"],
            "Format": stage.get("access_log_format") or "",
        }
    return out


def stage_differs(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    """Names of the managed stage settings that differ (empty: nothing to do)."""
    diffs = []
    if bool(current.get("AutoDeploy")) != desired["AutoDeploy"]:
        diffs.append("auto_deploy")
    cur_rs = current.get("DefaultRouteSettings") or {}
    want_rs = desired["DefaultRouteSettings"]
    if bool(cur_rs.get("DetailedMetricsEnabled")) != want_rs["DetailedMetricsEnabled"]:
        diffs.append("detailed_metrics")
    throttling = (("ThrottlingRateLimit", "throttling_rate_limit"), ("ThrottlingBurstLimit", "throttling_burst_limit"))
    for key, name in throttling:
        cur, want = cur_rs.get(key), want_rs.get(key)
        if want is not None and (cur is None or float(cur) != float(want)):
            diffs.append(name)
    cur_log = current.get("AccessLogSettings") or {}
    want_log = desired.get("AccessLogSettings") or {}
    if (cur_log.get("DestinationArn") or "") != (want_log.get("DestinationArn") or ""):
        diffs.append("access_log_destination_arn")
    if want_log and (cur_log.get("Format") or "") != (want_log.get("Format") or ""):
        diffs.append("access_log_format")
    return diffs


def route_plan(current_routes: list[dict[str, Any]], route_keys: list[str],
               target: str | None) -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """(route keys to create, routes to re-target, routes to delete) for the desired route keys -> target."""
    by_key = {r["RouteKey"]: r for r in current_routes}
    create = [k for k in route_keys if k not in by_key]
    retarget = [by_key[k] for k in route_keys if k in by_key and by_key[k].get("Target") != target]
    delete = [r for r in current_routes if r["RouteKey"] not in route_keys]
    return create, retarget, delete
