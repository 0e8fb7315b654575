"""The lake's IAM (roles/lake: the ETL's inline policy <prefix>-lake-export, the analyst role) under enforcement.

A moto server that enforces IAM (scripts/harness/iam.py), the ETL's role with exactly its iam-role policy plus the
lake role's rendered inline policy, and the analyst role with exactly its rendered inline policy (trusting the
admin user instead of the account root: moto compares the trust principal literally). The real ETL handler, on
the ETL role's credentials, loads events and exports them to the lake's Iceberg tables; without the lake policy
the same export is refused. Each role is refused one step beyond its grants.

What moto 5.2 does not enforce here (checked as documents in tests/lake/test_lake_role.py, or not at all):
- Glue: AWS evaluates a table call against the catalog, the database AND the table ARN; moto evaluates one
  resource per call (scripts/harness/moto_enforcing.py gives it the table's, the database's or the catalog's ARN).
  That the policies also list the catalog and database ARNs a table call needs is checked as a document.
- Athena: moto runs no query, so a query's own reads (Glue, the table files in S3, the result location) are
  never made with the analyst's credentials; only the Athena API calls are evaluated, against the workgroup.
  The S3 and Glue grants that a real query needs are exercised by calling S3 and Glue directly as the analyst.
- Condition keys: the ETL's s3:ListBucket is conditioned on s3:prefix; moto does not supply that key, and an
  Allow whose condition key is missing counts as no Allow, so the ETL's listing of its own prefix is refused here
  (pyiceberg does not list: the export works without it). The bucket's TLS-only policy is off on the emulator.
- sts:AssumeRole for the analyst by the account's principals (the real trust names the account root): moto
  compares principals literally; the rendered trust is checked as a document.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickstream_etl import handler as etl_handler
from clickstream_etl.lake import catalog as lake_catalog
from clickstream_ingest import handler as ingest_handler

from scripts.harness.ansible import run_playbook
from scripts.harness.iam import ACCOUNT, REGION, EnforcingIam
from tests.etl.helpers import _migrated
from tests.ingest.helpers import api_event, valid_event
from tests.security.test_enforced_iam import _Context, _ingest_env, _refused, _run_as

pytestmark = pytest.mark.integration

RAW_BUCKET = f"enforced-lake-raw-{uuid.uuid4().hex[:8]}"
SSM_PREFIX = "/clickstream/local"
ETL_PASSWORD = f"{SSM_PREFIX}/db/dw/etl_writer/password"


def _render() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lake.json"
        run = run_playbook("scripts/harness/playbooks/render_lake_policies.yml",
                           "-e", json.dumps({"render_lake_policies_out": str(out)}))
        assert run.rc == 0, run.output[-3000:]
        return json.loads(out.read_text())


@pytest.fixture(scope="module")
def lake(artifacts_dir) -> Iterator[tuple[EnforcingIam, dict[str, Any]]]:
    rendered = _render()
    iam = EnforcingIam(artifacts_dir, {"iam_raw_bucket_name": RAW_BUCKET})
    try:
        s3 = iam.admin("s3")
        s3.create_bucket(Bucket=RAW_BUCKET)
        s3.create_bucket(Bucket=rendered["bucket"])
        key = iam.admin("kms").create_key(Description="secrets")["KeyMetadata"]["KeyId"]
        iam.admin("ssm").put_parameter(Name=ETL_PASSWORD, Value="unused", Type="SecureString", KeyId=key)
        iam.admin("logs").create_log_group(logGroupName="/aws/lambda/clickstream-local-etl")
        # The provisioning's part (clickstream.platform.iceberg_tables, as the admin): the database and tables.
        location = f"s3://{rendered['bucket']}/{rendered['table_prefix'].rstrip('/')}"
        admin_env = {"AWS_REGION": REGION, "AWS_ENDPOINT_URL": iam.url,
                     "AWS_ACCESS_KEY_ID": iam.admin_credentials["aws_access_key_id"],
                     "AWS_SECRET_ACCESS_KEY": iam.admin_credentials["aws_secret_access_key"]}
        assert lake_catalog.ensure_tables(lake_catalog.load(admin_env), rendered["database"], location)
        iam.credentials("etl")  # the ETL role with its iam-role policy only (the lake policy comes per test)
        admin_iam = iam.admin("iam")
        admin_iam.create_role(RoleName=rendered["analyst_role"], AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": iam.admin_arn},
                                                    "Action": "sts:AssumeRole"}]}))
        admin_iam.put_role_policy(RoleName=rendered["analyst_role"], PolicyName=rendered["analyst_policy_name"],
                                  PolicyDocument=json.dumps(rendered["analyst_policy"]))
        iam.admin("athena").create_work_group(Name=rendered["workgroup"], Configuration={"ResultConfiguration": {
            "OutputLocation": f"s3://{rendered['bucket']}/{rendered['results_prefix']}"}})
        iam.admin("athena").create_work_group(Name="other", Configuration={})
        yield iam, rendered
    finally:
        iam.close()


def _analyst(iam: EnforcingIam, rendered: dict[str, Any], service: str) -> Any:
    import boto3

    creds = iam.admin("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{rendered['analyst_role']}",
                                         RoleSessionName="analyst")["Credentials"]
    return boto3.client(service, endpoint_url=iam.url, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def _lake_policy(iam: EnforcingIam, rendered: dict[str, Any], on: bool) -> None:
    admin_iam = iam.admin("iam")
    if on:
        admin_iam.put_role_policy(RoleName=rendered["etl_role"], PolicyName=rendered["etl_policy_name"],
                                  PolicyDocument=json.dumps(rendered["etl_policy"]))
    elif rendered["etl_policy_name"] in admin_iam.list_role_policies(RoleName=rendered["etl_role"])["PolicyNames"]:
        admin_iam.delete_role_policy(RoleName=rendered["etl_role"], PolicyName=rendered["etl_policy_name"])


def _etl_run(iam: EnforcingIam, rendered: dict[str, Any], pg_server, monkeypatch, n: int) -> tuple[dict, list]:
    """Ingest (its role) writes n events; the ETL (its role) loads them into a fresh warehouse and exports them."""
    dbname = f"dw_enforced_lake_{uuid.uuid4().hex[:8]}"
    _migrated(pg_server, dbname)
    events = [valid_event() for _ in range(n)]
    _run_as(monkeypatch, _ingest_env(iam) | {"RAW_BUCKET_NAME": RAW_BUCKET})
    assert ingest_handler.handler(api_event({"events": events}), None)["statusCode"] < 300
    _run_as(monkeypatch, {
        **iam.env("etl"), "RAW_BUCKET_NAME": RAW_BUCKET, "DW_HOST": "127.0.0.1", "DW_PORT": str(pg_server.port),
        "DW_NAME": dbname, "DW_USER": "postgres", "DW_PASSWORD_PARAMETER": ETL_PASSWORD,
        "DW_SSLROOTCERT": str(pg_server.ca_file), "METRICS_ENABLED": "false", "LOG_LEVEL": "WARNING",
        "LAKE_ENABLED": "true", "LAKE_DATABASE": rendered["database"],
        "LAKE_LOCATION": f"s3://{rendered['bucket']}/{rendered['table_prefix'].rstrip('/')}"})
    try:
        return etl_handler.handler({"source": "aws.events"}, _Context()), [e["event_id"] for e in events]
    finally:
        etl_handler._clients.clear()


def _lake_event_ids(iam: EnforcingIam, rendered: dict[str, Any]) -> set[str]:
    env = {"AWS_REGION": REGION, "AWS_ENDPOINT_URL": iam.url,
           "AWS_ACCESS_KEY_ID": iam.admin_credentials["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": iam.admin_credentials["aws_secret_access_key"]}
    table = lake_catalog.load(env).load_table((rendered["database"], "events"))
    return set(table.scan(selected_fields=("event_id",)).to_arrow().column("event_id").to_pylist())


def test_without_the_lake_policy_the_etl_cannot_export(lake, pg_server, monkeypatch):
    """Enforcement is on for Glue: the ETL role with only its iam-role policy loads the warehouse, the export is
    refused, and the run says so."""
    iam, rendered = lake
    _lake_policy(iam, rendered, on=False)
    result, ids = _etl_run(iam, rendered, pg_server, monkeypatch, 2)
    assert result["events_loaded"] >= 2, result
    assert result["status"] == "partial" and "lake export failed" in result["message"], result
    assert "AccessDenied" in result["message"] or "403" in result["message"], result
    assert not set(ids) & _lake_event_ids(iam, rendered)


def test_the_etl_exports_to_the_lake_under_its_role(lake, pg_server, monkeypatch):
    iam, rendered = lake
    _lake_policy(iam, rendered, on=True)
    result, ids = _etl_run(iam, rendered, pg_server, monkeypatch, 3)
    assert result["status"] == "succeeded", result
    assert set(ids) <= _lake_event_ids(iam, rendered)
    keys = [o["Key"] for o in iam.admin("s3").list_objects_v2(Bucket=rendered["bucket"]).get("Contents", [])]
    assert keys and all(k.startswith(rendered["table_prefix"]) for k in keys), keys


def test_the_etl_is_refused_one_step_beyond_its_prefix_and_tables(lake):
    iam, rendered = lake
    _lake_policy(iam, rendered, on=True)
    s3, glue = iam.client("etl", "s3"), iam.client("etl", "glue")
    bucket, db, prefix = rendered["bucket"], rendered["database"], rendered["table_prefix"]
    s3.put_object(Bucket=bucket, Key=f"{prefix}probe/x", Body=b"x")  # its own prefix: allowed
    assert glue.get_table(DatabaseName=db, Name="events")["Table"]["Name"] == "events"
    _refused(lambda: s3.put_object(Bucket=bucket, Key=f"{rendered['results_prefix']}x", Body=b"x"))
    _refused(lambda: s3.put_object(Bucket=bucket, Key="elsewhere/x", Body=b"x"))
    _refused(lambda: s3.get_object(Bucket=bucket, Key=f"{rendered['results_prefix']}x"))
    _refused(lambda: s3.delete_object(Bucket=bucket, Key=f"{prefix}probe/x"))  # it deletes nothing
    _refused(lambda: s3.delete_bucket(Bucket=bucket))
    _refused(lambda: s3.put_object(Bucket=RAW_BUCKET, Key=f"{prefix}x", Body=b"x"))  # the prefix, another bucket
    _refused(lambda: glue.create_table(DatabaseName=db, TableInput={"Name": "other"}))  # another table
    _refused(lambda: glue.get_table(DatabaseName=db, Name="other"))
    _refused(lambda: glue.delete_table(DatabaseName=db, Name="events"))
    _refused(lambda: glue.delete_database(Name=db))
    _refused(lambda: glue.create_database(DatabaseInput={"Name": "other_db"}))  # another database
    _refused(lambda: glue.get_tables(DatabaseName=db))
    _refused(lambda: iam.client("etl", "athena").start_query_execution(
        QueryString="SELECT 1", WorkGroup=rendered["workgroup"]))


def test_the_analyst_queries_in_the_workgroup_and_reads_the_catalog(lake):
    iam, rendered = lake
    athena, glue, s3 = (_analyst(iam, rendered, s) for s in ("athena", "glue", "s3"))
    qid = athena.start_query_execution(QueryString="SELECT count(*) FROM events", WorkGroup=rendered["workgroup"],
                                       QueryExecutionContext={"Database": rendered["database"]})["QueryExecutionId"]
    assert athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["QueryExecutionId"] == qid
    assert athena.get_work_group(WorkGroup=rendered["workgroup"])["WorkGroup"]["Name"] == rendered["workgroup"]
    assert {t["Name"] for t in glue.get_tables(DatabaseName=rendered["database"])["TableList"]} >= \
        {"events", "sessions"}
    metadata = glue.get_table(DatabaseName=rendered["database"], Name="events")["Table"]["Parameters"]
    location = metadata["metadata_location"].split("/", 3)[3]
    assert s3.get_object(Bucket=rendered["bucket"], Key=location)["Body"].read()  # the table's files
    s3.put_object(Bucket=rendered["bucket"], Key=f"{rendered['results_prefix']}{qid}.csv", Body=b"n\n0\n")


def test_the_analyst_is_refused_writes_and_other_workgroups(lake):
    iam, rendered = lake
    athena, glue, s3 = (_analyst(iam, rendered, s) for s in ("athena", "glue", "s3"))
    bucket, db, prefix = rendered["bucket"], rendered["database"], rendered["table_prefix"]
    _refused(lambda: athena.start_query_execution(QueryString="SELECT 1", WorkGroup="other"))
    _refused(lambda: athena.start_query_execution(QueryString="SELECT 1"))  # the primary workgroup
    _refused(lambda: athena.delete_work_group(WorkGroup=rendered["workgroup"]))
    _refused(lambda: s3.put_object(Bucket=bucket, Key=f"{prefix}events/data/forged.parquet", Body=b"x"))
    _refused(lambda: s3.delete_object(Bucket=bucket, Key=f"{prefix}events/anything"))
    _refused(lambda: s3.get_object(Bucket=bucket, Key="elsewhere/x"))
    _refused(lambda: s3.delete_bucket(Bucket=bucket))
    _refused(lambda: glue.update_table(DatabaseName=db, TableInput={"Name": "events"}))
    _refused(lambda: glue.create_table(DatabaseName=db, TableInput={"Name": "forged"}))
    _refused(lambda: glue.delete_table(DatabaseName=db, Name="events"))
    _refused(lambda: glue.delete_database(Name=db))
