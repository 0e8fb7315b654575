# Copyright: clickstream-analytics contributors
# MIT License
"""A set of VPC security groups and their exact rules (clickstream.platform.ec2_security_groups, and the security
groups of clickstream.platform.ec2_vpc_network): the pure helpers and the manager both modules run."""

from __future__ import annotations

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource

GROUP_KEYS = {"name", "description", "tags", "rules", "rules_egress"}
PEERS = ("cidr_ip", "group_name", "ip_prefix", "prefix_list_name")
RULE_KEYS = {"proto", "ports", "rule_desc", *PEERS}
PROTOCOLS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "-1": "-1", "all": "-1"}
# Egress of a group that does not say (AWS's default for a new VPC group).
DEFAULT_EGRESS = [{"proto": "-1", "cidr_ip": "0.0.0.0/0"}]

# One permission: (protocol, from port, to port, peer kind, peer) -> description. Peer kinds are the keys of
# IpPermissions' lists: IpRanges (CidrIp), Ipv6Ranges (CidrIpv6), UserIdGroupPairs (GroupId), PrefixListIds.
Key = tuple[str, Any, Any, str, str]
PEER_FIELDS = {"IpRanges": "CidrIp", "Ipv6Ranges": "CidrIpv6", "UserIdGroupPairs": "GroupId",
               "PrefixListIds": "PrefixListId"}


def check_input(groups: dict[str, Any]) -> list[str]:
    """What is wrong with the input (nothing: an empty list), checked before any AWS call."""
    problems = []
    names = [g.get("name") for g in groups.values() if isinstance(g, dict)]
    for key, group in groups.items():
        if not isinstance(group, dict) or not group.get("name") or not group.get("description"):
            problems.append(f"group {key}: needs a name and a description")
            continue
        if set(group) - GROUP_KEYS:
            problems.append(f"group {key}: unknown option(s) {', '.join(sorted(set(group) - GROUP_KEYS))}")
        for direction in ("rules", "rules_egress"):
            for i, rule in enumerate(group.get(direction) or []):
                where = f"group {key} {direction}[{i}]"
                if not isinstance(rule, dict):
                    problems.append(f"{where}: not a dict")
                    continue
                if set(rule) - RULE_KEYS:
                    problems.append(f"{where}: unknown option(s) {', '.join(sorted(set(rule) - RULE_KEYS))}")
                if str(rule.get("proto")) not in PROTOCOLS:
                    problems.append(f"{where}: proto must be one of tcp, udp, icmp, -1 (all)")
                if len([p for p in PEERS if rule.get(p)]) != 1:
                    problems.append(f"{where}: needs exactly one of {', '.join(PEERS)}")
                if PROTOCOLS.get(str(rule.get("proto"))) not in ("-1", None) and not rule.get("ports"):
                    problems.append(f"{where}: needs ports")
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        problems.append(f"group names given twice: {', '.join(duplicates)}")
    return problems


def port_ranges(rule: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(from, to) of each entry of the rule's ports; (None, None) for all protocols."""
    if PROTOCOLS[str(rule["proto"])] == "-1":
        return [(None, None)]
    out = []
    for port in rule["ports"]:
        first, _, last = str(port).partition("-")
        out.append((int(first), int(last or first)))
    return out


def wanted_permissions(rules: list[dict[str, Any]], resolve_group, resolve_prefix) -> dict[Key, str]:
    """The rules of one direction as permission keys -> description."""
    out: dict[Key, str] = {}
    for rule in rules:
        proto = PROTOCOLS[str(rule["proto"])]
        if rule.get("cidr_ip"):
            cidrs = rule["cidr_ip"] if isinstance(rule["cidr_ip"], list) else [rule["cidr_ip"]]
            peers = [("Ipv6Ranges" if ":" in c else "IpRanges", str(c)) for c in cidrs]
        elif rule.get("group_name"):
            peers = [("UserIdGroupPairs", resolve_group(rule["group_name"]))]
        elif rule.get("ip_prefix"):
            peers = [("PrefixListIds", str(rule["ip_prefix"]))]
        else:
            peers = [("PrefixListIds", resolve_prefix(rule["prefix_list_name"]))]
        for first, last in port_ranges(rule):
            for kind, peer in peers:
                out[(proto, first, last, kind, peer)] = rule.get("rule_desc") or ""
    return out


def current_permissions(permissions: list[dict[str, Any]]) -> dict[Key, str]:
    """A group's IpPermissions (or IpPermissionsEgress) as permission keys -> description."""
    out: dict[Key, str] = {}
    for perm in permissions:
        proto = perm["IpProtocol"]
        first, last = (None, None) if proto == "-1" else (perm.get("FromPort"), perm.get("ToPort"))
        for kind, field in PEER_FIELDS.items():
            for peer in perm.get(kind, []):
                out[(proto, first, last, kind, peer[field])] = peer.get("Description") or ""
    return out


def ip_permissions(keys: dict[Key, str]) -> list[dict[str, Any]]:
    """Permission keys -> the IpPermissions list Authorize/Revoke/UpdateDescriptions calls take."""
    out = []
    for (proto, first, last, kind, peer), desc in sorted(keys.items(), key=lambda kv: str(kv[0])):
        perm: dict[str, Any] = {"IpProtocol": proto}
        if proto != "-1":
            perm.update(FromPort=first, ToPort=last)
        entry = {PEER_FIELDS[kind]: peer}
        if desc:
            entry["Description"] = desc
        perm[kind] = [entry]
        out.append(perm)
    return out


def readable(keys: dict[Key, str]) -> list[str]:
    """Permission keys as sorted one-line strings (the diff)."""
    return sorted(f"{p} {'all' if f is None else (f if f == t else f'{f}-{t}')} {peer}"
                  + (f" ({d})" if d else "") for (p, f, t, _, peer), d in keys.items())


class SecurityGroups(Boto3Resource):
    failure_msg = "{method} failed (security groups)"

    def run(self, vpc_id: str | None = None, groups: dict[str, Any] | None = None) -> dict[str, Any]:
        """Ensure ``groups`` in ``vpc_id`` (by default the module's parameters of those names)."""
        groups = self.module.params["groups"] if groups is None else groups
        problems = check_input(groups)
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        vpc_id = vpc_id or self.module.params["vpc_id"]
        existing = {g["GroupName"]: g for g in self.call(
            "describe_security_groups", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]}
        changed = {key: False for key in groups}
        ids: dict[str, str] = {}
        # Missing groups first: the rules of any group may name them.
        for key, group in groups.items():
            found = existing.get(group["name"])
            if found:
                ids[key] = found["GroupId"]
                if found.get("Description") != group["description"]:
                    self.module.warn(f"security group {group['name']}: its description cannot be changed in place "
                                     f"(it is {found.get('Description')!r}, the input says {group['description']!r})")
                continue
            changed[key] = True
            tags = group.get("tags") or {}
            created = self.change(
                f"create security group {group['name']}", "create_security_group", GroupName=group["name"],
                Description=group["description"], VpcId=vpc_id,
                **({"TagSpecifications": [{"ResourceType": "security-group",
                                           "Tags": ansible_dict_to_boto3_tag_list(tags)}]} if tags else {}))
            ids[key] = created["GroupId"] if created else f"sg-new-{group['name']}"
            # A new group has AWS's default egress (all traffic to 0.0.0.0/0) and no ingress.
            existing[group["name"]] = {"GroupId": ids[key], "Tags": ansible_dict_to_boto3_tag_list(tags),
                                       "IpPermissions": [], "New": True,
                                       "IpPermissionsEgress": [{"IpProtocol": "-1",
                                                                "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
        by_name = {name: g["GroupId"] for name, g in existing.items()}

        def resolve_group(name: str) -> str:
            if name not in by_name:
                self.module.fail_json(msg=f"a rule names security group {name}, which is neither in the set nor "
                                          f"in VPC {vpc_id}")
            return by_name[name]

        prefix_names = sorted({r["prefix_list_name"] for g in groups.values()
                               for r in (g.get("rules") or []) + (g.get("rules_egress") or [])
                               if r.get("prefix_list_name")})
        prefixes: dict[str, str] = {}
        if prefix_names:
            found = self.call("describe_prefix_lists",
                              Filters=[{"Name": "prefix-list-name", "Values": prefix_names}])["PrefixLists"]
            prefixes = {p["PrefixListName"]: p["PrefixListId"] for p in found}

        def resolve_prefix(name: str) -> str:
            if name not in prefixes:
                self.module.fail_json(msg=f"no prefix list named {name} in this region")
            return prefixes[name]

        for key, group in groups.items():
            current = existing[group["name"]]
            gid = ids[key]
            before: dict[str, Any] = {}
            after: dict[str, Any] = {}
            tags_now = boto3_tag_list_to_ansible_dict(current.get("Tags", []))
            tags_wanted = {str(k): str(v) for k, v in (group.get("tags") or {}).items()}
            if tags_now != tags_wanted and not current.get("New"):
                changed[key] = True
                before["tags"], after["tags"] = tags_now, tags_wanted
                stale = sorted(set(tags_now) - set(tags_wanted))
                if stale:
                    self.change(f"untag {group['name']}: {', '.join(stale)}", "delete_tags", Resources=[gid],
                                Tags=[{"Key": k} for k in stale])
                new = {k: v for k, v in tags_wanted.items() if tags_now.get(k) != v}
                if new:
                    self.change(f"tag {group['name']}: {', '.join(sorted(new))}", "create_tags", Resources=[gid],
                                Tags=ansible_dict_to_boto3_tag_list(new))
            egress_rules = group.get("rules_egress")
            for direction, rules, perms_key in (
                    ("ingress", group.get("rules") or [], "IpPermissions"),
                    ("egress", DEFAULT_EGRESS if egress_rules is None else egress_rules, "IpPermissionsEgress")):
                want = wanted_permissions(rules, resolve_group, resolve_prefix)
                have = current_permissions(current.get(perms_key, []))
                extra = {k: v for k, v in have.items() if k not in want}
                missing = {k: v for k, v in want.items() if k not in have}
                # moto keeps no description on prefix-list entries; AWS does. Only ids are compared for those.
                redescribe = {k: v for k, v in want.items() if k in have and have[k] != v and k[3] != "PrefixListIds"}
                if not (extra or missing or redescribe):
                    continue
                changed[key] = True
                before[direction], after[direction] = readable(have), readable(want)
                if extra:
                    self.change(f"revoke {direction} of {group['name']}: {'; '.join(readable(extra))}",
                                f"revoke_security_group_{direction}", GroupId=gid, IpPermissions=ip_permissions(extra))
                if missing:
                    self.change(f"authorize {direction} of {group['name']}: {'; '.join(readable(missing))}",
                                f"authorize_security_group_{direction}", GroupId=gid,
                                IpPermissions=ip_permissions(missing))
                if redescribe:
                    self.change(f"describe {direction} of {group['name']}: {'; '.join(readable(redescribe))}",
                                f"update_security_group_rule_descriptions_{direction}", GroupId=gid,
                                IpPermissions=ip_permissions(redescribe))
            if before or after:
                self.before[key], self.after[key] = before, after
        return {"group_ids": ids, "groups": changed}
