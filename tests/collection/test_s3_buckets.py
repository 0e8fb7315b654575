"""clickstream.platform.s3_buckets: a set of private buckets and all their settings in one module run.
Pure helpers and input checks as unit tests; the module itself against a real moto server (check mode first, then
for real, then a second run that changes nothing, then drift made behind its back and put back)."""

from __future__ import annotations

import json
import uuid

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.clickstream.platform.plugins.modules import s3_buckets as mod

from tests.identity.stubbed import FakeModule, ModuleFailed, params


def test_a_lifecycle_rule_reads_back_as_the_same_key():
    rule = {"id": "r", "expiration_days": "365", "noncurrent_version_expiration_days": 30,
            "abort_incomplete_multipart_upload_days": 7, "transitions": [{"days": 30, "storage_class": "STANDARD_IA"}]}
    api = mod.lifecycle_rule(rule)
    assert api == {"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 365},
                   "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                   "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                   "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]}
    # S3's legacy form (a top-level Prefix) is the same rule; another part or another filter is not.
    legacy = {k: v for k, v in api.items() if k != "Filter"} | {"Prefix": ""}
    assert mod.rule_key(legacy) == mod.rule_key(api)
    assert mod.rule_key(api | {"NoncurrentVersionTransitions": []}) != mod.rule_key(api)
    assert mod.rule_key(api | {"Filter": {"Prefix": "", "Tag": {"Key": "a", "Value": "b"}}}) != mod.rule_key(api)
    assert mod.rule_key(api | {"Expiration": {"Days": 30}}) != mod.rule_key(api)


@pytest.mark.parametrize(("buckets", "message"), [
    ([{"versioning": True}], "buckets[0]: needs a name"),
    ([{"name": "a", "acl": "private"}], "unknown option(s) acl"),
    ([{"name": "a", "encryption": "DES"}], "encryption must be one of"),
    ([{"name": "a", "policy": "{}"}], "policy must be a dict"),
    ([{"name": "a", "logging": {"target_prefix": "x/"}}], "logging needs a target_bucket"),
    ([{"name": "a", "lifecycle_rules": [{"id": "r"}]}], "lifecycle rule r: needs an action"),
    ([{"name": "a", "lifecycle_rules": [{"id": "r", "expiration_days": 1, "status": "on"}]}], "status must be"),
    ([{"name": "a", "lifecycle_rules": [{"id": "r", "expiration_days": 1}, {"id": "r", "expiration_days": 2}]}],
     "lifecycle rule ids given twice"),
    ([{"name": "a"}, {"name": "a"}], "bucket names given twice: a"),
])
def test_bad_input_is_refused_before_any_call(buckets, message):
    with pytest.raises(ModuleFailed) as failed:
        mod.run(FakeModule(params(mod.ARGUMENT_SPEC, buckets=buckets)), client=None)
    assert message in failed.value.result["msg"]


@pytest.fixture
def s3(moto_server):
    return RetryingBotoClientWrapper(moto_server.client("s3"), AWSRetry.jittered_backoff(retries=1))


def ensure(s3, buckets: list, check_mode: bool = False) -> dict:
    module = FakeModule(params(mod.ARGUMENT_SPEC, buckets=buckets), check_mode=check_mode)
    module._diff = True
    return mod.run(module, s3)


def the_set(tag: str) -> list:
    """A versioned data bucket with a policy, lifecycle rules and access logs to a second bucket of the set, listed
    after it (logging is set once every bucket exists)."""
    data, logs = f"data-{tag}", f"logs-{tag}"
    deny = {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{data}", f"arn:aws:s3:::{data}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    return [
        {"name": data, "versioning": True, "policy": deny, "tags": {"Name": data, "Env": "t"},
         "lifecycle_rules": [{"id": "retention", "expiration_days": 365, "noncurrent_version_expiration_days": 30,
                              "transitions": [{"days": 30, "storage_class": "STANDARD_IA"}]},
                             {"id": "uploads", "prefix": "tmp/", "abort_incomplete_multipart_upload_days": 7}],
         "logging": {"target_bucket": logs, "target_prefix": "s3-access/data/"}},
        # BucketOwnerEnforced: the logging service may write only through the bucket policy.
        {"name": logs, "versioning": False, "tags": {"Name": logs}, "policy": {"Version": "2012-10-17", "Statement": [{
            "Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"], "Resource": f"arn:aws:s3:::{logs}/s3-access/data/*"}]},
         "lifecycle_rules": [{"id": "logs", "expiration_days": 90}]},
    ]


def state(s3, name: str) -> dict:
    """Everything the module manages on a bucket, read back."""
    def get(method: str, key: str, missing: str):
        try:
            return getattr(s3, method)(Bucket=name).get(key)
        except s3.client.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == missing, e
            return None
    policy = get("get_bucket_policy", "Policy", "NoSuchBucketPolicy")
    return {
        "block": get("get_public_access_block", "PublicAccessBlockConfiguration",
                     "NoSuchPublicAccessBlockConfiguration"),
        "ownership": get("get_bucket_ownership_controls", "OwnershipControls", "OwnershipControlsNotFoundError"),
        "sse": [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in get(
            "get_bucket_encryption", "ServerSideEncryptionConfiguration",
            "ServerSideEncryptionConfigurationNotFoundError")["Rules"]],
        "policy": json.loads(policy) if policy else None,
        "versioning": s3.get_bucket_versioning(Bucket=name).get("Status"),
        "tags": {t["Key"]: t["Value"] for t in get("get_bucket_tagging", "TagSet", "NoSuchTagSet") or []},
        "rules": sorted(map(mod.rule_key, get("get_bucket_lifecycle_configuration", "Rules",
                                              "NoSuchLifecycleConfiguration") or []), key=str),
        "logging": s3.get_bucket_logging(Bucket=name).get("LoggingEnabled"),
    }


def test_check_mode_then_create_then_nothing_then_drift_put_back(moto_server, s3):
    tag = uuid.uuid4().hex[:8]
    wanted = the_set(tag)
    data, logs = f"data-{tag}", f"logs-{tag}"

    planned = ensure(s3, wanted, check_mode=True)
    assert planned["changed"] is True and planned["created"] == [data, logs]
    assert planned["buckets"] == {data: True, logs: True}
    assert f"logging of {data}" in planned["actions"]
    assert not {data, logs} & {b["Name"] for b in s3.list_buckets()["Buckets"]}, "check mode created a bucket"

    made = ensure(s3, wanted)
    assert made["changed"] is True and made["created"] == [data, logs]
    got = state(s3, data)
    assert got["block"] == mod.PUBLIC_ACCESS_BLOCK
    assert got["ownership"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert got["sse"] == ["AES256"] and got["versioning"] == "Enabled"
    assert got["policy"]["Statement"][0]["Sid"] == "DenyInsecureTransport"
    assert got["tags"] == {"Name": data, "Env": "t"}
    assert got["rules"] == sorted((mod.rule_key(mod.lifecycle_rule(r)) for r in wanted[0]["lifecycle_rules"]),
                                  key=str)
    assert (got["logging"]["TargetBucket"], got["logging"]["TargetPrefix"]) == (logs, "s3-access/data/")
    got_logs = state(s3, logs)
    assert got_logs["versioning"] is None and got_logs["logging"] is None
    assert got_logs["block"] == mod.PUBLIC_ACCESS_BLOCK

    again = ensure(s3, wanted)
    assert again["changed"] is False and again["actions"] == [] and again["created"] == []
    assert ensure(s3, wanted, check_mode=True)["changed"] is False

    # Drift behind the module's back, on every setting of the data bucket, and versioning turned on for the logs.
    s3.delete_public_access_block(Bucket=data)
    s3.put_bucket_ownership_controls(Bucket=data, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_bucket_encryption(Bucket=data, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    s3.delete_bucket_policy(Bucket=data)
    s3.put_bucket_versioning(Bucket=data, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_tagging(Bucket=data, Tagging={"TagSet": [{"Key": "Name", "Value": data},
                                                           {"Key": "Extra", "Value": "x"}]})
    s3.put_bucket_lifecycle_configuration(Bucket=data, LifecycleConfiguration={"Rules": [
        {"ID": "retention", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}]})
    s3.put_bucket_logging(Bucket=data, BucketLoggingStatus={})
    s3.put_bucket_versioning(Bucket=logs, VersioningConfiguration={"Status": "Enabled"})
    drifted = state(s3, data)

    seen = ensure(s3, wanted, check_mode=True)
    assert seen["buckets"] == {data: True, logs: True}
    assert sorted(seen["diff"]["before"][data]) == sorted([
        "public access block", "object ownership", "encryption", "policy", "versioning", "tags", "lifecycle rules",
        "logging"])
    assert seen["diff"]["after"][logs] == {"versioning": "Suspended"}
    assert state(s3, data) == drifted, "check mode put the drift back"

    fixed = ensure(s3, wanted)
    assert fixed["buckets"] == {data: True, logs: True}
    assert state(s3, data) == got
    assert state(s3, logs)["versioning"] == "Suspended"
    assert ensure(s3, wanted)["changed"] is False

    # Settings the input no longer asks for are removed: no policy, no tags, no lifecycle rules, no logging.
    bare = [{"name": data, "versioning": True, "lifecycle_rules": []}, wanted[1]]
    cleared = ensure(s3, bare)
    assert cleared["buckets"] == {data: True, logs: False}
    now = state(s3, data)
    assert (now["policy"], now["tags"], now["rules"], now["logging"]) == (None, {}, [], None)
    assert ensure(s3, bare)["changed"] is False
    # lifecycle_rules absent (null): the bucket's rules are left alone.
    s3.put_bucket_lifecycle_configuration(Bucket=data, LifecycleConfiguration={"Rules": [
        {"ID": "other", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 3}}]})
    assert ensure(s3, [{"name": data, "versioning": True}, wanted[1]])["changed"] is False


def test_ansible_doc_and_the_aws_action_group():
    import yaml

    from scripts.harness.ansible import REPO, ansible_doc

    doc = ansible_doc("s3_buckets")
    assert "region" in doc["doc"]["options"] and "endpoint_url" in doc["doc"]["options"]
    assert set(mod.ARGUMENT_SPEC) <= set(doc["doc"]["options"])
    assert yaml.safe_load(doc["examples"])
    runtime = yaml.safe_load((REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml")
                             .read_text())
    assert "s3_buckets" in runtime["action_groups"]["aws"]
