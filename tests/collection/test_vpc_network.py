"""clickstream.platform.ec2_vpc_network: a VPC with its internet gateway, subnets, route tables, endpoints and
security groups in one module run. Input checks and the route helpers as unit tests; the module itself against a
real moto server (check mode first on an empty account, then for real, then a second run that changes nothing,
then drift made behind its back and put back)."""

from __future__ import annotations

import json
import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.modules import ec2_vpc_network as mod

from tests.identity.stubbed import FakeModule, ModuleFailed, params

REGION = "us-east-1"


def test_managed_routes_leave_the_local_and_endpoint_routes_out():
    routes = [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable"},
              {"DestinationPrefixListId": "pl-1", "GatewayId": "vpce-1", "Origin": "CreateRoute"},
              {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "Origin": "CreateRoute"},
              {"DestinationCidrBlock": "192.0.2.0/24", "NatGatewayId": "nat-1", "Origin": "CreateRoute"}]
    assert mod.managed_routes(routes) == {("0.0.0.0/0", "igw-1"), ("192.0.2.0/24", "nat-1")}
    assert mod.wanted_routes({"internet_route": True}, "igw-1") == {("0.0.0.0/0", "igw-1")}
    assert mod.wanted_routes({}, "igw-1") == set()


@pytest.mark.parametrize(("extra", "message"), [
    ({"vpc": {"name": "v"}}, "vpc: needs a name and a cidr"),
    ({"subnets": {"a": {"cidr": "10.0.1.0/24"}}}, "subnet a: needs a cidr and an az"),
    ({"route_tables": {"a": {"tags": {}}}}, "route table a: needs tags with a Name"),
    ({"route_tables": {"a": {"tags": {"Name": "a"}, "subnets": ["nope"]}}}, "route table a: no subnet nope"),
    ({"route_tables": {"a": {"tags": {"Name": "x"}}, "b": {"tags": {"Name": "x"}}}}, "route table names given twice"),
    ({"route_tables": {"a": {"tags": {"Name": "a"}, "internet_route": True}}, "internet_gateway": None},
     "internet_route needs internet_gateway"),
    ({"gateway_endpoints": {"s3": {"service": "s", "route_tables": ["x"]}}}, "gateway endpoint s3: no route table x"),
    ({"gateway_endpoints": {"s3": {"service": "s", "policy": "{}"}}}, "policy must be a dict"),
    ({"interface_endpoints": {"ssm": {"service": "s", "security_groups": ["g"]}}}, "no security group g"),
    ({"gateway_endpoints": {"a": {"service": "s"}}, "interface_endpoints": {"b": {"service": "s"}}},
     "an endpoint service is given twice"),
])
def test_bad_input_is_refused_before_any_call(extra, message):
    args = {"vpc": {"name": "v", "cidr": "10.0.0.0/16"}, "internet_gateway": {}} | extra
    with pytest.raises(ModuleFailed) as failed:
        mod.run(FakeModule(params(mod.ARGUMENT_SPEC, **args)), client=None)
    assert message in failed.value.result["msg"]


@pytest.fixture
def ec2(moto_server):
    return RetryingBotoClientWrapper(moto_server.client("ec2"), AWSRetry.jittered_backoff(retries=1))


def ensure(ec2, args: dict, check_mode: bool = False) -> dict:
    module = FakeModule(params(mod.ARGUMENT_SPEC, **args), check_mode=check_mode)
    module._diff = True
    return mod.run(module, ec2)


def the_network(tag: str, second_octet: int) -> dict:
    net = f"10.{second_octet}"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Platform", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::b-{tag}/*"]}]}
    return {
        "vpc": {"name": f"vpc-{tag}", "cidr": f"{net}.0.0/16", "tags": {"Name": f"vpc-{tag}", "Env": "t"}},
        "internet_gateway": {"tags": {"Name": f"igw-{tag}"}},
        "subnets": {
            "public": {"cidr": f"{net}.1.0/24", "az": f"{REGION}a", "map_public": True,
                       "tags": {"Name": f"public-{tag}"}},
            "private": {"cidr": f"{net}.2.0/24", "az": f"{REGION}a", "map_public": False,
                        "tags": {"Name": f"private-{tag}"}},
        },
        "route_tables": {
            "public": {"tags": {"Name": f"rt-public-{tag}"}, "subnets": ["public"], "internet_route": True},
            "private": {"tags": {"Name": f"rt-private-{tag}"}, "subnets": ["private"]},
        },
        "gateway_endpoints": {"s3": {"service": f"com.amazonaws.{REGION}.s3", "route_tables": ["private"],
                                     "policy": policy, "tags": {"Name": f"vpce-s3-{tag}"}}},
        "security_groups": {"endpoints": {"name": f"sg-endpoints-{tag}", "description": "endpoints",
                                          "tags": {"Name": f"sg-endpoints-{tag}"},
                                          "rules": [{"proto": "tcp", "ports": [443], "cidr_ip": f"{net}.0.0/16"}]}},
        "interface_endpoints": {"ssm": {"service": f"com.amazonaws.{REGION}.ssm", "subnets": ["private"],
                                        "security_groups": ["endpoints"], "tags": {"Name": f"vpce-ssm-{tag}"}}},
    }


def snapshot(ec2, vpc_id: str) -> dict:
    """Everything the module manages in the VPC, read back, by name."""
    def name(r):
        return {t["Key"]: t["Value"] for t in r.get("Tags", [])}.get("Name", "")
    def tags(r):
        return {t["Key"]: t["Value"] for t in r.get("Tags", [])}
    flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnets = {s["SubnetId"]: name(s) for s in ec2.describe_subnets(Filters=flt)["Subnets"]}
    out = {"vpc": tags(ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]),
           "dns": [ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=a)[k]["Value"]
                   for a, k in (("enableDnsSupport", "EnableDnsSupport"),
                                ("enableDnsHostnames", "EnableDnsHostnames"))],
           "igw": [tags(i) for i in ec2.describe_internet_gateways(
               Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]],
           "subnets": {name(s): (s["CidrBlock"], s["MapPublicIpOnLaunch"], tags(s))
                       for s in ec2.describe_subnets(Filters=flt)["Subnets"]},
           "route_tables": {name(t): (sorted(mod.managed_routes(t["Routes"])),
                                      sorted(subnets[a["SubnetId"]] for a in t.get("Associations", [])
                                             if a.get("SubnetId")), tags(t))
                            for t in ec2.describe_route_tables(Filters=flt)["RouteTables"] if name(t)},
           "endpoints": {}}
    for e in ec2.describe_vpc_endpoints(Filters=flt)["VpcEndpoints"]:
        out["endpoints"][e["ServiceName"]] = (
            sorted(e.get("RouteTableIds") or []), sorted(subnets[s] for s in e.get("SubnetIds") or []),
            sorted(g["GroupName"] for g in e.get("Groups") or []), e.get("PrivateDnsEnabled"), tags(e),
            json.loads(e["PolicyDocument"]) if e.get("VpcEndpointType") == "Gateway" else None)
    return out


def test_check_mode_then_create_then_nothing_then_drift_put_back(moto_server, ec2):
    tag = uuid.uuid4().hex[:8]
    wanted = the_network(tag, 40 + int(tag[:2], 16) % 100)

    planned = ensure(ec2, wanted, check_mode=True)
    assert planned["changed"] is True and planned["vpc_id"] == ""
    assert {"create subnet public", "create route table private", "create gateway endpoint s3",
            "create security group endpoints", "create interface endpoint ssm"} <= set(planned["actions"])
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"vpc-{tag}"]}])["Vpcs"], \
        "check mode created the VPC"

    made = ensure(ec2, wanted)
    assert made["changed"] is True
    vpc_id = made["vpc_id"]
    got = snapshot(ec2, vpc_id)
    assert got["vpc"] == {"Name": f"vpc-{tag}", "Env": "t"} and got["dns"] == [True, True]
    assert got["igw"] == [{"Name": f"igw-{tag}"}]
    assert {k: v[:2] for k, v in got["subnets"].items()} == {
        f"public-{tag}": (wanted["subnets"]["public"]["cidr"], True),
        f"private-{tag}": (wanted["subnets"]["private"]["cidr"], False)}
    assert got["route_tables"][f"rt-public-{tag}"][:2] == ([("0.0.0.0/0", made["igw_id"])], [f"public-{tag}"])
    assert got["route_tables"][f"rt-private-{tag}"][:2] == ([], [f"private-{tag}"])
    s3 = got["endpoints"][f"com.amazonaws.{REGION}.s3"]
    assert s3[0] == [made["route_table_ids"]["private"]] and s3[5] == wanted["gateway_endpoints"]["s3"]["policy"]
    ssm = got["endpoints"][f"com.amazonaws.{REGION}.ssm"]
    assert ssm[1:4] == ([f"private-{tag}"], [f"sg-endpoints-{tag}"], True)
    assert made["endpoint_ids"]["ssm"].startswith("vpce-") and made["group_ids"]["endpoints"].startswith("sg-")

    again = ensure(ec2, wanted)
    assert again["changed"] is False and again["actions"] == []
    assert {k: again[k] for k in ("vpc_id", "igw_id", "subnet_ids", "route_table_ids", "endpoint_ids",
                                  "group_ids")} == {k: made[k] for k in ("vpc_id", "igw_id", "subnet_ids",
                                                                          "route_table_ids", "endpoint_ids",
                                                                          "group_ids")}
    assert ensure(ec2, wanted, check_mode=True)["changed"] is False

    # Drift behind the module's back: a VPC tag, DNS hostnames off, a subnet's public-IP mapping, the public table's
    # internet route gone and an extra route on the private one, the private subnet moved to the public table, the
    # gateway endpoint's policy and route tables, the interface endpoint's security groups, a group's rule.
    ids, rts = made["subnet_ids"], made["route_table_ids"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Env", "Value": "other"}])
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": False})
    ec2.modify_subnet_attribute(SubnetId=ids["private"], MapPublicIpOnLaunch={"Value": True})
    ec2.delete_route(RouteTableId=rts["public"], DestinationCidrBlock="0.0.0.0/0")
    ec2.create_route(RouteTableId=rts["private"], DestinationCidrBlock="0.0.0.0/0", GatewayId=made["igw_id"])
    table = ec2.describe_route_tables(RouteTableIds=[rts["private"]])["RouteTables"][0]
    assoc = next(a for a in table["Associations"] if a.get("SubnetId") == ids["private"])
    ec2.replace_route_table_association(AssociationId=assoc["RouteTableAssociationId"], RouteTableId=rts["public"])
    ec2.modify_vpc_endpoint(VpcEndpointId=made["endpoint_ids"]["s3"], PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
        AddRouteTableIds=[rts["public"]])
    other = ec2.create_security_group(GroupName=f"other-{tag}", Description="x", VpcId=vpc_id)["GroupId"]
    ec2.modify_vpc_endpoint(VpcEndpointId=made["endpoint_ids"]["ssm"], AddSecurityGroupIds=[other])
    ec2.authorize_security_group_ingress(GroupId=made["group_ids"]["endpoints"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    drifted = snapshot(ec2, vpc_id)
    assert drifted != got

    seen = ensure(ec2, wanted, check_mode=True)
    assert seen["changed"] is True
    assert {f"VPC vpc-{tag}", f"route table rt-public-{tag}", f"route table rt-private-{tag}",
            f"gateway endpoint com.amazonaws.{REGION}.s3", f"interface endpoint com.amazonaws.{REGION}.ssm",
            "security group endpoints"} <= set(seen["diff"]["before"])
    assert snapshot(ec2, vpc_id) == drifted, "check mode put the drift back"

    fixed = ensure(ec2, wanted)
    assert fixed["changed"] is True
    assert snapshot(ec2, vpc_id) == got
    assert ensure(ec2, wanted)["changed"] is False


def test_ansible_doc_and_the_aws_action_group():
    import yaml

    from scripts.harness.ansible import REPO, ansible_doc

    doc = ansible_doc("ec2_vpc_network")
    assert "region" in doc["doc"]["options"] and "endpoint_url" in doc["doc"]["options"]
    assert set(mod.ARGUMENT_SPEC) <= set(doc["doc"]["options"])
    assert yaml.safe_load(doc["examples"])
    runtime = yaml.safe_load((REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml")
                             .read_text())
    assert "ec2_vpc_network" in runtime["action_groups"]["aws"]
