"""The collection's set-at-once modules against a real moto server: aws_resources_info (several EC2/IAM lookups in
one call) and cloudwatch_metric_alarms (a set of alarms in one call, idempotent, check mode writes nothing)."""

from __future__ import annotations

import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.modules import aws_resources_info, cloudwatch_metric_alarms

from tests.identity.stubbed import FakeModule, ModuleFailed, params


@pytest.fixture
def clients(moto_server):
    made = {}

    def get(service: str):
        if service not in made:
            made[service] = RetryingBotoClientWrapper(moto_server.client(service), AWSRetry.jittered_backoff(retries=1))
        return made[service]

    return get


def lookup(clients, lookups: dict) -> dict:
    module = FakeModule(params(aws_resources_info.ARGUMENT_SPEC, lookups=lookups))
    return aws_resources_info.run(module, clients)


def test_one_call_finds_vpc_subnet_group_role_and_profile(moto_server, clients):
    tag = uuid.uuid4().hex[:8]
    ec2, iam = moto_server.client("ec2"), moto_server.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"v-{tag}"}]}])["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.61.1.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"s-{tag}"}]}])["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"g-{tag}", Description="t", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName=f"r-{tag}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName=f"p-{tag}")

    found = lookup(clients, {
        "vpc": {"type": "vpc", "filters": {"tag:Name": f"v-{tag}"}},
        "subnets": {"type": "subnet", "filters": {"tag:Name": [f"s-{tag}", f"other-{tag}"]}},
        "sg": {"type": "security_group", "filters": {"group-name": f"g-{tag}", "vpc-id": vpc}},
        "role": {"type": "iam_role", "name": f"r-{tag}"},
        "profile": {"type": "iam_instance_profile", "name": f"p-{tag}"},
        "no_role": {"type": "iam_role", "name": f"missing-{tag}"},
        "no_instance": {"type": "instance", "filters": {"tag:Name": f"i-{tag}"}},
    })
    res = found["resources"]
    assert found["changed"] is False
    assert [(v["vpc_id"], v["id"], v["tags"]) for v in res["vpc"]] == [(vpc, vpc, {"Name": f"v-{tag}"})]
    assert [(s["subnet_id"], s["vpc_id"], s["tags"]["Name"]) for s in res["subnets"]] == [(subnet, vpc, f"s-{tag}")]
    assert [g["group_id"] for g in res["sg"]] == [sg]
    assert [r["arn"] for r in res["role"]] == [role]
    assert [p["instance_profile_name"] for p in res["profile"]] == [f"p-{tag}"]
    assert res["no_role"] == [] and res["no_instance"] == []


def _zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("h.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def test_one_call_finds_log_groups_http_api_sns_topic_and_function(moto_server, clients):
    tag = uuid.uuid4().hex[:8]
    logs = moto_server.client("logs")
    logs.create_log_group(logGroupName=f"/aws/lambda/f-{tag}")
    logs.create_log_group(logGroupName=f"/aws/lambda/f-{tag}-longer")  # same prefix: not a match
    api = moto_server.client("apigatewayv2").create_api(Name=f"api-{tag}", ProtocolType="HTTP")["ApiId"]
    sns = moto_server.client("sns")
    topic = sns.create_topic(Name=f"t-{tag}", Tags=[{"Key": "Name", "Value": f"t-{tag}"}])["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=f"ops-{tag}@example.com")
    role = moto_server.client("iam").create_role(RoleName=f"fr-{tag}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function = moto_server.client("lambda").create_function(
        FunctionName=f"fn-{tag}", Runtime="python3.12", Role=role, Handler="h.handler",
        Code={"ZipFile": _zip()})
    events = moto_server.client("events")
    events.put_rule(Name=f"r-{tag}", ScheduleExpression="rate(30 minutes)", State="ENABLED")
    events.put_targets(Rule=f"r-{tag}", Targets=[{"Id": f"fn-{tag}", "Arn": function["FunctionArn"]}])

    found = lookup(clients, {
        "log": {"type": "log_group", "name": f"/aws/lambda/f-{tag}"},
        "no_log": {"type": "log_group", "name": f"/aws/lambda/missing-{tag}"},
        "api": {"type": "http_api", "name": f"api-{tag}"},
        "no_api": {"type": "http_api", "name": f"missing-{tag}"},
        "topic": {"type": "sns_topic", "arn": topic},
        "no_topic": {"type": "sns_topic", "arn": topic + "-missing"},
        "function": {"type": "lambda_function", "name": f"fn-{tag}"},
        "no_function": {"type": "lambda_function", "name": f"missing-{tag}"},
        "rule": {"type": "events_rule", "name": f"r-{tag}"},
        "no_rule": {"type": "events_rule", "name": f"missing-{tag}"},
    })["resources"]
    # What the etl role compares to skip its cloudwatchevent_rule run: the rule and its targets.
    assert [(r["name"], r["schedule_expression"], r["state"], r["targets"]) for r in found["rule"]] == [
        (f"r-{tag}", "rate(30 minutes)", "ENABLED", [{"id": f"fn-{tag}", "arn": function["FunctionArn"]}])]
    assert found["no_rule"] == []
    assert [(f["function_name"], f["code_sha256"]) for f in found["function"]] == [
        (f"fn-{tag}", function["CodeSha256"])]
    assert found["no_function"] == []
    assert [g["log_group_name"] for g in found["log"]] == [f"/aws/lambda/f-{tag}"]
    assert [a["api_id"] for a in found["api"]] == [api] and found["api"][0]["name"] == f"api-{tag}"
    assert [t["topic_arn"] for t in found["topic"]] == [topic]
    # What the monitoring role compares to skip its sns_topic run: subscriptions and tags.
    assert found["topic"][0]["subscriptions"] == [{"protocol": "email", "endpoint": f"ops-{tag}@example.com"}]
    assert found["topic"][0]["tags"] == {"Name": f"t-{tag}"}
    assert found["no_log"] == [] and found["no_api"] == [] and found["no_topic"] == []


def test_a_vpc_endpoint_lookup_gives_what_the_lake_role_compares(moto_server, clients):
    tag = uuid.uuid4().hex[:8]
    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.62.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"e-{tag}", Description="e", VpcId=vpc)["GroupId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=vpc, ServiceName="com.amazonaws.us-east-1.glue", SubnetIds=[subnet],
        SecurityGroupIds=[sg], PrivateDnsEnabled=True, TagSpecifications=[
            {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": f"vpce-{tag}"}]}])["VpcEndpoint"]
    found = lookup(clients, {"ep": {"type": "vpc_endpoint", "filters": {
        "service-name": "com.amazonaws.us-east-1.glue", "tag:Name": f"vpce-{tag}",
        "vpc-endpoint-state": ["pending", "available"]}}})["resources"]["ep"]
    assert [(e["vpc_endpoint_id"], e["vpc_id"], e["subnet_ids"], [g["group_id"] for g in e["groups"]],
             e["private_dns_enabled"], e["tags"]) for e in found] == [
        (endpoint["VpcEndpointId"], vpc, [subnet], [sg], True, {"Name": f"vpce-{tag}"})]


def test_a_dashboard_lookup_gives_the_body_as_cloudwatch_dashboard_compares_it(moto_server, clients):
    import json

    tag = uuid.uuid4().hex[:8]
    body = {"start": "-PT6H", "widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2,
                                           "properties": {"markdown": f"d-{tag}"}}]}
    moto_server.client("cloudwatch").put_dashboard(DashboardName=f"d-{tag}", DashboardBody=json.dumps(body))
    found = lookup(clients, {"d": {"type": "cloudwatch_dashboard", "name": f"d-{tag}"},
                             "none": {"type": "cloudwatch_dashboard", "name": f"missing-{tag}"}})["resources"]
    assert [(d["dashboard_name"], d["body"]) for d in found["d"]] == [(f"d-{tag}", body)]
    assert found["d"][0]["dashboard_arn"].endswith(f":dashboard/d-{tag}")
    assert found["none"] == []


def test_a_malformed_lookup_is_refused_before_any_call(clients):
    with pytest.raises(ModuleFailed) as failed:
        lookup(clients, {"a": {"type": "bucket"}, "b": {"type": "iam_role"}, "c": {"type": "vpc", "filter": {}},
                         "d": {"type": "sns_topic", "name": "t"}, "e": {"type": "log_group"}})
    msg = failed.value.result["msg"]
    assert "lookup a: needs a type" in msg and "lookup b: type iam_role needs a name" in msg
    assert "lookup c: unknown option(s) filter" in msg
    assert "lookup d: type sns_topic needs an arn" in msg and "lookup e: type log_group needs a name" in msg


def alarm(name: str, **over) -> dict:
    return {"name": name, "description": f"{name} fired", "namespace": "Test/Wide", "metric": "Errors",
            "dimensions": {"FunctionName": "f", "Stage": "s"}, "statistic": "Sum",
            "comparison": "GreaterThanOrEqualToThreshold", "threshold": 1, "period": 300, "evaluation_periods": 1,
            "datapoints": 1, "unit": "", "treat_missing_data": "notBreaching", **over}


def ensure(clients, alarms: list[dict], check_mode: bool = False, topic: str = "arn:aws:sns:us-east-1:123456789012:t"):
    module = FakeModule(params(cloudwatch_metric_alarms.ARGUMENT_SPEC, alarms=alarms, alarm_actions=[topic],
                               ok_actions=[topic]), check_mode=check_mode)
    module._diff = True
    return cloudwatch_metric_alarms.run(module, clients("cloudwatch"))


def test_alarms_are_written_once_then_left_alone(moto_server, clients):
    tag = uuid.uuid4().hex[:8]
    wanted = [alarm(f"a-{tag}"), alarm(f"b-{tag}", unit="Seconds", comparison="LessThanThreshold", threshold="2.5")]
    first = ensure(clients, wanted)
    assert first["changed"] is True and first["alarms"] == {f"a-{tag}": True, f"b-{tag}": True}
    cw = moto_server.client("cloudwatch")
    stored = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=[f"a-{tag}", f"b-{tag}"])["MetricAlarms"]}
    assert stored[f"b-{tag}"]["Threshold"] == 2.5 and stored[f"b-{tag}"]["Unit"] == "Seconds"
    assert "Unit" not in stored[f"a-{tag}"] or not stored[f"a-{tag}"]["Unit"]
    second = ensure(clients, wanted)
    assert second["changed"] is False and second["alarms"] == {f"a-{tag}": False, f"b-{tag}": False}


def test_an_alarm_written_with_its_dimensions_in_another_order_is_unchanged(moto_server, clients):
    tag = uuid.uuid4().hex[:8]
    moto_server.client("cloudwatch").put_metric_alarm(
        AlarmName=f"c-{tag}", AlarmDescription=f"c-{tag} fired", Namespace="Test/Wide", MetricName="Errors",
        Dimensions=[{"Name": "Stage", "Value": "s"}, {"Name": "FunctionName", "Value": "f"}], Statistic="Sum",
        ComparisonOperator="GreaterThanOrEqualToThreshold", Threshold=1.0, Period=300, EvaluationPeriods=1,
        DatapointsToAlarm=1, TreatMissingData="notBreaching", ActionsEnabled=True,
        AlarmActions=["arn:aws:sns:us-east-1:123456789012:t"], OKActions=["arn:aws:sns:us-east-1:123456789012:t"])
    assert ensure(clients, [alarm(f"c-{tag}")])["changed"] is False


def test_check_mode_reports_a_difference_and_writes_nothing(moto_server, clients):
    tag = uuid.uuid4().hex[:8]
    ensure(clients, [alarm(f"d-{tag}")])
    checked = ensure(clients, [alarm(f"d-{tag}", threshold=5)], check_mode=True)
    assert checked["alarms"] == {f"d-{tag}": True}
    assert checked["diff"]["before"][f"d-{tag}"]["Threshold"] == 1.0
    assert checked["diff"]["after"][f"d-{tag}"]["Threshold"] == 5.0
    stored = moto_server.client("cloudwatch").describe_alarms(AlarmNames=[f"d-{tag}"])["MetricAlarms"][0]
    assert stored["Threshold"] == 1.0
    assert ensure(clients, [alarm(f"d-{tag}", threshold=5)])["changed"] is True
    assert ensure(clients, [alarm(f"d-{tag}", threshold=5)])["changed"] is False


def test_a_set_with_a_missing_field_or_a_name_twice_is_refused(clients):
    with pytest.raises(ModuleFailed) as failed:
        ensure(clients, [alarm("e", metric=""), alarm("f"), alarm("f")])
    assert "alarm e: missing metric" in failed.value.result["msg"]
    assert "alarm names given twice: f" in failed.value.result["msg"]


@pytest.mark.parametrize("module", ["aws_resources_info", "cloudwatch_metric_alarms"])
def test_ansible_doc_and_the_aws_action_group(module):
    import yaml

    from scripts.harness.ansible import REPO, ansible_doc

    doc = ansible_doc(module)
    assert "region" in doc["doc"]["options"] and "endpoint_url" in doc["doc"]["options"]
    spec = {"aws_resources_info": aws_resources_info, "cloudwatch_metric_alarms": cloudwatch_metric_alarms}[module]
    assert set(spec.ARGUMENT_SPEC) <= set(doc["doc"]["options"])
    assert yaml.safe_load(doc["examples"])
    runtime = yaml.safe_load((REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml")
                             .read_text())
    assert module in runtime["action_groups"]["aws"]
