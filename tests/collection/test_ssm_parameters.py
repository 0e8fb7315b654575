"""ssm_parameters (a set of SSM parameters in one module run, missing secrets generated once) against a real moto
server: check mode writes nothing, a second run writes nothing, a changed value / tag / description is put back,
an existing password is kept."""

from __future__ import annotations

import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.modules import ssm_parameters

from tests.identity.stubbed import FakeModule, ModuleFailed, params


@pytest.fixture
def ssm(moto_server):
    return RetryingBotoClientWrapper(moto_server.client("ssm"), AWSRetry.jittered_backoff(retries=1))


def ensure(ssm, check: bool = False, **given):
    module = FakeModule(params(ssm_parameters.ARGUMENT_SPEC, **given), check_mode=check)
    return ssm_parameters.run(module, ssm)


def test_generates_once_keeps_given_and_check_mode_writes_nothing(ssm):
    prefix = f"/t{uuid.uuid4().hex[:8]}"
    wanted = {"parameters": [
        {"name": f"{prefix}/owner", "description": "Database password managed by Ansible"},
        {"name": f"{prefix}/app", "value": "given-secret"},
        {"name": f"{prefix}/url", "value": "postgresql://x", "type": "String"},
    ], "tags": {"Project": "t"}, "generate_length": 24}

    check = ensure(ssm, check=True, **wanted)
    assert check["changed"] and sorted(check["written"]) == sorted(p["name"] for p in wanted["parameters"])
    assert list(check["values"]) == [f"{prefix}/owner"] and len(check["values"][f"{prefix}/owner"]) == 24
    assert ssm.get_parameters(Names=[f"{prefix}/owner"])["InvalidParameters"] == [f"{prefix}/owner"]

    first = ensure(ssm, **wanted)
    password = first["values"][f"{prefix}/owner"]
    assert first["changed"] and password.isalnum() and len(password) == 24
    stored = ssm.get_parameter(Name=f"{prefix}/owner", WithDecryption=True)["Parameter"]
    assert stored["Value"] == password and stored["Type"] == "SecureString"
    assert ssm.get_parameter(Name=f"{prefix}/url")["Parameter"]["Type"] == "String"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{prefix}/app")["TagList"]
    assert tags == [{"Key": "Project", "Value": "t"}]

    second = ensure(ssm, **wanted)
    assert second == {"changed": False, "values": {f"{prefix}/owner": password}, "written": []}
    assert ensure(ssm, check=True, **wanted)["changed"] is False


def test_drift_in_value_tags_and_description_is_put_back(ssm):
    prefix = f"/t{uuid.uuid4().hex[:8]}"
    wanted = {"parameters": [{"name": f"{prefix}/app", "value": "given", "description": "d1"},
                             {"name": f"{prefix}/owner"}], "tags": {"Project": "t"}}
    ensure(ssm, **wanted)
    ssm.put_parameter(Name=f"{prefix}/app", Value="tampered", Type="SecureString", Overwrite=True)
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=f"{prefix}/owner", Tags=[{"Key": "x", "Value": "y"}])
    check = ensure(ssm, check=True, **wanted)
    assert sorted(check["written"]) == [f"{prefix}/app", f"{prefix}/owner"]
    assert ssm.get_parameter(Name=f"{prefix}/app", WithDecryption=True)["Parameter"]["Value"] == "tampered"
    fixed = ensure(ssm, **wanted)
    assert sorted(fixed["written"]) == [f"{prefix}/app", f"{prefix}/owner"]
    assert ssm.get_parameter(Name=f"{prefix}/app", WithDecryption=True)["Parameter"]["Value"] == "given"
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{prefix}/owner")["TagList"] == [
        {"Key": "Project", "Value": "t"}]
    changed_description = {**wanted, "parameters": [{"name": f"{prefix}/app", "value": "given",
                                                     "description": "d2"}]}
    assert ensure(ssm, **changed_description)["written"] == [f"{prefix}/app"]
    assert ensure(ssm, **changed_description)["changed"] is False


def test_an_existing_password_is_kept(ssm):
    name = f"/t{uuid.uuid4().hex[:8]}/owner"
    ssm.put_parameter(Name=name, Value="made-before", Type="SecureString")
    result = ensure(ssm, parameters=[{"name": name}])
    assert result["values"] == {name: "made-before"} and result["written"] == []


def test_more_than_one_page_of_names(ssm):
    prefix = f"/t{uuid.uuid4().hex[:8]}"
    wanted = {"parameters": [{"name": f"{prefix}/p{i}"} for i in range(23)]}
    first = ensure(ssm, **wanted)
    assert len(first["written"]) == 23 and len(set(first["values"].values())) == 23
    assert ensure(ssm, **wanted) == {"changed": False, "values": first["values"], "written": []}


def test_a_name_given_twice_is_an_error(ssm):
    with pytest.raises(ModuleFailed, match="named twice"):
        ensure(ssm, parameters=[{"name": "/a"}, {"name": "/a"}])


def test_value_from_makes_a_url_from_a_password_of_the_same_run_and_follows_it(ssm):
    """DATABASE_URL in the same run as the password it holds: generated on the first run, kept on the second, and
    rewritten when the password changes or the URL drifts; the password URL-encoded as the urlencode filter does."""
    prefix = f"/t{uuid.uuid4().hex[:8]}"
    template = "postgresql://app:@@PASSWORD@@@db:5432/shop?sslmode=require"

    def wanted(password=None):
        return {"parameters": [
            {"name": f"{prefix}/app", **({"value": password} if password else {})},
            {"name": f"{prefix}/url", "value_from": {"parameter": f"{prefix}/app", "template": template,
                                                    "placeholder": "@@PASSWORD@@"}},
        ]}

    check = ensure(ssm, check=True, **wanted())
    assert sorted(check["written"]) == [f"{prefix}/app", f"{prefix}/url"]
    assert ssm.get_parameters(Names=[f"{prefix}/url"])["InvalidParameters"] == [f"{prefix}/url"]

    first = ensure(ssm, **wanted())
    password = first["values"][f"{prefix}/app"]
    assert list(first["values"]) == [f"{prefix}/app"]  # the URL is no generated value
    url = ssm.get_parameter(Name=f"{prefix}/url", WithDecryption=True)["Parameter"]
    assert url["Value"] == f"postgresql://app:{password}@db:5432/shop?sslmode=require"
    assert url["Type"] == "SecureString"
    assert ensure(ssm, **wanted())["written"] == []

    ssm.put_parameter(Name=f"{prefix}/url", Value="postgresql://stale", Type="SecureString", Overwrite=True)
    assert ensure(ssm, **wanted())["written"] == [f"{prefix}/url"]
    assert ssm.get_parameter(Name=f"{prefix}/url", WithDecryption=True)["Parameter"]["Value"] == url["Value"]

    given = ensure(ssm, **wanted("p@ss/wd:1"))
    assert sorted(given["written"]) == [f"{prefix}/app", f"{prefix}/url"]
    assert ssm.get_parameter(Name=f"{prefix}/url", WithDecryption=True)["Parameter"]["Value"] == (
        "postgresql://app:p%40ss/wd%3A1@db:5432/shop?sslmode=require")


def test_value_from_must_name_an_earlier_parameter_and_excludes_value(ssm):
    prefix = f"/t{uuid.uuid4().hex[:8]}"
    later = {"parameters": [{"name": f"{prefix}/url", "value_from": {"parameter": f"{prefix}/app", "template": "x"}},
                            {"name": f"{prefix}/app"}]}
    with pytest.raises(ModuleFailed, match="not a parameter listed before it"):
        ensure(ssm, **later)
    both = {"parameters": [{"name": f"{prefix}/app"},
                           {"name": f"{prefix}/url", "value": "v",
                            "value_from": {"parameter": f"{prefix}/app", "template": "x"}}]}
    with pytest.raises(ModuleFailed, match="both value and value_from"):
        ensure(ssm, **both)
    assert ssm.get_parameters(Names=[f"{prefix}/app"])["InvalidParameters"] == [f"{prefix}/app"]
