"""All-or-nothing ingest under its real permissions (issue 19): the handler deletes what it wrote when a request
fails half-way, so Lambda Ingest's role must allow that delete on the prefixes it writes, and nowhere else.

The emulator enforces IAM here: a moto server of its own with INITIAL_NO_AUTH_ACTION_COUNT lets the first
requests (an admin user and its key) through unauthenticated and checks every later request against IAM
policies. The role's policy is the one the iam role renders (roles/iam/vars/main.yml); its copy trusts the admin
user instead of lambda.amazonaws.com (a user cannot assume a role that trusts only the service), and the
handler's S3 store runs on the credentials of that role.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from clickstream_ingest.config import Settings
from clickstream_ingest.storage import S3Store, StorageError

from scripts.harness.ansible import run_playbook
from scripts.harness.moto import MotoServer

pytestmark = pytest.mark.integration

PLAYBOOK = "tests/ingest/playbooks/render_ingest_policy.yml"
BUCKET = f"perm-raw-{uuid.uuid4().hex[:8]}"
ACCOUNT = "123456789012"


def render_policy(**extra: Any) -> dict[str, Any]:
    run = run_playbook(PLAYBOOK, "-e", json.dumps({"iam_raw_bucket_name": BUCKET, **extra}))
    assert run.rc == 0, run.output[-3000:]
    match = re.search(r"INGEST-POLICY>>(.*?)<<INGEST-POLICY", run.output, re.S)
    assert match, run.output[-3000:]
    return json.loads(match.group(1).replace("\n", " "))


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return render_policy()


def _client(url: str, service: str, creds: dict[str, str]) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", **creds)


@pytest.fixture(scope="module")
def enforcing(artifacts_dir, policy) -> Any:
    """(S3 client as the ingest role, S3 client as the admin) on a moto server that enforces IAM."""
    server = MotoServer(artifacts_dir, extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        iam = server.client("iam")
        user = iam.create_user(UserName="admin")["User"]
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        admin = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        admin_iam = _client(server.url, "iam", admin)
        admin_iam.create_role(RoleName="ingest-copy", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["Arn"]},
                                                    "Action": "sts:AssumeRole"}]}))
        admin_iam.put_role_policy(RoleName="ingest-copy", PolicyName="least-privilege",
                                  PolicyDocument=json.dumps(policy))
        admin_s3 = _client(server.url, "s3", admin)
        admin_s3.create_bucket(Bucket=BUCKET)
        creds = _client(server.url, "sts", admin).assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ingest-copy", RoleSessionName="ingest")["Credentials"]
        role_s3 = _client(server.url, "s3", {"aws_access_key_id": creds["AccessKeyId"],
                                             "aws_secret_access_key": creds["SecretAccessKey"],
                                             "aws_session_token": creds["SessionToken"]})
        yield role_s3, admin_s3, server
    finally:
        server.close()


def _keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_the_grant_covers_exactly_the_prefixes_the_handler_writes(policy):
    """The handler's own prefixes (its defaults, which the ingest role's Lambda runs with) and no others."""
    defaults = Settings(raw_bucket=BUCKET)
    expected = {f"arn:aws:s3:::{BUCKET}/{p}*" for p in (defaults.events_prefix, defaults.rejected_prefix)}
    s3_statements = [s for s in policy["Statement"] if any(a.startswith("s3:") for a in s["Action"])]
    assert len(s3_statements) == 1, s3_statements
    assert set(s3_statements[0]["Action"]) == {"s3:PutObject", "s3:DeleteObject"}
    assert set(s3_statements[0]["Resource"]) == expected


def test_the_emulator_enforces_iam(enforcing):
    _, _, server = enforcing
    with pytest.raises(ClientError) as denied:
        server.client("s3").list_objects_v2(Bucket=BUCKET)  # the dummy credentials are no IAM user
    assert denied.value.response["Error"]["Code"] in {"InvalidAccessKeyId", "AccessDenied"}


def test_a_request_that_fails_half_way_leaves_nothing_behind(enforcing):
    """First object put (rejected/), second refused: the cleanup deletes the first under the role's own grant."""
    role_s3, admin_s3, _ = enforcing
    store = S3Store(role_s3, BUCKET, attempts=1)
    written = f"rejected/2030/01/01/00/rejected-{uuid.uuid4()}.json"
    with pytest.raises(StorageError):
        store.put_all([(written, b"{}\n"), (f"elsewhere/{uuid.uuid4()}.json", b"{}\n")])
    assert _keys(admin_s3) == [], "the failed request left an object behind (its cleanup delete was refused)"


def test_the_role_may_delete_only_on_its_prefixes(enforcing):
    role_s3, admin_s3, _ = enforcing
    admin_s3.put_object(Bucket=BUCKET, Key="other/kept.json", Body=b"{}")
    try:
        for prefix in ("events/", "rejected/"):
            role_s3.put_object(Bucket=BUCKET, Key=f"{prefix}x.json", Body=b"{}")
            role_s3.delete_object(Bucket=BUCKET, Key=f"{prefix}x.json")
        with pytest.raises(ClientError) as denied:
            role_s3.delete_object(Bucket=BUCKET, Key="other/kept.json")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        assert _keys(admin_s3) == ["other/kept.json"]
    finally:
        admin_s3.delete_object(Bucket=BUCKET, Key="other/kept.json")
