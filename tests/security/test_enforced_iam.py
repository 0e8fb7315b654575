"""Least privilege proven under enforcement (issue 20): each role of the iam role, with exactly its rendered
policies, does what its code does and is refused one step beyond.

The roles and credentials come from scripts/harness/iam.py (a moto server that enforces IAM; the iam role's own
policy documents; the Lambda handlers run in this process on the role's credentials, as Lambda runs them).

What moto 5.2 enforces, checked for this module (scripts/harness/moto_enforcing.py fills the gaps it can):
- S3: every object and bucket call is evaluated against the bucket or object ARN, Allow and Deny, with wildcards.
- SSM Parameter Store: moto itself evaluates against "*", so a policy scoped to a parameter ARN refused everything;
  moto_enforcing.py passes the parameter ARN (GetParameter, PutParameter, DeleteParameter, GetParametersByPath;
  GetParameters with one name) and moto's evaluator decides on it. Which KMS key encrypts a SecureString is not
  modelled: moto's SSM never calls KMS, so the kms:Decrypt statements and the secrets key's key policy are
  checked as documents (tests/foundation), not enforced.
- KMS: actions are evaluated against "*" (a statement scoped to a key ARN never matches) and key policies are
  ignored.
- CloudWatch Logs: as SSM, moto alone evaluates against "*"; moto_enforcing.py passes the log group / stream ARN.
- CloudWatch metrics: PutMetricData's only scope is the cloudwatch:namespace condition key, which moto does not
  supply; an Allow statement whose condition key is missing counts as a denial in moto, so publishing is refused
  whatever the namespace. The ETL runs here with metrics off; the condition is checked as a document.
- Condition keys in general: only sts:ExternalId is supplied (trust policies); kms:ViaService, aws:SourceAccount
  and the like are not evaluated.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from clickstream_etl import handler as etl_handler
from clickstream_ingest import handler as ingest_handler

from scripts.harness.iam import ACCOUNT, REGION, EnforcingIam
from tests.etl.helpers import _migrated
from tests.ingest.helpers import api_event, valid_event

pytestmark = pytest.mark.integration

BUCKET = f"enforced-raw-{uuid.uuid4().hex[:8]}"
SSM_PREFIX = "/clickstream/local"  # the local inventory's clickstream_ssm_prefix, which the rendered policies use
PARAMS = {
    "etl": f"{SSM_PREFIX}/db/dw/etl_writer/password",
    "dw_owner": f"{SSM_PREFIX}/db/dw/dw_owner/password",
    "oltp_app": f"{SSM_PREFIX}/db/oltp/shop_app/password",
    "database_url": f"{SSM_PREFIX}/db/oltp/database_url",
}


def _refused(call: Any) -> None:
    """The call fails with 403 (moto's JSON services report the code as "403", S3 as AccessDenied)."""
    with pytest.raises(ClientError) as denied:
        call()
    error = denied.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403, error
    assert error["Error"]["Code"] in {"AccessDenied", "AccessDeniedException", "403"}, error


@pytest.fixture(scope="module")
def enforced(artifacts_dir) -> Iterator[EnforcingIam]:
    iam = EnforcingIam(artifacts_dir, {"iam_raw_bucket_name": BUCKET})
    try:
        iam.admin("s3").create_bucket(Bucket=BUCKET)
        key = iam.admin("kms").create_key(Description="secrets")["KeyMetadata"]["KeyId"]
        for name, param in PARAMS.items():
            iam.admin("ssm").put_parameter(Name=param, Value=f"secret-of-{name}", Type="SecureString", KeyId=key)
        iam.admin("logs").create_log_group(logGroupName="/aws/lambda/clickstream-local-etl")
        yield iam
    finally:
        iam.close()


def _keys(iam: EnforcingIam, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in iam.admin("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_the_emulator_refuses_what_no_policy_allows(enforced):
    """Unknown credentials, and a known role outside its grants, are both refused: enforcement is on."""
    _refused(lambda: enforced.server.client("ssm").get_parameter(Name=PARAMS["etl"]))  # dummy keys: no IAM user
    _refused(lambda: enforced.client("ingest", "ssm").get_parameter(Name=PARAMS["etl"]))


def test_the_real_trust_policies_name_the_service_and_this_account(enforced):
    """The copies trust the admin user (moto cannot assume as a service); the rendered originals are checked here."""
    for key, service in (("ingest", "lambda"), ("etl", "lambda"), ("oltp", "ec2"), ("dw", "ec2")):
        (statement,) = enforced.role(key)["trust"]["Statement"]
        assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
        if service == "lambda":
            assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


# --- Lambda Ingest --------------------------------------------------------------------------------------------

def _ingest_env(iam: EnforcingIam) -> dict[str, str]:
    return {**iam.env("ingest"), "RAW_BUCKET_NAME": BUCKET, "LOG_LEVEL": "WARNING"}


def _run_as(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """The process environment of a handler: the role's credentials and the function's settings."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # A fresh process, as each function is: boto3's default session keeps the credentials it first resolved.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    ingest_handler.reset_runtime()
    etl_handler._clients.clear()


@pytest.fixture
def ingest_env(enforced, monkeypatch) -> Iterator[EnforcingIam]:
    _run_as(monkeypatch, _ingest_env(enforced))
    yield enforced
    ingest_handler.reset_runtime()


def test_ingest_handler_writes_events_and_rejects_under_its_role(ingest_env):
    before = set(_keys(ingest_env))
    good, bad = valid_event(), valid_event(client_id=None)  # no client_id: rejected with its reason
    response = ingest_handler.handler(api_event({"events": [good, bad]}), None)
    assert response["statusCode"] < 300, response
    new = sorted(set(_keys(ingest_env)) - before)
    assert [k.split("/")[0] for k in new] == ["events", "rejected"], new
    body = ingest_env.admin("s3").get_object(Bucket=BUCKET, Key=new[0])["Body"].read().decode()
    assert good["event_id"] in body and bad["event_id"] not in body


def test_ingest_role_cannot_read_list_or_write_elsewhere(ingest_env):
    s3 = ingest_env.client("ingest", "s3")
    s3.put_object(Bucket=BUCKET, Key="events/probe.json", Body=b"{}\n")
    try:
        _refused(lambda: s3.get_object(Bucket=BUCKET, Key="events/probe.json"))
        _refused(lambda: s3.list_objects_v2(Bucket=BUCKET))
        _refused(lambda: s3.put_object(Bucket=BUCKET, Key="other/x.json", Body=b"{}"))
    finally:
        s3.delete_object(Bucket=BUCKET, Key="events/probe.json")  # its own cleanup grant
    assert "events/probe.json" not in _keys(ingest_env)


# --- Lambda ETL -----------------------------------------------------------------------------------------------

@pytest.fixture
def etl_settings(enforced, pg_server) -> dict[str, str]:
    """The ETL function's environment on a fresh migrated warehouse (trust auth: the password is only read)."""
    dbname = f"dw_enforced_{uuid.uuid4().hex[:8]}"
    _migrated(pg_server, dbname)
    return {**enforced.env("etl"), "RAW_BUCKET_NAME": BUCKET, "DW_HOST": "127.0.0.1", "DW_PORT": str(pg_server.port),
            "DW_NAME": dbname, "DW_USER": "postgres", "DW_PASSWORD_PARAMETER": PARAMS["etl"],
            "DW_SSLROOTCERT": str(pg_server.ca_file),  # verify-full against the test cluster's CA
            "METRICS_ENABLED": "false", "LOG_LEVEL": "WARNING"}


@pytest.fixture
def etl_env(enforced, etl_settings, monkeypatch) -> Iterator[EnforcingIam]:
    _run_as(monkeypatch, etl_settings)
    yield enforced
    etl_handler._clients.clear()


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def test_etl_handler_reads_its_parameter_lists_and_loads_events_under_its_role(enforced, etl_settings, monkeypatch):
    """Ingest (its role) writes; the ETL (its role) reads the password, lists and reads events/, loads them."""
    events = [valid_event() for _ in range(3)]
    _run_as(monkeypatch, _ingest_env(enforced))
    assert ingest_handler.handler(api_event({"events": events}), None)["statusCode"] < 300
    _run_as(monkeypatch, etl_settings)
    result = etl_handler.handler({"source": "aws.events"}, _Context())
    assert result["status"] == "succeeded", result
    assert result["events_loaded"] >= len(events), result


def test_etl_role_reads_only_its_parameter_and_cannot_write_the_bucket(etl_env):
    ssm, s3 = etl_env.client("etl", "ssm"), etl_env.client("etl", "s3")
    assert ssm.get_parameter(Name=PARAMS["etl"], WithDecryption=True)["Parameter"]["Value"] == "secret-of-etl"
    _refused(lambda: ssm.get_parameter(Name=PARAMS["dw_owner"], WithDecryption=True))
    _refused(lambda: ssm.get_parameters(Names=[PARAMS["etl"]], WithDecryption=True))  # GetParameter only
    _refused(lambda: s3.put_object(Bucket=BUCKET, Key="events/forged.json", Body=b"{}\n"))
    _refused(lambda: s3.delete_object(Bucket=BUCKET, Key="events/anything.json"))
    _refused(lambda: s3.put_object(Bucket=BUCKET, Key="rejected/forged.json", Body=b"{}\n"))
    _refused(lambda: s3.get_object(Bucket=BUCKET, Key="elsewhere/anything.json"))  # only events/ and rejected/


def test_etl_role_logs_only_to_its_own_group(etl_env):
    logs = etl_env.client("etl", "logs")
    logs.create_log_stream(logGroupName="/aws/lambda/clickstream-local-etl", logStreamName="s1")
    etl_env.admin("logs").create_log_group(logGroupName="/aws/lambda/clickstream-local-ingest")
    try:
        _refused(lambda: logs.create_log_stream(logGroupName="/aws/lambda/clickstream-local-ingest",
                                                logStreamName="s1"))
    finally:
        etl_env.admin("logs").delete_log_group(logGroupName="/aws/lambda/clickstream-local-ingest")


# --- EC2 instance roles ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "own", "other"), [
    ("oltp", ["oltp_app", "database_url"], ["etl", "dw_owner"]),
    ("dw", ["etl", "dw_owner"], ["oltp_app", "database_url"]),
])
def test_each_instance_role_reads_only_its_own_parameters(enforced, host, own, other):
    ssm = enforced.client(host, "ssm")
    for name in own:
        assert ssm.get_parameter(Name=PARAMS[name], WithDecryption=True)["Parameter"]["Value"] == f"secret-of-{name}"
    for name in other:
        _refused(lambda name=name: ssm.get_parameter(Name=PARAMS[name], WithDecryption=True))
    _refused(lambda: ssm.get_parameters_by_path(Path=f"{SSM_PREFIX}/db", Recursive=True, WithDecryption=True))
    _refused(lambda: enforced.client(host, "s3").list_objects_v2(Bucket=BUCKET))


def test_no_instance_policy_grants_parameters_outside_its_path(enforced):
    """The AmazonSSMManagedInstanceCore grant (ssm:GetParameter* on "*") is gone from both instance roles."""
    for host in ("oltp", "dw"):
        role = enforced.role(host)
        assert role["managed"] == []
        ssm_statements = [s for s in role["policy"]["Statement"]
                          if any(a.startswith("ssm:GetParameter") for a in s["Action"])]
        assert [s["Resource"] for s in ssm_statements] == [
            [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{SSM_PREFIX}/db/{host}/*"]], json.dumps(ssm_statements)
