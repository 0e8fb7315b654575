"""The AWS path in CI (issue 18): the whole site.yml with `-i inventories/aws`, as it ships but with the lake
switched on, against a fresh moto.

SLOW (full provisioning twice, plus publishing the package mirror): marked `slow` and `aws_path`; run it alone with
    python -m pytest -p no:cacheprovider tests/aws_path/test_aws_path.py -m aws_path

What makes it the AWS path and not the local one:
- the emulator is reached only through AWS_ENDPOINT_URL and AWS_* credentials in the environment: no Ansible
  variable names it, so every `endpoint_url ... or omit` takes its AWS branch; the aws_ec2 inventory plugin
  (inventories/aws/aws_ec2.yml, unchanged) finds the instances through botocore's AWS_ENDPOINT_URL too;
- the emulator knows a Debian 12 image under Debian's owner id (MOTO_AMIS_PATH), which the ec2_instances role's
  default AMI filter selects;
- the host plays run on the hosts the aws_ec2 plugin discovers after `compute`, in the same run (inventory
  refresh), named by the instances' Name tags, grouped by their Role/ShinyRole tags;
- the DW installs through the package mirror: playbooks/package-mirror.yml publishes it into the emulated
  artifacts bucket first (the deploy's step 0), then the DW play fetches it through presigned URLs and loads its
  index into apt. The packages are already installed on this machine, so the install itself is a no-op;
- the lake (docs/lake.md) is on, so its AWS-only branches run: the Glue interface endpoint in the ETL subnet, the
  ETL package with the lake's libraries (over Lambda's 50 MB direct upload) deployed from the artifacts bucket,
  the Iceberg tables, workgroup and views made through AWS_ENDPOINT_URL alone;
- the deploy guide's last step: playbooks/teardown.yml removes the deployment, the lake included, and a second
  teardown changes nothing.

What differs from a real deployment is the overlay of tests/aws_path/aws_inventory.py (documented there): the
account id, the connection of the EC2 hosts (local: no Session Manager here; the Systems Manager wait is off
because moto cannot register instances), what lets the stand-in hosts coexist on this machine (cluster
names, ports, paths, 127.0.0.1 instead of the emulator's made-up addresses), and two emulator gaps (no TLS
condition in bucket policies, no Amplify API). Its PostgreSQL clusters and Shiny process are its own and are
removed afterwards; clusters of a running user platform (oltp, dw) are never touched.
"""

from __future__ import annotations

import fcntl
import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.moto import MotoServer
from scripts.harness.task_ledger import ledger_counts, ledger_env
from tests.aws_path.aws_inventory import AwsPath, debian_image, make_root, remove_root, write_amis

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.aws_path, pytest.mark.timeout(5400)]

# Kept between test runs so the mirror's Debian packages are downloaded once per machine (the role only fetches
# what is missing); a builder's work directory, not AWS state.
MIRROR_BUILD_DIR = Path("/var/tmp/clickstream-aws-path-mirror-build")
INSTANCES = {"clickstream-dev-oltp": "oltp", "clickstream-dev-dw": "dw"}
LAKE_DATABASE = "clickstream_dev_lake"


@dataclass
class Deployment:
    moto: MotoServer
    path: AwsPath
    storage: PlaybookRun
    mirror: PlaybookRun
    first: PlaybookRun
    second: PlaybookRun
    # The second run's task ledger (bench/provisioning's task_ledger callback): module runs and tasks per play.
    second_ledger: Path


@pytest.fixture(scope="module")
def deployment(artifacts_dir: Path) -> Iterator[Deployment]:
    root = make_root()
    moto = MotoServer(artifacts_dir, amis_path=write_amis(root))
    path = AwsPath(root, moto.env(), mirror_build_dir=MIRROR_BUILD_DIR)
    try:
        # The artifacts bucket first (the mirror lives in it), then step 0 of a deploy: publish the mirror.
        storage = path.playbook("site.yml", "--tags", "storage")
        assert storage.rc == 0, storage.output[-5000:]
        # The builder's work directory is shared by concurrent runs of this test (other worktrees): one at a time.
        MIRROR_BUILD_DIR.mkdir(parents=True, exist_ok=True)
        with (MIRROR_BUILD_DIR.parent / f"{MIRROR_BUILD_DIR.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            mirror = path.playbook("playbooks/package-mirror.yml")
        assert mirror.rc == 0, mirror.output[-5000:]
        first = path.playbook("site.yml")
        ledger = artifacts_dir / f"aws-path-second-run-{root.name}.jsonl"
        second = run_playbook("site.yml", *path.inventory_args, env={**path.env, **ledger_env(ledger)},
                              timeout=3600) if first.rc == 0 else first
        yield Deployment(moto, path, storage, mirror, first, second, ledger)
    finally:
        path.close()
        moto.close()
        remove_root(root)


def _tail(run: PlaybookRun) -> str:
    return run.output[-6000:]


def test_site_succeeds_twice_and_the_second_run_changes_nothing(deployment: Deployment) -> None:
    first, second = deployment.first, deployment.second
    assert first.rc == 0 and first.failed == 0, _tail(first)
    assert second.rc == 0 and second.failed == 0, _tail(second)
    assert second.changed == 0, second.changed_tasks() or _tail(second)


# The AWS plays' no-op re-run on the AWS path, in module runs (each an interpreter and a boto3 session): upper
# bounds per play (the play names' beginnings), so that a change adding a module run to a no-op re-run shows here.
# Every play still reads the real state and puts drift back in these runs.
NO_OP_MODULE_RUNS = {
    "Network:": 2,  # the VPC with everything in it; the flow logs stack, read (written only when it differs)
    "Storage:": 1,  # every bucket
    "IAM:": 3,  # the roles; the secrets key; their inline policies naming it
    "Lake:": 5,  # the bucket; Glue tables; Athena workgroup; the ETL's and analysts' roles; the Glue endpoint lookup
    "Compute: OLTP": 1,  # the lookup, which finds both instances as asked: no ec2_instance run
    "Ingest:": 4,  # the zip's build; the function; the HTTP API; the URL in SSM
    "Monitoring:": 2,  # the lookup (API, topic, dashboard, log groups); the alarms
    "Identity:": 2,  # the pool with its app client; their ids in SSM
}


def test_the_no_op_re_run_of_the_aws_plays_stays_within_its_module_runs(deployment: Deployment) -> None:
    plays = ledger_counts(deployment.second_ledger)["plays"]
    runs = {}
    for prefix in NO_OP_MODULE_RUNS:
        [name] = [p for p in plays if p.startswith(prefix)]
        runs[prefix] = plays[name]["modules"]
    assert {p: n for p, n in runs.items() if n > NO_OP_MODULE_RUNS[p]} == {}, runs
    assert all(n > 0 for n in runs.values()), runs


def test_the_host_plays_ran_on_the_discovered_instances(deployment: Deployment) -> None:
    ec2 = deployment.moto.client("ec2")
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Project", "Values": ["clickstream"]},
                                                   {"Name": "instance-state-name", "Values": ["running"]}])
    instances = [i for r in reservations["Reservations"] for i in r["Instances"]]
    names = {t["Value"] for i in instances for t in i["Tags"] if t["Key"] == "Name"}
    assert names == set(INSTANCES), names  # one of each, also after two runs
    assert {i["ImageId"] for i in instances} == {debian_image()["ami_id"]}
    first = deployment.first
    for host in INSTANCES:
        assert host in first.recap, sorted(first.recap)
        assert first.recap[host]["ok"] > 10 and first.recap[host]["failed"] == 0, first.recap[host]
    # Each host play ran its roles on the discovered host (not "no hosts matched").
    assert "skipping: no hosts matched" not in first.output
    for play, host in (("Databases: OLTP and DW PostgreSQL", "clickstream-dev-oltp"),
                       ("Databases: OLTP and DW PostgreSQL", "clickstream-dev-dw"),
                       ("Dashboards: R Shiny", "clickstream-dev-dw")):
        section = first.output.split(f"PLAY [{play}", 1)[1].split("\nPLAY [", 1)[0]
        assert re.search(rf"^(ok|changed): \[{re.escape(host)}\]", section, re.M), (play, section[-2000:])


def test_flow_logs_and_the_s3_endpoint_policy_as_inventories_aws_ships_them(deployment: Deployment) -> None:
    """inventories/aws turns VPC flow logs on; the S3 gateway endpoint allows only the platform's buckets (the lake's
    too, with the lake on) and the SSM agent's AWS buckets."""
    cfn = deployment.moto.client("cloudformation")
    stack = cfn.describe_stacks(StackName="clickstream-dev-flow-logs")["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack["StackStatus"]
    ec2 = deployment.moto.client("ec2")
    (s3_endpoint,) = [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
                      if e["ServiceName"].endswith(".s3") and e["State"] != "deleted"]
    policy = json.loads(s3_endpoint["PolicyDocument"])
    resources = [r for s in policy["Statement"] for r in s["Resource"]]
    buckets = {r.split(":::", 1)[1].split("/", 1)[0] for r in resources}
    platform = {b for b in buckets if b.startswith("clickstream-dev-")}
    assert {b.split("-")[2] for b in platform} == {"raw", "artifacts", "lake"}, buckets
    assert "amazon-ssm-us-east-1" in buckets and not any("*" in b for b in buckets), buckets


def test_the_lake_on_the_aws_path(deployment: Deployment) -> None:
    """The lake's resources, made with the aws inventory's names through AWS_ENDPOINT_URL alone."""
    moto = deployment.moto
    ec2 = moto.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["clickstream-dev-etl"]}])["Subnets"][0]
    (glue,) = [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
               if e["ServiceName"] == "com.amazonaws.us-east-1.glue" and e["State"] != "deleted"]
    assert glue["VpcEndpointType"] == "Interface" and glue["SubnetIds"] == [subnet["SubnetId"]]
    assert glue["PrivateDnsEnabled"] is True
    tables = {t["Name"]: t for t in moto.client("glue").get_tables(DatabaseName=LAKE_DATABASE)["TableList"]}
    assert {"events", "sessions"} <= set(tables), sorted(tables)
    assert tables["events"]["Parameters"]["metadata_location"].startswith(f"s3://{_lake_bucket(moto)}/iceberg/")
    wg = moto.client("athena").get_work_group(WorkGroup="clickstream-dev-lake")["WorkGroup"]
    assert wg["Configuration"]["EnforceWorkGroupConfiguration"] is True
    # The views were sent (moto's Athena runs none): the workgroup carries their digest.
    arn = wg.get("WorkGroupArn") or f"arn:aws:athena:us-east-1:123456789012:workgroup/{wg['Name']}"
    tags = {t["Key"] for t in moto.client("athena").list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert "clickstream:lake-views-sha256" in tags, tags
    # The ETL package with the lake's libraries is over 50 MB: it went through the artifacts bucket.
    s3 = moto.client("s3")
    artifacts = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "-artifacts-" in b["Name"])
    zips = [o for o in s3.list_objects_v2(Bucket=artifacts, Prefix="lambda/clickstream-dev-etl-").get("Contents", [])]
    assert len(zips) == 1 and zips[0]["Size"] > 50 * 1024 * 1024, zips
    function = moto.client("lambda").get_function(FunctionName="clickstream-dev-etl")["Configuration"]
    assert function["CodeSize"] > 50 * 1024 * 1024, function["CodeSize"]
    assert function["Environment"]["Variables"]["LAKE_ENABLED"] == "true"
    assert "clickstream-dev-lake-analyst" in {r["RoleName"] for r in moto.client("iam").list_roles()["Roles"]}


def _lake_bucket(moto: MotoServer) -> str:
    return next(b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]
                if b["Name"].startswith("clickstream-dev-lake-"))


def test_the_databases_and_dashboards_run_on_the_stand_ins(deployment: Deployment) -> None:
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    for role, name in deployment.path.clusters.items():
        line = next((c.split() for c in clusters.splitlines() if c.split()[1:2] == [name]), None)
        assert line and line[2] == str(deployment.path.ports[role]) and line[3] == "online", clusters
    with urllib.request.urlopen(f"http://127.0.0.1:{deployment.path.ports['shiny']}/", timeout=30) as r:
        assert r.status == 200
    # The DATABASE_URL the frontend reads was written by the OLTP play into SSM (AWS path: SecureString).
    ssm = deployment.moto.client("ssm")
    names = [p["Name"] for page in ssm.get_paginator("describe_parameters").paginate() for p in page["Parameters"]]
    assert any(n.startswith("/clickstream/dev/") and "database_url" in n.lower() for n in names), names
    # Every SecureString under the environment's path is encrypted with the suite's customer-managed key (role iam),
    # not the account's aws/ssm key (docs/security.md, "Secrets").
    secure = {p["Name"]: p.get("KeyId") for page in ssm.get_paginator("describe_parameters").paginate()
              for p in page["Parameters"] if p["Type"] == "SecureString" and p["Name"].startswith("/clickstream/dev/")}
    assert secure and set(secure.values()) == {"alias/clickstream-dev-secrets"}, secure


def test_the_dw_installed_through_the_package_mirror(deployment: Deployment) -> None:
    path = deployment.path
    source = Path(path.mirror["source_file"]).read_text()
    assert f"file:{path.mirror['local_dir']}" in source, source
    # signed: apt verifies InRelease with the suite's key, installed from the control node
    assert "[signed-by=" in source and "trusted=yes" not in source, source
    assert (Path(path.mirror["local_dir"]) / "InRelease").read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    # The index apt loaded is the manifest's, read from the emulated artifacts bucket.
    s3 = deployment.moto.client("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "-artifacts-" in b["Name"])
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="apt/bookworm-amd64/manifest.json")["Body"].read())
    index_sha = manifest["files"][manifest["index"]]["sha256"]
    stamp = (Path(path.mirror["local_dir"]) / ".index-applied").read_text()
    assert stamp.split()[0] == index_sha
    # apt, with the state the index was loaded into, finds the DW's packages in the mirror's source.
    policy = subprocess.run(
        ["apt-cache", f"-oDir::State={path.mirror['apt_state']}", f"-oDir::Cache={path.mirror['apt_cache']}",
         f"-oDir::Etc::SourceList={path.mirror['source_file']}", "-oDir::Etc::SourceParts=-", "policy",
         "postgresql-15", "r-cran-shiny"], capture_output=True, text=True, check=True).stdout
    for package in ("postgresql-15", "r-cran-shiny"):
        entry = policy.split(f"{package}:", 1)[1]
        assert f"file:{path.mirror['local_dir']} ./ Packages" in entry, policy
    for play in ("Databases: OLTP and DW PostgreSQL", "Dashboards: R Shiny"):
        section = deployment.first.output.split(f"PLAY [{play}", 1)[1].split("\nPLAY [", 1)[0]
        # the mirror's tasks ran for the DW host in that play (the databases play runs both hosts)
        mirror = [task for task in section.split("\nTASK [")[1:]
                  if task.startswith(("package_mirror : Read and check the manifest",
                                      "package_mirror : Read the manifest from the artifacts bucket"))]
        assert any(re.search(r"^(ok|changed|included):.*\bclickstream-dev-dw\b", task, re.M) for task in mirror), \
            (play, [task[:300] for task in mirror])


def test_both_clusters_archive_to_their_own_prefix_of_the_backups_bucket(deployment: Deployment) -> None:
    """The hosts' backup tools reach the bucket on the AWS branch (no endpoint variable: AWS_ENDPOINT_URL only)."""
    s3 = deployment.moto.client("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("clickstream-dev-backups-"))
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    for prefix in ("oltp", "dw"):
        assert any(k.startswith(f"{prefix}/base/") and k.endswith("/backup.info") for k in keys), keys
        assert any(k.startswith(f"{prefix}/wals/") for k in keys), keys


def test_teardown_removes_the_deployment_and_a_second_one_changes_nothing(deployment: Deployment) -> None:
    """The deploy guide's last step, on the AWS path (last in this module: it removes what the others read)."""
    first = deployment.path.playbook("playbooks/teardown.yml", "-e", "teardown_confirm=yes")
    assert first.rc == 0 and first.failed == 0, _tail(first)
    assert first.changed > 0, _tail(first)
    ec2 = deployment.moto.client("ec2")
    live = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
        {"Name": "tag:Project", "Values": ["clickstream"]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
        for i in r["Instances"]]
    assert live == []
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["clickstream"]}])
            ["Vpcs"]] == []
    buckets = [b["Name"] for b in deployment.moto.client("s3").list_buckets()["Buckets"]]
    # The backups bucket outlives a teardown (teardown_keep_backups); everything else goes.
    assert [b for b in buckets if b.startswith("clickstream-dev-") and "-backups-" not in b] == [], buckets
    assert [b for b in buckets if b.startswith("clickstream-dev-backups-")] != [], buckets
    functions = [f["FunctionName"] for f in deployment.moto.client("lambda").list_functions()["Functions"]]
    assert [f for f in functions if f.startswith("clickstream-dev-")] == [], functions
    # The lake (teardown_keep_lake false by default): its bucket went above; its catalog, workgroup, analyst role.
    assert LAKE_DATABASE not in {d["Name"] for d in deployment.moto.client("glue").get_databases()["DatabaseList"]}
    assert "clickstream-dev-lake" not in {
        w["Name"] for w in deployment.moto.client("athena").list_work_groups()["WorkGroups"]}
    roles = {r["RoleName"] for r in deployment.moto.client("iam").list_roles()["Roles"]}
    assert not {"clickstream-dev-lake-analyst", "clickstream-dev-lambda-etl"} & roles, roles
    again = deployment.path.playbook("playbooks/teardown.yml", "-e", "teardown_confirm=yes")
    assert again.rc == 0 and again.failed == 0, _tail(again)
    assert again.changed == 0, again.changed_tasks() or _tail(again)
