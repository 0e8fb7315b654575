"""Unit tests of the preflight's own modules against stubbed AWS, for the conditions the emulator cannot produce:
moto has no Lambda GetAccountSettings (so no account whose concurrency limit is 10) and offers every instance type
in every zone. Each request goes through a real botocore client, so its parameters are checked against botocore's
service model before the Stubber answers."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.clickstream.platform.plugins.module_utils.lambda_account import (
    MIN_UNRESERVED,
    reservation_room,
)
from ansible_collections.clickstream.platform.plugins.modules import (
    ec2_instance_type_offerings_info,
    lambda_account_info,
)

from scripts.harness.ansible import REPO, ansible_doc
from tests.identity.stubbed import FakeModule, ModuleFailed, params, stubbed

NEW_ACCOUNT = {"AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                                "CodeSizeZipped": 52428800, "ConcurrentExecutions": 10,
                                "UnreservedConcurrentExecutions": 10},
               "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0}}


def settings(limit: int, unreserved: int) -> dict:
    return {**NEW_ACCOUNT, "AccountLimit": {**NEW_ACCOUNT["AccountLimit"], "ConcurrentExecutions": limit,
                                            "UnreservedConcurrentExecutions": unreserved}}


def run_lambda(reservations: dict, account: dict, current: dict[str, int | None]) -> dict:
    module = FakeModule(params(lambda_account_info.ARGUMENT_SPEC, reservations=reservations))
    with stubbed("lambda") as (client, stub):
        stub.add_response("get_account_settings", account, {})
        for name in sorted(reservations):
            if current.get(name) is None:
                stub.add_client_error("get_function_concurrency", "ResourceNotFoundException", http_status_code=404,
                                      expected_params={"FunctionName": name})
            else:
                stub.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": current[name]},
                                  {"FunctionName": name})
        return lambda_account_info.run(module, client)


def test_a_new_account_with_limit_10_has_no_room_for_a_reservation():
    result = run_lambda({"shop-ingest": 20}, settings(10, 10), {})
    assert result["fits"] is False
    assert (result["account_limit"], result["unreserved"], result["available"]) == (10, 10, 0)
    assert result["requested"] == 20
    assert result["current"] == {"shop-ingest": None}


def test_the_shipped_ingest_default_fits_a_new_account():
    """Finding 3: the ingest role's default reservation must work on an account whose limit is 10."""
    defaults = yaml.safe_load((REPO / "roles/ingest/defaults/main.yml").read_text())
    wanted = defaults["ingest_reserved_concurrency"]
    result = run_lambda({"shop-ingest": wanted}, settings(10, 10), {})
    assert result["fits"] is True, f"ingest_reserved_concurrency default {wanted} needs room a new account lacks"


def test_a_reservation_the_function_already_holds_counts_as_room():
    # limit 100, ingest holds 20 -> 80 unreserved; raising it to 90 leaves 100 - 90 = 10 unreserved: fits
    assert run_lambda({"shop-ingest": 90}, settings(100, 80), {"shop-ingest": 20})["fits"] is True
    # 91 would leave 9 unreserved
    result = run_lambda({"shop-ingest": 91}, settings(100, 80), {"shop-ingest": 20})
    assert result["fits"] is False
    assert result["available"] == 90
    assert result["unreserved_after"] == 9


def test_reservation_room_keeps_the_unreserved_minimum():
    assert MIN_UNRESERVED == 10
    assert reservation_room(1000, {}, {"a": 990})["fits"] is True
    assert reservation_room(1000, {}, {"a": 991})["fits"] is False
    assert reservation_room(1000, {}, {"a": 500, "b": 491})["fits"] is False
    assert reservation_room(10, {}, {"a": None, "b": 0})["fits"] is True  # no reservation needs no room


def test_lambda_account_info_reports_a_refused_call():
    module = FakeModule(params(lambda_account_info.ARGUMENT_SPEC, reservations={"f": 5}))
    with stubbed("lambda") as (client, stub), pytest.raises(ModuleFailed) as failed:
        stub.add_client_error("get_account_settings", "AccessDeniedException", http_status_code=403)
        lambda_account_info.run(module, client)
    assert "lambda:GetAccountSettings" in failed.value.result["msg"]


def run_offerings(types: list[str], zone: str, pages: list[list[str]]) -> dict:
    module = FakeModule(params(ec2_instance_type_offerings_info.ARGUMENT_SPEC, instance_types=types, location=zone))
    filters = [{"Name": "location", "Values": [zone]}, {"Name": "instance-type", "Values": sorted(set(types))}]
    with stubbed("ec2") as (client, stub):
        for i, page in enumerate(pages):
            response = {"InstanceTypeOfferings": [{"InstanceType": t, "LocationType": "availability-zone",
                                                   "Location": zone} for t in page]}
            expected = {"LocationType": "availability-zone", "Filters": filters}
            if i + 1 < len(pages):
                response["NextToken"] = f"t{i + 1}"
            if i:
                expected["NextToken"] = f"t{i}"
            stub.add_response("describe_instance_type_offerings", response, expected)
        return ec2_instance_type_offerings_info.run(module, client)


def test_an_instance_type_the_zone_does_not_offer_is_missing():
    result = run_offerings(["t3.small", "t3.large"], "us-east-1e", [["t3.small"]])
    assert result == {"changed": False, "offered": ["t3.small"], "missing": ["t3.large"]}


def test_offerings_over_several_pages():
    result = run_offerings(["t3.small", "t3.large"], "us-east-1a", [["t3.small"], ["t3.large"]])
    assert result["missing"] == []
    assert result["offered"] == ["t3.large", "t3.small"]


@pytest.mark.parametrize("module", ["lambda_account_info", "ec2_instance_type_offerings_info"])
def test_ansible_doc(module):
    doc = ansible_doc(module)["doc"]
    assert "region" in doc["options"] and "endpoint_url" in doc["options"]
    runtime = yaml.safe_load((REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml")
                             .read_text())
    assert module in runtime["action_groups"]["aws"]
