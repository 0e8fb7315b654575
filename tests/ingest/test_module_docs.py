"""The collection modules of the ingest path document themselves (ansible-doc parses their YAML)."""

from __future__ import annotations

import pytest

from scripts.harness.ansible import REPO, ansible_doc


@pytest.mark.parametrize("module", ["apigatewayv2_api", "lambda_concurrency"])
def test_ansible_doc(module):
    doc = ansible_doc(module)["doc"]
    assert all(isinstance(line, str) for line in doc["description"])
    assert "region" in doc["options"] and "endpoint_url" in doc["options"]  # the amazon.aws fragments


def test_modules_are_in_the_aws_action_group():
    import yaml

    path = REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml"
    runtime = yaml.safe_load(path.read_text())
    names = {entry for entry in runtime["action_groups"]["aws"] if isinstance(entry, str)}  # beside its metadata
    assert {"apigatewayv2_api", "lambda_concurrency"} <= names
