"""The collection's tagged modules take and document tags as amazon.aws's modules do: the amazon.aws.tags doc
fragment, its options (tags with the alias resource_tags, purge_tags) and amazon.aws's compare_aws_tags."""

from __future__ import annotations

import importlib
import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.module_utils.tags import (
    TAG_OPTIONS,
    tag_changes,
    tags_after,
)

from scripts.harness.ansible import ansible_doc
from tests.identity.stubbed import FakeModule, params

TAGGED = ["amplify_app", "amplify_branch", "apigatewayv2_api", "cognito_user_pool"]


def _module(name: str):
    return importlib.import_module(f"ansible_collections.clickstream.platform.plugins.modules.{name}")


@pytest.mark.parametrize("name", TAGGED)
def test_tags_are_documented_by_the_amazon_aws_fragment(name):
    module = _module(name)
    assert "  - amazon.aws.tags\n" in module.DOCUMENTATION
    assert "\n  tags:\n" not in module.DOCUMENTATION and "\n  purge_tags:\n" not in module.DOCUMENTATION
    options = ansible_doc(name)["doc"]["options"]
    assert options["tags"]["aliases"] == ["resource_tags"] and options["tags"]["type"] == "dict"
    assert options["purge_tags"]["default"] is True
    assert any("reserved by Amazon" in line for line in options["purge_tags"]["description"])
    spec = getattr(module, "ARGUMENT_SPEC", None)
    if spec is not None:
        assert {k: spec[k] for k in TAG_OPTIONS} == TAG_OPTIONS


def test_tag_changes_follow_compare_aws_tags():
    current = {"Project": "old", "Stale": "x", "aws:cloudformation:stack": "s", "clickstream:own": "m"}
    to_set, to_remove = tag_changes(current, {"Project": "new", "Count": 3}, True, keep=("clickstream:own",))
    assert to_set == {"Project": "new", "Count": "3"} and to_remove == ["Stale"]
    assert tag_changes(current, {"Project": "old"}, False) == ({}, [])
    assert tag_changes(current, None, True) == ({}, [])
    assert tags_after(current, {"New": True}, False) == {**current, "New": "True"}
    assert tags_after(current, {"Project": "old"}, True, keep=("clickstream:own",)) == {
        "Project": "old", "aws:cloudformation:stack": "s", "clickstream:own": "m"}


def test_user_pool_tags_on_the_emulator(moto_server):
    """cognito_user_pool against moto: unset tags leave the pool's tags alone; purge_tags=false only adds."""
    mod = _module("cognito_user_pool")
    client = moto_server.client("cognito-idp")
    name = f"tags-{uuid.uuid4().hex[:8]}"

    def ensure(**given):
        module = FakeModule(params(mod.ARGUMENT_SPEC, name=name, **given))
        manager = mod.UserPool(module, RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff()))
        manager.ensure()
        pool_id = next(p["Id"] for p in client.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == name)
        return manager.actions, client.describe_user_pool(UserPoolId=pool_id)["UserPool"].get("UserPoolTags", {})

    actions, tags = ensure(tags={"Project": "clickstream", "Owner": "team"})
    assert actions == ["create pool"] and tags == {"Project": "clickstream", "Owner": "team"}
    assert ensure() == ([], {"Project": "clickstream", "Owner": "team"})
    actions, tags = ensure(tags={"Cost": 12}, purge_tags=False)
    assert actions == ["update pool: tags"] and tags == {"Project": "clickstream", "Owner": "team", "Cost": "12"}
    actions, tags = ensure(tags={"Project": "clickstream"})
    assert actions == ["update pool: tags"] and tags == {"Project": "clickstream"}
    assert ensure(tags={"Project": "clickstream"})[0] == []
