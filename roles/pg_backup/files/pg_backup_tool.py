#!/usr/bin/python3
"""Helpers of the pg-backup script (pg_backup role), run with the host's Debian Python (boto3, psycopg2).

  pg_backup_tool.py choose [TARGET]   print the id of the newest finished base backup that ended before TARGET
                                      (ISO 8601 with a UTC offset); without TARGET the newest one
  pg_backup_tool.py metrics           publish BaseBackupAgeSeconds and WalArchiveAgeSeconds to CloudWatch
  pg_backup_tool.py check-system      print `none` (no backup in the prefix yet), `same` (the newest backup is of
                                      this cluster's database system) or `different` (exit 3): another system's
                                      backups, which this cluster must not archive over

Settings come from the environment the pg-backup script exports (its `env` file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_time(value: str) -> datetime:
    """An ISO 8601 time with an explicit offset ('2026-01-31 14:05:00+00', '...Z'); naive times are refused."""
    text = value.strip().replace("Z", "+00:00")
    if len(text) >= 3 and text[-3] in "+-" and text[-2:].isdigit() and ":" not in text[-6:]:
        text += ":00"  # PostgreSQL prints '+00'
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset (write e.g. 2026-01-31T14:05:00+00:00)")
    return parsed


def backup_end(backup: dict) -> datetime | None:
    """End time of one entry of `barman-cloud-backup-list --format json`, None if unknown. Barman prints it in
    ctime form ('Mon Dec  7 04:45:31 2026') in the server's time zone, which the postgresql role sets to UTC."""
    end = backup.get("end_time")
    if not end:
        return None
    try:
        return datetime.strptime(" ".join(end.split()), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return parse_time(end)
    except ValueError:
        return None


def choose_backup(backups: list[dict], target: datetime | None) -> dict:
    """The newest DONE base backup that ended before `target` (a recovery cannot stop before its base backup's
    end), or the newest DONE one without a target. Raises LookupError when there is none."""
    done = [b for b in backups if b.get("status") == "DONE" and backup_end(b) is not None]
    if target is not None:
        done = [b for b in done if backup_end(b) < target]
    if not done:
        when = f" that ended before {target.isoformat()}" if target else ""
        raise LookupError(f"no finished base backup{when} in the bucket")
    return max(done, key=backup_end)


def wal_archive_age(now: datetime, waiting: int, last_archived: datetime | None,
                    oldest_waiting: datetime | None) -> float:
    """Seconds of WAL at risk: 0 while no finished segment waits for archive_command; otherwise the time since
    the last successful archive (or since the oldest waiting segment was finished, if nothing was ever archived).
    An idle cluster therefore reports 0, a cluster whose archive_command fails reports a growing age."""
    if waiting == 0:
        return 0.0
    since = last_archived or oldest_waiting or now
    return max(0.0, (now - since).total_seconds())


def system_match(backups: list[dict], local_system_id: str) -> str:
    """`none`, `same` or `different`: the newest finished backup's database system against this cluster's."""
    try:
        newest = choose_backup(backups, None)
    except LookupError:
        return "none"
    return "same" if str(newest.get("systemid")) == str(local_system_id) else "different"


def local_system_id() -> str:
    import psycopg2

    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT system_identifier FROM pg_control_system()")
            return str(cur.fetchone()[0])
    finally:
        conn.close()


def list_backups() -> list[dict]:
    out = subprocess.run([str(HERE / "pg-backup"), "list"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["backups_list"]


def archiver_state() -> tuple[int, datetime | None, datetime | None, bool]:
    import psycopg2

    conn = psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'),"
                " (SELECT last_archived_time FROM pg_stat_archiver),"
                " (SELECT min(modification) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'),"
                " pg_is_in_recovery()")
            return cur.fetchone()
    finally:
        conn.close()


def metrics() -> int:
    import boto3

    now = datetime.now(UTC)
    data = []
    try:
        newest = choose_backup(list_backups(), None)
        data.append(("BaseBackupAgeSeconds", (now - backup_end(newest)).total_seconds()))
    except LookupError:
        pass  # no base backup: no data point, which the alarm treats as breaching
    waiting, last_archived, oldest_waiting, in_recovery = archiver_state()
    if not in_recovery:
        data.append(("WalArchiveAgeSeconds", wal_archive_age(now, waiting, last_archived, oldest_waiting)))
    dims = [{"Name": "Pipeline", "Value": os.environ["METRICS_PIPELINE"]},
            {"Name": "Database", "Value": os.environ["SERVER"]}]
    kwargs = {"region_name": os.environ["AWS_DEFAULT_REGION"]}
    if os.environ.get("ENDPOINT_URL"):
        kwargs["endpoint_url"] = os.environ["ENDPOINT_URL"]
    boto3.client("cloudwatch", **kwargs).put_metric_data(
        Namespace=os.environ["METRICS_NAMESPACE"],
        MetricData=[{"MetricName": n, "Dimensions": dims, "Value": v, "Unit": "Seconds", "Timestamp": now}
                    for n, v in data])
    for name, value in data:
        print(f"{name}={value:.0f}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["choose"]:
        target = parse_time(argv[1]) if len(argv) > 1 and argv[1] else None
        try:
            print(choose_backup(list_backups(), target)["backup_id"])
        except LookupError as exc:
            print(f"pg-backup: {exc}", file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["metrics"]:
        return metrics()
    if argv[:1] == ["check-system"]:
        verdict = system_match(list_backups(), local_system_id())
        print(verdict)
        if verdict == "different":
            print(f"pg-backup: s3://{os.environ['BUCKET']}/{os.environ['SERVER']}/ holds backups of another database "
                  "system than this cluster's: restore from them first (playbooks/restore.yml) or use another prefix",
                  file=sys.stderr)
            return 3
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
