"""Unit tests of module_utils/boto3_resource (the skeleton the boto3 modules share), against real botocore clients
answered by botocore's Stubber: requests are validated against the service model before the stub answers."""

from __future__ import annotations

import pytest
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import (
    Boto3Resource,
    error_code,
    paginate,
)
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.identity.stubbed import FakeModule, ModuleFailed, stubbed


class ExitingModule(FakeModule):
    """FakeModule that keeps what exit_json was given."""

    exited: dict | None = None

    def exit_json(self, **kwargs: object) -> None:
        self.exited = kwargs


def test_paginate_follows_the_token_until_there_is_none():
    pages = {None: {"apps": [{"name": "a"}], "nextToken": "t1"}, "t1": {"apps": [{"name": "b"}], "nextToken": "t2"},
             "t2": {"apps": [{"name": "c"}]}}
    seen = []

    def call(**kw: str) -> dict:
        seen.append(kw)
        return pages[kw.get("nextToken")]

    assert [a["name"] for a in paginate(call, "apps", "nextToken")] == ["a", "b", "c"]
    assert seen == [{}, {"nextToken": "t1"}, {"nextToken": "t2"}]


def test_paginate_with_a_missing_items_key_is_empty():
    assert paginate(lambda **_: {}, "Items") == []


def test_error_code_reads_client_errors_only():
    err = ClientError({"Error": {"Code": "NotFoundException", "Message": "x"}}, "GetBranch")
    assert error_code(err) == "NotFoundException"
    assert error_code(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) is None
    assert error_code(ValueError("x")) is None


def test_call_returns_the_response_and_none_on_a_listed_code():
    with stubbed("amplify") as (client, stub):
        stub.add_client_error("get_branch", "NotFoundException", expected_params={"appId": "d1", "branchName": "x"})
        stub.add_response("list_apps", {"apps": []}, {"maxResults": 10})
        r = Boto3Resource(FakeModule({}), client)
        assert r.call("get_branch", none_on={"NotFoundException"}, appId="d1", branchName="x") is None
        assert r.call("list_apps", maxResults=10)["apps"] == []


def test_call_fails_the_module_with_the_method_in_the_message():
    with stubbed("amplify") as (client, stub):
        stub.add_client_error("get_branch", "BadRequestException", expected_params={"appId": "d1", "branchName": "x"})
        r = Boto3Resource(FakeModule({}), client, failure_msg="amplify {method} failed")
        with pytest.raises(ModuleFailed, match=r"^amplify get_branch failed$") as failed:
            r.call("get_branch", none_on={"NotFoundException"}, appId="d1", branchName="x")
    assert error_code(failed.value.result["exception"]) == "BadRequestException"


def test_change_records_the_action_and_calls_aws_only_outside_check_mode():
    arn = "arn:aws:amplify:us-east-1:123456789012:apps/d1"
    with stubbed("amplify") as (client, _):  # no response queued: any request would fail the stub
        r = Boto3Resource(FakeModule({}, check_mode=True), client)
        assert r.change("untag ['a']", "untag_resource", resourceArn=arn, tagKeys=["a"]) is None
    assert r.actions == ["untag ['a']"]
    with stubbed("amplify") as (client, stub):  # leaving the block checks the queued response was used
        stub.add_response("untag_resource", {}, {"resourceArn": arn, "tagKeys": ["a"]})
        r = Boto3Resource(FakeModule({}), client)
        assert r.change("untag ['a']", "untag_resource", resourceArn=arn, tagKeys=["a"]) is not None
    assert r.actions == ["untag ['a']"]


def test_single_named_picks_the_one_and_refuses_two():
    r = Boto3Resource(FakeModule({}), client=None)
    items = [{"Name": "a", "Id": "1"}, {"Name": "b", "Id": "2"}, {"Name": "b", "Id": "3"}]
    assert r.single_named(items, "a", what="pools", id_key="Id", ids_key="pool_ids") == {"Name": "a", "Id": "1"}
    assert r.single_named(items, "z", what="pools", id_key="Id", ids_key="pool_ids") is None
    with pytest.raises(ModuleFailed, match="2 pools are named 'b'") as failed:
        r.single_named(items, "b", what="pools", id_key="Id", ids_key="pool_ids")
    assert failed.value.result["pool_ids"] == ["2", "3"]


def test_exit_json_reports_changed_actions_and_diff():
    module = ExitingModule({})
    r = Boto3Resource(module, client=None)
    r.exit_json(thing={})
    assert module.exited == {"changed": False, "actions": [], "thing": {}, "diff": {"before": {}, "after": {}}}
    r.actions.append("create thing")
    r.before, r.after = {"a": 1}, {"a": 2}
    r.exit_json(with_diff=False, thing={"id": "x"})
    assert module.exited == {"changed": True, "actions": ["create thing"], "thing": {"id": "x"}}
