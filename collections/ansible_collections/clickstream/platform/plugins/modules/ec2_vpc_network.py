#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_vpc_network
short_description: Ensure a VPC, its gateway, subnets, route tables, endpoints and security groups in one call
description:
  - Converges a whole VPC in one module run, in dependency order - the VPC (DNS support and hostnames on), its
    internet gateway, subnets, route tables (subnet associations and routes), gateway endpoints (route tables and
    policy), security groups (as clickstream.platform.ec2_security_groups) and interface endpoints (subnets,
    security groups, private DNS) - instead of one module run per resource.
  - Every part is read first and written only when it differs, so a re-run with nothing to change sends no write
    call and reports C(changed=false); what was changed behind the module's back (tags, a route, an association,
    an endpoint's policy or route tables, a rule) is put back.
  - Resources are found by what identifies them - the VPC by its C(Name) tag and CIDR, a subnet by its CIDR, a route
    table by its C(Name) tag, an endpoint by its service - and resources of the VPC not in the input are left alone.
    Tags are exact (C(Name) included if wanted).
  - Supports check mode (with the VPC missing, it lists everything it would create) and diff mode.
version_added: 1.3.0
author: clickstream-analytics
options:
  vpc:
    description: C(name), C(cidr) and C(tags) of the VPC.
    type: dict
    required: true
  internet_gateway:
    description: C(tags) of the VPC's internet gateway; null for no gateway managed.
    type: dict
  subnets:
    description: Key -> C(cidr), C(az), C(map_public) (bool) and C(tags).
    type: dict
    default: {}
  route_tables:
    description:
      - Key -> C(tags) (must hold a C(Name), which identifies the table), C(subnets) (subnet keys; exact) and
        C(internet_route) (bool - 0.0.0.0/0 to the internet gateway). Routes are exact but for the local route and
        those of gateway endpoints.
    type: dict
    default: {}
  gateway_endpoints:
    description: Key -> C(service) (e.g. C(com.amazonaws.us-east-1.s3)), C(route_tables) (keys; exact), C(policy) (a
      policy document, a dict) and C(tags).
    type: dict
    default: {}
  security_groups:
    description: Key -> group, as the C(groups) option of clickstream.platform.ec2_security_groups.
    type: dict
    default: {}
  interface_endpoints:
    description: Key -> C(service), C(subnets) (keys; exact), C(security_groups) (keys of I(security_groups); exact)
      and C(tags). Private DNS is on.
    type: dict
    default: {}
  wait_timeout:
    description: Seconds to wait for a new or changed endpoint to be available.
    type: int
    default: 600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the network
  clickstream.platform.ec2_vpc_network:
    vpc: {name: shop-vpc, cidr: 10.0.0.0/16, tags: {Name: shop-vpc}}
    internet_gateway: {tags: {Name: shop-igw}}
    subnets:
      public: {cidr: 10.0.1.0/24, az: us-east-1a, map_public: true, tags: {Name: shop-public}}
      private: {cidr: 10.0.2.0/24, az: us-east-1a, map_public: false, tags: {Name: shop-private}}
    route_tables:
      public: {tags: {Name: shop-rt-public}, subnets: [public], internet_route: true}
      private: {tags: {Name: shop-rt-private}, subnets: [private]}
    gateway_endpoints:
      s3: {service: com.amazonaws.us-east-1.s3, route_tables: [private], tags: {Name: shop-vpce-s3},
           policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: "*", Action: "s3:*", Resource: "*"}]}}
    security_groups:
      endpoints:
        name: shop-sg-endpoints
        description: Interface endpoints
        rules: [{proto: tcp, ports: [443], cidr_ip: 10.0.0.0/16}]
    interface_endpoints:
      ssm: {service: com.amazonaws.us-east-1.ssm, subnets: [private], security_groups: [endpoints],
            tags: {Name: shop-vpce-ssm}}
  register: net
# net.vpc_id, net.subnet_ids.public, net.route_table_ids.private, net.group_ids.endpoints
"""

RETURN = r"""
vpc_id:
  description: The VPC's id (empty in check mode when the VPC does not exist yet).
  returned: always
  type: str
igw_id:
  description: The internet gateway's id (empty when none exists yet, or none is managed).
  returned: always
  type: str
subnet_ids:
  description: Subnet key -> id (empty for one that would be created in check mode).
  returned: always
  type: dict
route_table_ids:
  description: Route table key -> id (empty for one that would be created in check mode).
  returned: always
  type: dict
endpoint_ids:
  description: Endpoint key (gateway and interface) -> id (empty for one that would be created in check mode).
  returned: always
  type: dict
group_ids:
  description: Security group key -> id (C(sg-new-<name>) in check mode for a group that would be created).
  returned: always
  type: dict
actions:
  description: What the run changed (in check mode, would change), one line each.
  returned: always
  type: list
  elements: str
"""

import json
import time
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource
from ansible_collections.clickstream.platform.plugins.module_utils.security_groups import SecurityGroups

ARGUMENT_SPEC = dict(
    vpc=dict(type="dict", required=True),
    internet_gateway=dict(type="dict"),
    subnets=dict(type="dict", default={}),
    route_tables=dict(type="dict", default={}),
    gateway_endpoints=dict(type="dict", default={}),
    security_groups=dict(type="dict", default={}),
    interface_endpoints=dict(type="dict", default={}),
    wait_timeout=dict(type="int", default=600),
)
# Endpoint states that count as the endpoint existing (a deleted or failed one is replaced).
LIVE_ENDPOINT = {"pending", "available", "pendingAcceptance", "modifying"}


def check_input(p: dict[str, Any]) -> list[str]:
    """What is wrong with the input (nothing: an empty list), checked before any AWS call."""
    problems = []
    vpc = p["vpc"] or {}
    if not vpc.get("name") or not vpc.get("cidr"):
        problems.append("vpc: needs a name and a cidr")
    for key, subnet in p["subnets"].items():
        if not isinstance(subnet, dict) or not subnet.get("cidr") or not subnet.get("az"):
            problems.append(f"subnet {key}: needs a cidr and an az")
    for key, table in p["route_tables"].items():
        if not isinstance(table, dict) or not (table.get("tags") or {}).get("Name"):
            problems.append(f"route table {key}: needs tags with a Name (it identifies the table)")
            continue
        problems += [f"route table {key}: no subnet {s}" for s in table.get("subnets") or [] if s not in p["subnets"]]
        if table.get("internet_route") and p["internet_gateway"] is None:
            problems.append(f"route table {key}: internet_route needs internet_gateway")
    names = [(t.get("tags") or {}).get("Name") for t in p["route_tables"].values() if isinstance(t, dict)]
    if len(set(names)) != len(names):
        problems.append("route table names given twice")
    for key, ep in p["gateway_endpoints"].items():
        if not isinstance(ep, dict) or not ep.get("service"):
            problems.append(f"gateway endpoint {key}: needs a service")
            continue
        problems += [f"gateway endpoint {key}: no route table {r}" for r in ep.get("route_tables") or []
                     if r not in p["route_tables"]]
        if ep.get("policy") is not None and not isinstance(ep["policy"], dict):
            problems.append(f"gateway endpoint {key}: policy must be a dict (a policy document)")
    for key, ep in p["interface_endpoints"].items():
        if not isinstance(ep, dict) or not ep.get("service"):
            problems.append(f"interface endpoint {key}: needs a service")
            continue
        problems += [f"interface endpoint {key}: no subnet {s}" for s in ep.get("subnets") or []
                     if s not in p["subnets"]]
        problems += [f"interface endpoint {key}: no security group {g}" for g in ep.get("security_groups") or []
                     if g not in p["security_groups"]]
    services = [e.get("service") for e in [*p["gateway_endpoints"].values(), *p["interface_endpoints"].values()]
                if isinstance(e, dict)]
    if len(set(services)) != len(services):
        problems.append("an endpoint service is given twice")
    return problems


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return boto3_tag_list_to_ansible_dict(resource.get("Tags") or [])


def wanted_routes(table: dict[str, Any], igw_id: str) -> set[tuple[str, str]]:
    """(destination CIDR, target id) of the table's routes this module manages."""
    return {("0.0.0.0/0", igw_id)} if table.get("internet_route") else set()


def managed_routes(routes: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """A table's routes as (destination, target), less the local route and gateway endpoints' prefix-list routes
    (the endpoint owns those)."""
    out = set()
    for r in routes:
        if r.get("GatewayId") == "local" or r.get("DestinationPrefixListId") or r.get("Origin") == "CreateRouteTable":
            continue
        target = next((r[k] for k in ("GatewayId", "NatGatewayId", "NetworkInterfaceId", "TransitGatewayId",
                                      "VpcPeeringConnectionId", "InstanceId", "EgressOnlyInternetGatewayId")
                       if r.get(k)), "")
        dest = r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") or ""
        out.add((dest, target))
    return out


class VpcNetwork(Boto3Resource):
    failure_msg = "{method} failed (VPC network)"

    def __init__(self, module: Any, client: Any) -> None:
        super().__init__(module, client)
        self.p = module.params

    # --- shared --------------------------------------------------------------------------------------------
    def exact_tags(self, what: str, resource_id: str, have: dict[str, str], want: dict[str, Any]) -> None:
        want = {str(k): str(v) for k, v in (want or {}).items()}
        if have == want:
            return
        self.before.setdefault(what, {})["tags"], self.after.setdefault(what, {})["tags"] = have, want
        stale = sorted(set(have) - set(want))
        if stale:
            self.change(f"untag {what}: {', '.join(stale)}", "delete_tags", Resources=[resource_id],
                        Tags=[{"Key": k} for k in stale])
        new = {k: v for k, v in want.items() if have.get(k) != v}
        if new:
            self.change(f"tag {what}: {', '.join(sorted(new))}", "create_tags", Resources=[resource_id],
                        Tags=ansible_dict_to_boto3_tag_list(new))

    @staticmethod
    def tag_spec(kind: str, tags: dict[str, Any] | None) -> dict[str, Any]:
        tags = {str(k): str(v) for k, v in (tags or {}).items()}
        return {"TagSpecifications": [{"ResourceType": kind, "Tags": ansible_dict_to_boto3_tag_list(tags)}]} \
            if tags else {}

    def describe(self, method: str, key: str, **filters: Any) -> list[dict[str, Any]]:
        """Every item of ``method`` with the given filters (name -> value or list)."""
        flt = [{"Name": k.replace("_", "-") if "." not in k else k, "Values": v if isinstance(v, list) else [v]}
               for k, v in filters.items()]
        out: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.call(method, Filters=flt, **({"NextToken": token} if token else {}))
            out += page.get(key, [])
            token = page.get("NextToken")
            if not token:
                return out

    # --- parts ---------------------------------------------------------------------------------------------
    def vpc(self) -> str:
        spec = self.p["vpc"]
        found = self.describe("describe_vpcs", "Vpcs", **{"tag:Name": spec["name"]})
        found = [v for v in found if v.get("CidrBlock") == spec["cidr"]]
        if len(found) > 1:
            self.module.fail_json(msg=f"{len(found)} VPCs are named {spec['name']!r} with CIDR {spec['cidr']}; "
                                      "remove the extra ones first", vpc_ids=[v["VpcId"] for v in found])
        what = f"VPC {spec['name']}"
        if not found:
            made = self.change(f"create {what} {spec['cidr']}", "create_vpc", CidrBlock=spec["cidr"],
                               **self.tag_spec("vpc", spec.get("tags")))
            if made is None:
                return ""
            vpc_id = made["Vpc"]["VpcId"]
            self.client.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
            have_tags = tags_of(made["Vpc"])
        else:
            vpc_id = found[0]["VpcId"]
            have_tags = tags_of(found[0])
        self.exact_tags(what, vpc_id, have_tags, spec.get("tags"))
        # DNS support before hostnames: AWS refuses hostnames without support.
        for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            now = self.call("describe_vpc_attribute", VpcId=vpc_id, Attribute=attribute)[key]["Value"]
            if not now:
                self.before.setdefault(what, {})[attribute] = False
                self.after.setdefault(what, {})[attribute] = True
                self.change(f"turn {attribute} on for {what}", "modify_vpc_attribute", VpcId=vpc_id,
                            **{key: {"Value": True}})
        return vpc_id

    def internet_gateway(self, vpc_id: str) -> str:
        spec = self.p["internet_gateway"]
        if spec is None:
            return ""
        name = (spec.get("tags") or {}).get("Name", "internet gateway")
        what = f"internet gateway {name}"
        found = self.describe("describe_internet_gateways", "InternetGateways",
                              **{"attachment.vpc-id": vpc_id}) if vpc_id else []
        if not found:
            made = self.change(f"create and attach {what}", "create_internet_gateway",
                               **self.tag_spec("internet-gateway", spec.get("tags")))
            if made is None:
                return ""
            igw_id = made["InternetGateway"]["InternetGatewayId"]
            self.call("attach_internet_gateway", InternetGatewayId=igw_id, VpcId=vpc_id)
            return igw_id
        self.exact_tags(what, found[0]["InternetGatewayId"], tags_of(found[0]), spec.get("tags"))
        return found[0]["InternetGatewayId"]

    def subnets(self, vpc_id: str) -> dict[str, str]:
        existing = {s["CidrBlock"]: s for s in self.describe("describe_subnets", "Subnets", vpc_id=vpc_id)} \
            if vpc_id else {}
        ids = {}
        for key, spec in self.p["subnets"].items():
            what = f"subnet {(spec.get('tags') or {}).get('Name', key)} {spec['cidr']}"
            current = existing.get(spec["cidr"])
            map_public = bool(spec.get("map_public"))
            if current is None:
                made = self.change(f"create {what}", "create_subnet", VpcId=vpc_id, CidrBlock=spec["cidr"],
                                   AvailabilityZone=spec["az"], **self.tag_spec("subnet", spec.get("tags")))
                if made is None:
                    ids[key] = ""
                    continue
                subnet_id = made["Subnet"]["SubnetId"]
                self.client.get_waiter("subnet_available").wait(SubnetIds=[subnet_id])
                current = dict(made["Subnet"], MapPublicIpOnLaunch=False)
            else:
                subnet_id = current["SubnetId"]
                if current.get("AvailabilityZone") != spec["az"]:
                    self.module.fail_json(msg=f"{what} is in {current.get('AvailabilityZone')}, the input says "
                                              f"{spec['az']}; a subnet cannot move: delete it first")
                self.exact_tags(what, subnet_id, tags_of(current), spec.get("tags"))
            if bool(current.get("MapPublicIpOnLaunch")) != map_public:
                self.before.setdefault(what, {})["map_public"] = not map_public
                self.after.setdefault(what, {})["map_public"] = map_public
                self.change(f"set map_public={map_public} on {what}", "modify_subnet_attribute", SubnetId=subnet_id,
                            MapPublicIpOnLaunch={"Value": map_public})
            ids[key] = subnet_id
        return ids

    def route_tables(self, vpc_id: str, igw_id: str, subnet_ids: dict[str, str]) -> dict[str, str]:
        tables = self.describe("describe_route_tables", "RouteTables", vpc_id=vpc_id) if vpc_id else []
        by_name: dict[str, list[dict[str, Any]]] = {}
        for t in tables:
            by_name.setdefault(tags_of(t).get("Name", ""), []).append(t)
        ids = {}
        wanted_anywhere = {subnet_ids[s] for t in self.p["route_tables"].values() for s in t.get("subnets") or []
                           if subnet_ids.get(s)}
        for key, spec in self.p["route_tables"].items():
            name = spec["tags"]["Name"]
            what = f"route table {name}"
            found = by_name.get(name, [])
            if len(found) > 1:
                self.module.fail_json(msg=f"{len(found)} route tables of the VPC are named {name!r}; remove the "
                                          "extra ones first", route_table_ids=[t["RouteTableId"] for t in found])
            if found:
                table = found[0]
                self.exact_tags(what, table["RouteTableId"], tags_of(table), spec["tags"])
            else:
                made = self.change(f"create {what}", "create_route_table", VpcId=vpc_id,
                                   **self.tag_spec("route-table", spec["tags"]))
                table = made["RouteTable"] if made else {"RouteTableId": "", "Routes": [], "Associations": []}
            rt_id = table["RouteTableId"]
            ids[key] = rt_id
            # Routes: exact, but for the local route and endpoints' routes.
            want = wanted_routes(spec, igw_id or "igw-new")
            have = managed_routes(table.get("Routes", []))
            if want != have:
                self.before.setdefault(what, {})["routes"] = sorted(map(list, have))
                self.after.setdefault(what, {})["routes"] = sorted(map(list, want))
                for dest, target in sorted(have - want):
                    self.change(f"delete route {dest} -> {target} from {what}", "delete_route", RouteTableId=rt_id,
                                **({"DestinationIpv6CidrBlock": dest} if ":" in dest else
                                   {"DestinationCidrBlock": dest}))
                for dest, target in sorted(want - have):
                    self.change(f"add route {dest} -> {target} to {what}", "create_route", RouteTableId=rt_id,
                                DestinationCidrBlock=dest, GatewayId=target)
            # Subnet associations: exact.
            have_assoc = {a["SubnetId"]: a["RouteTableAssociationId"] for a in table.get("Associations", [])
                          if a.get("SubnetId")}
            want_subnets = {subnet_ids[s] or f"new-{s}" for s in spec.get("subnets") or []}
            if set(have_assoc) != want_subnets:
                self.before.setdefault(what, {})["subnets"] = sorted(have_assoc)
                self.after.setdefault(what, {})["subnets"] = sorted(want_subnets)
                # A subnet another table of the set wants moves there (replace_route_table_association) below.
                for subnet_id in sorted(set(have_assoc) - want_subnets - wanted_anywhere):
                    self.change(f"disassociate {subnet_id} from {what}", "disassociate_route_table",
                                AssociationId=have_assoc[subnet_id])
                for subnet_id in sorted(want_subnets - set(have_assoc)):
                    self.associate(what, rt_id, subnet_id, tables)
        return ids

    def associate(self, what: str, rt_id: str, subnet_id: str, tables: list[dict[str, Any]]) -> None:
        """Associate the subnet with the table; an association with another table (other than the main one) is
        replaced."""
        other = next((a for t in tables for a in t.get("Associations", [])
                      if a.get("SubnetId") == subnet_id and t["RouteTableId"] != rt_id), None)
        if other:
            self.change(f"move {subnet_id} to {what}", "replace_route_table_association",
                        AssociationId=other["RouteTableAssociationId"], RouteTableId=rt_id)
        else:
            self.change(f"associate {subnet_id} with {what}", "associate_route_table", RouteTableId=rt_id,
                        SubnetId=subnet_id)

    def endpoints_of(self, vpc_id: str) -> dict[str, dict[str, Any]]:
        if not vpc_id:
            return {}
        return {e["ServiceName"]: e for e in self.describe("describe_vpc_endpoints", "VpcEndpoints", vpc_id=vpc_id)
                if e.get("State", "").lower() in {s.lower() for s in LIVE_ENDPOINT}}

    def wait_available(self, endpoint_ids: list[str]) -> None:
        if self.check or not endpoint_ids:
            return
        deadline = time.monotonic() + self.p["wait_timeout"]
        while True:
            found = self.call("describe_vpc_endpoints", VpcEndpointIds=endpoint_ids)["VpcEndpoints"]
            states = {e["VpcEndpointId"]: e.get("State", "").lower() for e in found}
            if all(s == "available" for s in states.values()):
                return
            if any(s in ("failed", "rejected", "deleted") for s in states.values()):
                self.module.fail_json(msg=f"endpoint(s) did not become available: {states}")
            if time.monotonic() > deadline:
                self.module.fail_json(msg=f"endpoints not available after {self.p['wait_timeout']} s: {states}")
            time.sleep(5)

    def set_diff(self, what: str, add_key: str, remove_key: str, label: str, have: set[str], want: set[str],
                 changes: dict[str, Any]) -> None:
        if have != want:
            self.before.setdefault(what, {})[label] = sorted(have)
            self.after.setdefault(what, {})[label] = sorted(want)
            if want - have:
                changes[add_key] = sorted(want - have)
            if have - want:
                changes[remove_key] = sorted(have - want)

    def gateway_endpoints(self, vpc_id: str, rt_ids: dict[str, str], existing: dict[str, Any]) -> dict[str, str]:
        ids, waiting = {}, []
        for key, spec in self.p["gateway_endpoints"].items():
            what = f"gateway endpoint {spec['service']}"
            want_rts = {rt_ids[r] or f"new-{r}" for r in spec.get("route_tables") or []}
            policy = spec.get("policy")
            current = existing.get(spec["service"])
            if current is None:
                made = self.change(f"create {what}", "create_vpc_endpoint", VpcEndpointType="Gateway", VpcId=vpc_id,
                                   ServiceName=spec["service"], RouteTableIds=sorted(want_rts),
                                   **({"PolicyDocument": json.dumps(policy)} if policy else {}),
                                   **self.tag_spec("vpc-endpoint", spec.get("tags")))
                ids[key] = made["VpcEndpoint"]["VpcEndpointId"] if made else ""
                waiting += [ids[key]] if made else []
                continue
            ep_id = ids[key] = current["VpcEndpointId"]
            self.exact_tags(what, ep_id, tags_of(current), spec.get("tags"))
            changes: dict[str, Any] = {}
            self.set_diff(what, "AddRouteTableIds", "RemoveRouteTableIds", "route_tables",
                          set(current.get("RouteTableIds") or []), want_rts, changes)
            have_policy = current.get("PolicyDocument")
            have_policy = json.loads(have_policy) if isinstance(have_policy, str) and have_policy else have_policy
            if policy and (not have_policy or compare_policies(have_policy, policy)):
                self.before.setdefault(what, {})["policy"], self.after.setdefault(what, {})["policy"] = \
                    have_policy, policy
                changes["PolicyDocument"] = json.dumps(policy)
            if changes:
                self.change(f"modify {what}: {', '.join(sorted(changes))}", "modify_vpc_endpoint",
                            VpcEndpointId=ep_id, **changes)
        self.wait_available(waiting)
        return ids

    def interface_endpoints(self, vpc_id: str, subnet_ids: dict[str, str], group_ids: dict[str, str],
                            existing: dict[str, Any]) -> dict[str, str]:
        ids, waiting = {}, []
        for key, spec in self.p["interface_endpoints"].items():
            what = f"interface endpoint {spec['service']}"
            want_subnets = {subnet_ids[s] or f"new-{s}" for s in spec.get("subnets") or []}
            want_groups = {group_ids[g] for g in spec.get("security_groups") or []}
            current = existing.get(spec["service"])
            if current is None:
                made = self.change(f"create {what}", "create_vpc_endpoint", VpcEndpointType="Interface",
                                   VpcId=vpc_id, ServiceName=spec["service"], SubnetIds=sorted(want_subnets),
                                   SecurityGroupIds=sorted(want_groups), PrivateDnsEnabled=True,
                                   **self.tag_spec("vpc-endpoint", spec.get("tags")))
                ids[key] = made["VpcEndpoint"]["VpcEndpointId"] if made else ""
                waiting += [ids[key]] if made else []
                continue
            ep_id = ids[key] = current["VpcEndpointId"]
            self.exact_tags(what, ep_id, tags_of(current), spec.get("tags"))
            changes: dict[str, Any] = {}
            self.set_diff(what, "AddSubnetIds", "RemoveSubnetIds", "subnets", set(current.get("SubnetIds") or []),
                          want_subnets, changes)
            self.set_diff(what, "AddSecurityGroupIds", "RemoveSecurityGroupIds", "security_groups",
                          {g["GroupId"] for g in current.get("Groups") or []}, want_groups, changes)
            if not current.get("PrivateDnsEnabled"):
                self.before.setdefault(what, {})["private_dns"], self.after.setdefault(what, {})["private_dns"] = \
                    False, True
                changes["PrivateDnsEnabled"] = True
            if changes:
                self.change(f"modify {what}: {', '.join(sorted(changes))}", "modify_vpc_endpoint",
                            VpcEndpointId=ep_id, **changes)
                waiting.append(ep_id)
        self.wait_available(waiting)
        return ids

    def run(self) -> dict[str, Any]:
        problems = check_input(self.p)
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        vpc_id = self.vpc()
        if not vpc_id:
            # Check mode, VPC missing: everything in it would be created.
            for kind, items in (("subnet", self.p["subnets"]), ("route table", self.p["route_tables"]),
                                ("gateway endpoint", self.p["gateway_endpoints"]),
                                ("security group", self.p["security_groups"]),
                                ("interface endpoint", self.p["interface_endpoints"])):
                self.actions += [f"create {kind} {key}" for key in items]
            if self.p["internet_gateway"] is not None:
                self.actions.append("create and attach internet gateway")
            empty = {k: "" for k in [*self.p["gateway_endpoints"], *self.p["interface_endpoints"]]}
            return {"vpc_id": "", "igw_id": "", "subnet_ids": dict.fromkeys(self.p["subnets"], ""),
                    "route_table_ids": dict.fromkeys(self.p["route_tables"], ""), "endpoint_ids": empty,
                    "group_ids": {k: f"sg-new-{g['name']}" for k, g in self.p["security_groups"].items()}}
        igw_id = self.internet_gateway(vpc_id)
        subnet_ids = self.subnets(vpc_id)
        rt_ids = self.route_tables(vpc_id, igw_id, subnet_ids)
        existing = self.endpoints_of(vpc_id)
        endpoint_ids = self.gateway_endpoints(vpc_id, rt_ids, existing)
        group_ids: dict[str, str] = {}
        if self.p["security_groups"]:
            groups = SecurityGroups(self.module, self.client)
            group_ids = groups.run(vpc_id=vpc_id, groups=self.p["security_groups"])["group_ids"]
            self.actions += groups.actions
            for key, value in groups.before.items():
                self.before[f"security group {key}"] = value
            for key, value in groups.after.items():
                self.after[f"security group {key}"] = value
        endpoint_ids.update(self.interface_endpoints(vpc_id, subnet_ids, group_ids, existing))
        return {"vpc_id": vpc_id, "igw_id": igw_id, "subnet_ids": subnet_ids, "route_table_ids": rt_ids,
                "endpoint_ids": endpoint_ids, "group_ids": group_ids}


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from ``client`` (an ec2 client with the aws_retry wrapper)."""
    manager = VpcNetwork(module, client)
    return manager.result(manager.run())


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
