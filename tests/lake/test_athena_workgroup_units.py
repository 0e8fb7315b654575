"""Unit tests of clickstream.platform.athena_workgroup's configuration: one builder for create and update.

moto has no UpdateWorkGroup, so the update request cannot be sent to the emulator; instead both requests are
validated against botocore's own model of the Athena API (the same check botocore makes before it sends them), and
the update is shown to carry exactly the settings the create sends and the comparison expects.
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.clickstream.platform.plugins.modules.athena_workgroup import (
    configuration,
    configuration_updates,
    current_view,
    wanted_view,
)
from botocore.validate import ParamValidator

PARAMS = {
    "name": "clickstream-dev-lake", "description": "lake queries",
    "output_location": "s3://clickstream-dev-lake-123456789012-us-east-1/athena-results/",
    "encryption_option": "SSE_KMS", "kms_key": "arn:aws:kms:us-east-1:123456789012:key/k",
    "enforce_workgroup_configuration": True, "bytes_scanned_cutoff_per_query": 10 * 1024**3,
    "publish_cloudwatch_metrics": True, "engine_version": "Athena engine version 3", "tags": {}, "state": "present",
}


def _valid(operation: str, request: dict) -> None:
    model = boto3.client("athena", region_name="us-east-1").meta.service_model.operation_model(operation)
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("params", [PARAMS, {**PARAMS, "encryption_option": "SSE_S3", "kms_key": None}])
def test_create_and_update_requests_are_valid_and_carry_the_same_settings(params):
    config = configuration(params)
    _valid("CreateWorkGroup", {"Name": params["name"], "Description": params["description"], "Configuration": config})
    updates = configuration_updates(config)
    _valid("UpdateWorkGroup", {"WorkGroup": params["name"], "Description": params["description"],
                               "ConfigurationUpdates": updates})
    # The update is the create's configuration under UpdateWorkGroup's names, nothing more and nothing less.
    assert updates["ResultConfigurationUpdates"] == config["ResultConfiguration"]
    assert {k: v for k, v in updates.items() if k != "ResultConfigurationUpdates"} == \
        {k: v for k, v in config.items() if k != "ResultConfiguration"}


def test_a_workgroup_made_from_the_configuration_compares_equal_and_a_changed_setting_does_not():
    """The comparison reads what GetWorkGroup returns for a workgroup created with configuration(): no drift."""
    created = {"Name": PARAMS["name"], "Description": PARAMS["description"],
               "Configuration": {**configuration(PARAMS), "EngineVersion": {
                   "SelectedEngineVersion": PARAMS["engine_version"],
                   "EffectiveEngineVersion": PARAMS["engine_version"]}}}
    assert current_view(created) == wanted_view(PARAMS)
    for change in ({"bytes_scanned_cutoff_per_query": 20 * 1024**3}, {"kms_key": "arn:aws:kms:us-east-1:1:key/o"},
                   {"output_location": "s3://other/athena-results/"}, {"enforce_workgroup_configuration": False}):
        assert current_view(created) != wanted_view({**PARAMS, **change}), change
