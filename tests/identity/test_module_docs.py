"""The Cognito and Amplify modules document themselves (ansible-doc parses their YAML), document every option
their argument spec takes, and are in the collection's aws action group (so module_defaults reach them)."""

from __future__ import annotations

import importlib

import pytest
import yaml

from scripts.harness.ansible import REPO, ansible_doc

MODULES = ["cognito_user_pool", "cognito_user_pool_client", "amplify_app", "amplify_branch"]


def _doc_options(options: dict) -> dict:
    return {name: _doc_options(opt.get("suboptions") or {}) for name, opt in options.items()}


def _spec_options(spec: dict) -> dict:
    return {name: _spec_options(opt.get("options") or {}) for name, opt in spec.items()}


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_matches_the_argument_spec(module):
    doc = ansible_doc(module)
    assert "region" in doc["doc"]["options"] and "endpoint_url" in doc["doc"]["options"]
    assert yaml.safe_load(doc["examples"])  # the examples are YAML
    spec = importlib.import_module(f"ansible_collections.clickstream.platform.plugins.modules.{module}").ARGUMENT_SPEC
    documented = _doc_options(doc["doc"]["options"])
    for name, sub in _spec_options(spec).items():
        assert name in documented, f"{module}: option {name} is not documented"
        assert set(sub) <= set(documented[name]), f"{module}: suboptions of {name} are not all documented"


def test_modules_are_in_the_aws_action_group():
    path = REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml"
    runtime = yaml.safe_load(path.read_text())
    # the module names; the group's metadata entry (extend_group: amazon.aws's and community.aws's) is a mapping
    group = [entry for entry in runtime["action_groups"]["aws"] if isinstance(entry, str)]
    assert set(MODULES) <= set(group)
    assert len(group) == len(set(group)), "an action group entry appears twice"
