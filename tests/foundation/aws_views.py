"""Pure helpers that turn boto3 answers into small comparable shapes for the foundation tests."""

from __future__ import annotations

import json
from typing import Any

# One security-group rule: (protocol, from_port, to_port, kind, target), kind in cidr/group/prefix-list.
Rule = tuple[str, int | None, int | None, str, str]
ALL_OUT: frozenset[Rule] = frozenset({("-1", None, None, "cidr", "0.0.0.0/0")})


def sg_rules(permissions: list[dict[str, Any]]) -> frozenset[Rule]:
    """Flatten IpPermissions(Egress) into one tuple per source/destination."""
    rules: set[Rule] = set()
    for perm in permissions:
        head = (str(perm["IpProtocol"]), perm.get("FromPort"), perm.get("ToPort"))
        rules.update((*head, "cidr", r["CidrIp"]) for r in perm.get("IpRanges", []))
        rules.update((*head, "group", g["GroupId"]) for g in perm.get("UserIdGroupPairs", []))
        rules.update((*head, "prefix-list", p["PrefixListId"]) for p in perm.get("PrefixListIds", []))
        rules.update((*head, "cidr6", r["CidrIpv6"]) for r in perm.get("Ipv6Ranges", []))
    return frozenset(rules)


def tcp(port: int, kind: str, target: str) -> Rule:
    return ("tcp", port, port, kind, target)


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    """EC2-style Tags list (or TagSet) as a dict."""
    return {t["Key"]: t["Value"] for t in resource.get("Tags", resource.get("TagSet", []))}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_document(doc: str | dict[str, Any]) -> dict[str, Any]:
    """IAM/S3 policy documents come back as JSON text or (boto3 IAM) already decoded."""
    return json.loads(doc) if isinstance(doc, str) else doc


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**s, "Action": as_list(s.get("Action", [])), "Resource": as_list(s.get("Resource", []))}
        for s in as_list(doc["Statement"])
    ]


def grants(doc: dict[str, Any]) -> dict[str, set[str]]:
    """Allowed action -> the set of resources it is allowed on."""
    out: dict[str, set[str]] = {}
    for s in statements(doc):
        if s["Effect"] != "Allow":
            continue
        for action in s["Action"]:
            out.setdefault(action, set()).update(s["Resource"])
    return out


def _namespaced_put_metric_data(s: dict[str, Any]) -> bool:
    """cloudwatch:PutMetricData has no resource ARNs: Resource "*" kept to one namespace by its condition key."""
    return s["Action"] == ["cloudwatch:PutMetricData"] and \
        bool(s.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace"))


def wildcard_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements that allow Action "*" (or svc:*) or Resource "*" (except namespace-bound PutMetricData)."""
    return [
        s for s in statements(doc)
        if s["Effect"] == "Allow"
        and ("*" in s["Resource"] or any(a == "*" or a.endswith(":*") for a in s["Action"]))
        and not _namespaced_put_metric_data(s)
    ]
