"""docs/openapi.yaml and docs/event-contract.md are kept in step with the handler's codes and schema."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from clickstream_ingest.contract import REJECTION_REASONS, SCHEMA_PATH
from clickstream_ingest.request import REQUEST_ERRORS, SERVER_ERRORS
from jsonschema import Draft202012Validator

from scripts.harness.ansible import REPO

OPENAPI = yaml.safe_load((REPO / "docs/openapi.yaml").read_text())
CONTRACT = (REPO / "docs/event-contract.md").read_text()


def test_error_codes_and_statuses_match_the_handler():
    error = OPENAPI["components"]["schemas"]["Error"]["properties"]["error"]
    codes = {**REQUEST_ERRORS, **SERVER_ERRORS}
    assert set(error["enum"]) == set(codes)
    assert error["x-status"] == codes
    responses = OPENAPI["paths"]["/clickstream"]["post"]["responses"]
    assert {str(s) for s in codes.values()} | {"200"} == set(responses)


def test_rejection_reasons_match_the_handler():
    assert OPENAPI["components"]["schemas"]["RejectionReason"]["enum"] == list(REJECTION_REASONS)
    for reason in REJECTION_REASONS:
        assert f"`{reason}`" in CONTRACT, reason
    for code in {**REQUEST_ERRORS, **SERVER_ERRORS}:
        assert f"`{code}`" in CONTRACT, code


def test_request_schema_is_the_handlers_file():
    ref = OPENAPI["paths"]["/clickstream"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert (REPO / "docs" / ref).resolve() == Path(SCHEMA_PATH).resolve()
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    assert Draft202012Validator(schema).is_valid({"events": [{"anything": 1}]})


def test_documented_example_batch_is_valid():
    start = CONTRACT.index('{"events": [\n')
    end = CONTRACT.index("```", start)
    example = json.loads(CONTRACT[start:end])
    schema = json.loads(SCHEMA_PATH.read_text())
    event_validator = Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/event"})
    for event in example["events"]:
        assert event_validator.is_valid(event), list(event_validator.iter_errors(event))
