#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_buckets
short_description: Ensure a set of private S3 buckets with their settings in one call
description:
  - Makes each bucket of the set exist with exactly the given settings - public access block (all four on),
    object ownership C(BucketOwnerEnforced), default encryption, bucket policy, versioning, tags, lifecycle rules
    and server access logging - in one module run, instead of one amazon.aws.s3_bucket run per bucket and one
    community.aws.s3_lifecycle / s3_logging run per rule.
  - Each setting is read first and written only when it differs, so a re-run with nothing to change sends no
    write call and reports C(changed=false); a setting changed behind the module's back is put back.
  - Access logging is set after every bucket of the set (the target's policy included) is in place, so a bucket
    may log to another bucket of the same set.
  - Buckets not in the set are left alone; nothing is ever deleted but settings the input no longer asks for
    (policy, tags, lifecycle rules, logging). Supports check mode and diff mode.
version_added: 1.3.0
author: clickstream-analytics
options:
  buckets:
    description:
      - The buckets. Each is a dict with C(name) (required); C(encryption) (C(AES256), the default, or
        C(aws:kms)) and C(kms_key_id) (with C(aws:kms); empty for the AWS managed key); C(policy) (a policy
        document as a dict; null or empty for no policy); C(versioning) (true, or false - a versioned bucket is
        then suspended, a never-versioned one left so); C(tags) (a dict, exact); C(lifecycle_rules) (a list,
        exact; null leaves the bucket's rules alone); C(logging) (a dict with C(target_bucket) and
        C(target_prefix); null or absent turns access logging off).
      - A lifecycle rule is a dict with C(id), C(prefix) (default empty), C(status) (C(Enabled), the default, or
        C(Disabled)), and any of C(expiration_days), C(noncurrent_version_expiration_days),
        C(abort_incomplete_multipart_upload_days) and C(transitions) (a list of dicts with C(days) and
        C(storage_class)).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the buckets
  clickstream.platform.s3_buckets:
    buckets:
      - name: shop-raw-123456789012-us-east-1
        versioning: true
        tags: {Name: shop-raw-123456789012-us-east-1}
        lifecycle_rules:
          - {id: raw-retention, expiration_days: 365, transitions: [{days: 30, storage_class: STANDARD_IA}]}
        logging: {target_bucket: shop-logs-123456789012-us-east-1, target_prefix: s3-access/raw/}
      - name: shop-logs-123456789012-us-east-1
        tags: {Name: shop-logs-123456789012-us-east-1}
        lifecycle_rules: [{id: access-logs-retention, expiration_days: 365}]
"""

RETURN = r"""
buckets:
  description: Bucket name -> whether the run changed it (created it or any of its settings; in check mode, would).
  returned: always
  type: dict
  sample: {"shop-raw-123456789012-us-east-1": false}
created:
  description: The buckets the run created (in check mode, would create).
  returned: always
  type: list
  elements: str
actions:
  description: What the run changed (in check mode, would change), one line each.
  returned: always
  type: list
  elements: str
"""

import json
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.clickstream.platform.plugins.module_utils.boto3_resource import Boto3Resource

ARGUMENT_SPEC = dict(buckets=dict(type="list", elements="dict", required=True))
BUCKET_KEYS = {"name", "encryption", "kms_key_id", "policy", "versioning", "tags", "lifecycle_rules", "logging"}
RULE_KEYS = {"id", "prefix", "status", "expiration_days", "noncurrent_version_expiration_days",
             "abort_incomplete_multipart_upload_days", "transitions"}
ENCRYPTIONS = ("AES256", "aws:kms")
PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}
OWNERSHIP = "BucketOwnerEnforced"
# The parts of an S3 lifecycle rule this module writes; any other part found on a rule is drift.
KNOWN_RULE_PARTS = {"ID", "Filter", "Prefix", "Status", "Expiration", "NoncurrentVersionExpiration",
                    "AbortIncompleteMultipartUpload", "Transitions"}


def check_input(buckets: list[Any]) -> list[str]:
    """What is wrong with the input (nothing: an empty list), checked before any AWS call."""
    problems = []
    names = [b.get("name") for b in buckets if isinstance(b, dict)]
    for i, bucket in enumerate(buckets):
        if not isinstance(bucket, dict) or not bucket.get("name"):
            problems.append(f"buckets[{i}]: needs a name")
            continue
        where = f"bucket {bucket['name']}"
        if set(bucket) - BUCKET_KEYS:
            problems.append(f"{where}: unknown option(s) {', '.join(sorted(set(bucket) - BUCKET_KEYS))}")
        if (bucket.get("encryption") or "AES256") not in ENCRYPTIONS:
            problems.append(f"{where}: encryption must be one of {', '.join(ENCRYPTIONS)}")
        if bucket.get("policy") and not isinstance(bucket["policy"], dict):
            problems.append(f"{where}: policy must be a dict (a policy document)")
        logging = bucket.get("logging")
        if logging and (not isinstance(logging, dict) or not logging.get("target_bucket")):
            problems.append(f"{where}: logging needs a target_bucket")
        rules = bucket.get("lifecycle_rules")
        ids = []
        for j, rule in enumerate(rules or []):
            if not isinstance(rule, dict) or not rule.get("id"):
                problems.append(f"{where} lifecycle_rules[{j}]: needs an id")
                continue
            ids.append(rule["id"])
            if set(rule) - RULE_KEYS:
                problems.append(f"{where} lifecycle rule {rule['id']}: unknown option(s) "
                                f"{', '.join(sorted(set(rule) - RULE_KEYS))}")
            if rule.get("status", "Enabled") not in ("Enabled", "Disabled"):
                problems.append(f"{where} lifecycle rule {rule['id']}: status must be Enabled or Disabled")
            if not any(rule.get(k) for k in RULE_KEYS - {"id", "prefix", "status"}):
                problems.append(f"{where} lifecycle rule {rule['id']}: needs an action (expiration_days, "
                                "noncurrent_version_expiration_days, abort_incomplete_multipart_upload_days or "
                                "transitions)")
        if len(set(ids)) != len(ids):
            problems.append(f"{where}: lifecycle rule ids given twice")
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        problems.append(f"bucket names given twice: {', '.join(duplicates)}")
    return problems


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """One input rule as the S3 API's rule."""
    out: dict[str, Any] = {"ID": str(rule["id"]), "Filter": {"Prefix": str(rule.get("prefix") or "")},
                           "Status": rule.get("status") or "Enabled"}
    if rule.get("expiration_days"):
        out["Expiration"] = {"Days": int(rule["expiration_days"])}
    if rule.get("noncurrent_version_expiration_days"):
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["noncurrent_version_expiration_days"])}
    if rule.get("abort_incomplete_multipart_upload_days"):
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["abort_incomplete_multipart_upload_days"])}
    if rule.get("transitions"):
        out["Transitions"] = [{"Days": int(t["days"]), "StorageClass": str(t["storage_class"])}
                              for t in rule["transitions"]]
    return out


def rule_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    """An S3 API rule (written by this module or read back from S3) as a comparable tuple."""
    prefix = (rule["Filter"] or {}).get("Prefix", "") if "Filter" in rule else rule.get("Prefix", "")
    filter_other = sorted(k for k in (rule.get("Filter") or {}) if k != "Prefix")
    return (rule.get("ID"), prefix or "", rule.get("Status"),
            (rule.get("Expiration") or {}).get("Days"),
            (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
            (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
            tuple(sorted((t.get("Days"), t.get("StorageClass")) for t in rule.get("Transitions") or [])),
            tuple(filter_other), tuple(sorted(set(rule) - KNOWN_RULE_PARTS)))


def encryption_rule(bucket: dict[str, Any]) -> dict[str, Any]:
    """The bucket's default encryption as the S3 API's ApplyServerSideEncryptionByDefault."""
    algorithm = bucket.get("encryption") or "AES256"
    out = {"SSEAlgorithm": algorithm}
    if algorithm == "aws:kms" and bucket.get("kms_key_id"):
        out["KMSMasterKeyID"] = str(bucket["kms_key_id"])
    return out


class S3Buckets(Boto3Resource):
    failure_msg = "{method} failed (S3 buckets)"

    def read(self, method: str, name: str, missing: str) -> Any:
        """``method(Bucket=name)``, None when S3 answers ``missing`` (the setting is not set)."""
        return self.call(method, none_on=(missing,), Bucket=name)

    def set_if(self, name: str, what: str, differs: bool, before: Any, after: Any, method: str,
               **kwargs: Any) -> None:
        if differs:
            self.before.setdefault(name, {})[what] = before
            self.after.setdefault(name, {})[what] = after
            self.change(f"{what} of {name}", method, Bucket=name, **kwargs)

    def create(self, bucket: dict[str, Any]) -> None:
        name = bucket["name"]
        region = self.module.region
        config = {} if region in (None, "", "us-east-1") else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}
        self.change(f"create bucket {name}", "create_bucket", Bucket=name, ObjectOwnership=OWNERSHIP, **config)
        if not self.check:
            self.client.get_waiter("bucket_exists").wait(Bucket=name)

    def converge(self, bucket: dict[str, Any], new: bool) -> None:
        """Every setting but logging; on a bucket just created (or, in check mode, to be created), no reads."""
        name = bucket["name"]
        if new and self.check:
            return
        fresh = new  # a new bucket has no public access block, policy, tags, lifecycle; its ownership is set

        block = None if fresh else (self.read("get_public_access_block", name, "NoSuchPublicAccessBlockConfiguration")
                                    or {}).get("PublicAccessBlockConfiguration")
        self.set_if(name, "public access block", block != PUBLIC_ACCESS_BLOCK, block, PUBLIC_ACCESS_BLOCK,
                    "put_public_access_block", PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)

        if not fresh:
            ownership = [r.get("ObjectOwnership") for r in ((self.read(
                "get_bucket_ownership_controls", name, "OwnershipControlsNotFoundError") or {}).get(
                "OwnershipControls") or {}).get("Rules", [])]
            self.set_if(name, "object ownership", ownership != [OWNERSHIP], ownership, [OWNERSHIP],
                        "put_bucket_ownership_controls",
                        OwnershipControls={"Rules": [{"ObjectOwnership": OWNERSHIP}]})

        want_sse = encryption_rule(bucket)
        rules = ((self.read("get_bucket_encryption", name, "ServerSideEncryptionConfigurationNotFoundError")
                  or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules", [])
        have_sse = [{k: v for k, v in (r.get("ApplyServerSideEncryptionByDefault") or {}).items()
                     if k in ("SSEAlgorithm", "KMSMasterKeyID")} for r in rules]
        self.set_if(name, "encryption", have_sse != [want_sse], have_sse, [want_sse], "put_bucket_encryption",
                    ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": want_sse}]})

        want_policy = bucket.get("policy") or None
        answer = None if fresh else self.read("get_bucket_policy", name, "NoSuchBucketPolicy")
        have_policy = json.loads(answer["Policy"]) if answer and answer.get("Policy") else None
        if want_policy and (not have_policy or compare_policies(have_policy, want_policy)):
            self.set_if(name, "policy", True, have_policy, want_policy, "put_bucket_policy",
                        Policy=json.dumps(want_policy))
        elif not want_policy and have_policy:
            self.set_if(name, "policy", True, have_policy, None, "delete_bucket_policy")

        if bucket.get("versioning") is not None:
            status = None if fresh else self.call("get_bucket_versioning", Bucket=name).get("Status")
            wanted = "Enabled" if bucket["versioning"] else ("Suspended" if status else None)
            self.set_if(name, "versioning", status != wanted, status, wanted, "put_bucket_versioning",
                        VersioningConfiguration={"Status": wanted})

        want_tags = {str(k): str(v) for k, v in (bucket.get("tags") or {}).items()}
        have_tags = {} if fresh else boto3_tag_list_to_ansible_dict(
            (self.read("get_bucket_tagging", name, "NoSuchTagSet") or {}).get("TagSet", []))
        if have_tags != want_tags:
            if want_tags:
                self.set_if(name, "tags", True, have_tags, want_tags, "put_bucket_tagging",
                            Tagging={"TagSet": ansible_dict_to_boto3_tag_list(want_tags)})
            else:
                self.set_if(name, "tags", True, have_tags, want_tags, "delete_bucket_tagging")

        if bucket.get("lifecycle_rules") is not None:
            want_rules = [lifecycle_rule(r) for r in bucket["lifecycle_rules"]]
            have_rules = [] if fresh else (self.read("get_bucket_lifecycle_configuration", name,
                                                     "NoSuchLifecycleConfiguration") or {}).get("Rules", [])
            if sorted(map(rule_key, have_rules), key=str) != sorted(map(rule_key, want_rules), key=str):
                if want_rules:
                    self.set_if(name, "lifecycle rules", True, have_rules, want_rules,
                                "put_bucket_lifecycle_configuration", LifecycleConfiguration={"Rules": want_rules})
                else:
                    self.set_if(name, "lifecycle rules", True, have_rules, [], "delete_bucket_lifecycle")

    def converge_logging(self, bucket: dict[str, Any], new: bool) -> None:
        name = bucket["name"]
        logging = bucket.get("logging") or None
        want = {"TargetBucket": logging["target_bucket"], "TargetPrefix": str(logging.get("target_prefix") or "")} \
            if logging else None
        if new and self.check:
            if want:
                self.after.setdefault(name, {})["logging"] = want
                self.actions.append(f"logging of {name}")
            return
        have = None if new else self.call("get_bucket_logging", Bucket=name).get("LoggingEnabled")
        have = {k: have.get(k) or "" for k in ("TargetBucket", "TargetPrefix")} if have else None
        self.set_if(name, "logging", have != want, have, want, "put_bucket_logging",
                    BucketLoggingStatus={"LoggingEnabled": want} if want else {})

    def run(self) -> dict[str, Any]:
        buckets: list[dict[str, Any]] = self.module.params["buckets"]
        problems = check_input(buckets)
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        existing = {b["Name"] for b in self.call("list_buckets").get("Buckets", [])}
        created = []
        for bucket in buckets:
            if bucket["name"] not in existing:
                created.append(bucket["name"])
                self.create(bucket)
            self.converge(bucket, bucket["name"] in created)
        for bucket in buckets:
            self.converge_logging(bucket, bucket["name"] in created)
        changed = {b["name"]: b["name"] in created or b["name"] in self.after or b["name"] in self.before
                   for b in buckets}
        return {"buckets": changed, "created": created}


def run(module: Any, client: Any) -> dict[str, Any]:
    """The module's result, from ``client`` (an s3 client with the aws_retry wrapper)."""
    manager = S3Buckets(module, client)
    return manager.result(manager.run())


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module, module.client("s3", retry_decorator=AWSRetry.jittered_backoff())))


if __name__ == "__main__":
    main()
