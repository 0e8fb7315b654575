"""Host readiness (issue 18, item 4): after `compute`, wait until each instance is online in Systems Manager.

moto implements no DescribeInstanceInformation (its server answers HTTP 500), so the emulator cannot register an
instance with Systems Manager: the first test pins that, and the waiting itself is tested here against a real
botocore client answered by botocore's Stubber (requests are validated against the service model). The AWS-path
test turns the wait off in its overlay for the same reason.
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.clickstream.platform.plugins.modules.ssm_instances_online import (
    UNREGISTERED,
    not_online_message,
    ping_status,
    wait_online,
)
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from scripts.harness.moto import MotoServer

IDS = ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"]


def _client():
    return boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


def _page(statuses: dict[str, str], token: str | None = None) -> dict:
    page: dict = {"InstanceInformationList": [{"InstanceId": i, "PingStatus": s} for i, s in statuses.items()]}
    if token:
        page["NextToken"] = token
    return page


def _expect(stub: Stubber, page: dict, token: str | None = None) -> None:
    params: dict = {"Filters": [{"Key": "InstanceIds", "Values": IDS}]}
    if token:
        params["NextToken"] = token
    stub.add_response("describe_instance_information", page, params)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.integration
def test_the_emulator_cannot_register_instances_with_systems_manager(moto_server: MotoServer) -> None:
    client = boto3.client("ssm", endpoint_url=moto_server.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError):
        client.describe_instance_information()


def test_ping_status_follows_pages_and_marks_unknown_instances_unregistered() -> None:
    client = _client()
    with Stubber(client) as stub:
        _expect(stub, _page({IDS[0]: "ConnectionLost"}, token="t1"))
        _expect(stub, _page({}), token="t1")
        assert ping_status(client, IDS) == {IDS[0]: "ConnectionLost", IDS[1]: UNREGISTERED}
        stub.assert_no_pending_responses()


def test_wait_returns_once_every_instance_is_online() -> None:
    client, clock = _client(), FakeClock()
    with Stubber(client) as stub:
        _expect(stub, _page({IDS[0]: "Online"}))
        _expect(stub, _page({IDS[0]: "Online", IDS[1]: "ConnectionLost"}))
        _expect(stub, _page({IDS[0]: "Online", IDS[1]: "Online"}))
        online, status, waited = wait_online(client, IDS, timeout=600, poll_interval=10, sleep=clock.sleep,
                                             clock=clock)
        stub.assert_no_pending_responses()
    assert online and status == {IDS[0]: "Online", IDS[1]: "Online"}
    assert clock.sleeps == [10, 10] and waited == 20


def test_wait_gives_up_after_the_timeout_and_says_what_to_look_at() -> None:
    client, clock = _client(), FakeClock()
    with Stubber(client) as stub:
        for _ in range(4):  # polls at 0, 10, 20, 30 s; the next would pass the 35 s timeout
            _expect(stub, _page({IDS[0]: "Online"}))
        online, status, waited = wait_online(client, IDS, timeout=35, poll_interval=10, sleep=clock.sleep,
                                             clock=clock)
        stub.assert_no_pending_responses()
    assert not online and waited == 30
    assert status == {IDS[0]: "Online", IDS[1]: UNREGISTERED}
    msg = not_online_message(status, waited, "us-east-1")
    assert f"{IDS[1]} ({UNREGISTERED})" in msg and IDS[0] not in msg
    for hint in ("SSM agent", "instance profile", "AmazonSSMManagedInstanceCore", "443", "ssmmessages",
                 "ec2messages", "get-console-output", "ec2_instances_ssm_timeout"):
        assert hint in msg, hint
