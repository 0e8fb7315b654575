"""All-or-nothing ingest under its real permissions (issue 19): the handler deletes what it wrote when a request
fails half-way, so Lambda Ingest's role must allow that delete on the prefixes it writes, and nowhere else.

The emulator enforces IAM here (scripts/harness/iam.py: the iam role's own rendered policy, assumed); the handler's
S3 store runs on the credentials of that role. tests/security/test_enforced_iam.py runs the handlers themselves
under the same enforcement.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from clickstream_ingest.config import Settings
from clickstream_ingest.storage import S3Store, StorageError

from scripts.harness.iam import EnforcingIam

pytestmark = pytest.mark.integration

BUCKET = f"perm-raw-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def enforced(artifacts_dir) -> Iterator[EnforcingIam]:
    iam = EnforcingIam(artifacts_dir, {"iam_raw_bucket_name": BUCKET})
    try:
        iam.admin("s3").create_bucket(Bucket=BUCKET)
        yield iam
    finally:
        iam.close()


@pytest.fixture(scope="module")
def policy(enforced) -> dict[str, Any]:
    return enforced.role("ingest")["policy"]


@pytest.fixture(scope="module")
def enforcing(enforced) -> Any:
    """(S3 client as the ingest role, S3 client as the admin, the server) on a moto server that enforces IAM."""
    return enforced.client("ingest", "s3"), enforced.admin("s3"), enforced.server


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
