"""Point-in-time recovery end to end: the real pg_backup role archives a real PostgreSQL 15 cluster to a real moto
server over HTTP, the cluster is destroyed, playbooks/restore.yml brings it back to a noted time.

Write rows (A), base backup, write more (B), note the server's time, write more (C), destroy the cluster, restore
to the noted time: exactly A and B come back, none of C. The cluster, its moto and its directories are this test's
own (tests/support/local_platform.py: a copy of the local inventory with its own names and ports)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.local_platform import Platform, local_platform
from scripts.harness.moto import MotoServer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3000)]

PREFIX = "clickstream-local"
BUCKET = f"{PREFIX}-backups-123456789012-us-east-1"
ROLE = f"{PREFIX}-ec2-oltp"  # the OLTP host's own instance role (roles/iam)


def psql(platform: Platform, sql: str, db: str = "shop") -> str:
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                           "-h", "/var/run/postgresql", "-p", str(platform.ports["oltp"]), "-d", db, "-c", sql],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def write(platform: Platform, phase: str, n: int) -> None:
    """n rows of one phase, each in its own committed transaction (separate commit records in the WAL)."""
    for _ in range(n):
        psql(platform, f"INSERT INTO pitr_probe (phase) VALUES ('{phase}')")  # noqa: S608 - test's own constant


def archive_current_wal(platform: Platform) -> None:
    """Close the current WAL segment and wait until archive_command has uploaded it."""
    segment = psql(platform, "SELECT pg_walfile_name(pg_switch_wal())", db="postgres")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        query = f"SELECT coalesce(last_archived_wal, '') >= '{segment}' FROM pg_stat_archiver"  # noqa: S608
        if psql(platform, query, db="postgres") == "t":
            return
        time.sleep(0.5)
    state = psql(platform, "SELECT * FROM pg_stat_archiver", db="postgres")
    raise AssertionError(f"WAL segment {segment} was not archived: {state}")


def base_backup(platform: Platform) -> None:
    script = platform.root / "state" / "pg-backup" / platform.clusters["oltp"] / "pg-backup"
    proc = subprocess.run(["runuser", "-u", "postgres", "--", str(script), "base-backup"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def counts(platform: Platform) -> dict[str, int]:
    rows = psql(platform, "SELECT phase, count(*) FROM pitr_probe GROUP BY phase ORDER BY phase")
    return {p: int(n) for p, n in (line.split("|") for line in rows.splitlines())}


@dataclass
class Scenario:
    moto: MotoServer
    platform: Platform
    first: PlaybookRun
    second: PlaybookRun
    check: PlaybookRun
    written: dict[str, int]
    target: str
    restore: PlaybookRun


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    moto = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        with local_platform(prefix="clickstream-pitr-") as platform:
            env = moto.env()
            inv = str(platform.inventory)
            for playbook in ("playbooks/storage.yml", "playbooks/iam.yml"):
                run = run_playbook(playbook, inventory=inv, env=env)
                assert run.rc == 0, run.output[-4000:]
            first = run_playbook("playbooks/databases.yml", "--tags", "oltp", inventory=inv, env=env)
            assert first.rc == 0, first.output[-6000:]
            second = run_playbook("playbooks/databases.yml", "--tags", "oltp", inventory=inv, env=env)
            check = run_playbook("playbooks/databases.yml", "--tags", "oltp", "--check", inventory=inv, env=env)

            psql(platform, "CREATE TABLE pitr_probe (id bigserial PRIMARY KEY, phase text NOT NULL)")
            write(platform, "A", 5)
            base_backup(platform)
            write(platform, "B", 7)
            psql(platform, "SELECT pg_sleep(1)")
            target = psql(platform, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')")
            psql(platform, "SELECT pg_sleep(1)")
            write(platform, "C", 4)
            written = counts(platform)
            archive_current_wal(platform)

            # Destroy the cluster: data directory, configuration, everything on the host.
            subprocess.run(["pg_dropcluster", "--stop", "15", platform.clusters["oltp"]], check=True)

            restore = run_playbook("playbooks/restore.yml", "-e", "restore_hosts=oltp", "-e", "restore_confirm=yes",
                                   "-e", f"restore_target_time={target}", inventory=inv, env=env)
            yield Scenario(moto, platform, first, second, check, written, target, restore)
    finally:
        moto.close()


def test_backups_are_set_up_idempotently(scenario: Scenario) -> None:
    assert scenario.second.rc == 0 and scenario.second.changed == 0, scenario.second.changed_tasks()
    assert scenario.check.rc == 0 and scenario.check.changed == 0, scenario.check.changed_tasks()
    keys = [o["Key"] for o in scenario.moto.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any(k.startswith("oltp/base/") and k.endswith("/backup.info") for k in keys), keys
    assert any(k.startswith("oltp/wals/") for k in keys), keys
    assert all(k.startswith("oltp/") for k in keys), keys


def test_restore_to_the_noted_time_brings_back_exactly_the_rows_before_it(scenario: Scenario) -> None:
    assert scenario.written == {"A": 5, "B": 7, "C": 4}
    assert scenario.restore.rc == 0, scenario.restore.output[-6000:]
    assert counts(scenario.platform) == {"A": 5, "B": 7}
    # The playbook's own check printed the restored table's row count.
    assert "public.pitr_probe | 12" in scenario.restore.output


def test_restore_resumes_archiving_with_a_base_backup_of_the_new_timeline(scenario: Scenario) -> None:
    assert psql(scenario.platform, "SELECT pg_is_in_recovery()", db="postgres") == "f"
    # The recovery started timeline 2 (the WAL file names' first 8 hex digits).
    current = psql(scenario.platform, "SELECT pg_walfile_name(pg_current_wal_lsn())", db="postgres")
    assert current.startswith("00000002"), current
    script = scenario.platform.root / "state" / "pg-backup" / scenario.platform.clusters["oltp"] / "pg-backup"
    listed = subprocess.run(["runuser", "-u", "postgres", "--", str(script), "list"],
                            capture_output=True, text=True, check=True).stdout
    backups = [b for b in json.loads(listed)["backups_list"] if b["status"] == "DONE"]
    assert sorted(b["timeline"] for b in backups)[-1] == 2, backups


def test_each_host_may_touch_only_its_own_prefix(scenario: Scenario) -> None:
    iam = scenario.moto.client("iam")
    doc = iam.get_role_policy(RoleName=ROLE, PolicyName=f"{PREFIX}-pg-backup-oltp")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    objects = next(s for s in doc["Statement"] if s["Sid"] == "ReadWriteOwnPrefix")
    assert objects["Resource"] == [f"arn:aws:s3:::{BUCKET}/oltp/*"]
    listing = next(s for s in doc["Statement"] if s["Sid"] == "ListOwnPrefix")
    assert listing["Condition"]["StringLikeIfExists"]["s3:prefix"] == ["oltp/*", "oltp"]
    metrics = next(s for s in doc["Statement"] if s["Sid"] == "PublishOwnBackupMetrics")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Clickstream/Backups"}}
    assert "s3:*" not in json.dumps(doc) and f"{BUCKET}/*" not in json.dumps(doc)


def test_backup_ages_are_published(scenario: Scenario) -> None:
    listed = scenario.moto.client("cloudwatch").list_metrics(Namespace="Clickstream/Backups")["Metrics"]
    seen = {(m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))) for m in listed}
    dims = (("Database", "oltp"), ("Pipeline", PREFIX))
    assert ("BaseBackupAgeSeconds", dims) in seen, seen
    assert ("WalArchiveAgeSeconds", dims) in seen, seen


def test_restore_refuses_without_confirmation(scenario: Scenario) -> None:
    run = run_playbook("playbooks/restore.yml", "-e", "restore_hosts=oltp", inventory=str(scenario.platform.inventory),
                       env=scenario.moto.env())
    assert run.rc != 0
    assert "restore_confirm=yes" in run.output
    assert counts(scenario.platform) == {"A": 5, "B": 7}


