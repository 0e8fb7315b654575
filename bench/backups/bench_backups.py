"""Backups of the PostgreSQL clusters (roles/pg_backup): the recovery point under steady writes and the restore time.

A throwaway PostgreSQL 15 cluster archives through the role's own script (roles/pg_backup/files/pg-backup.sh,
Barman's cloud tools) to a moto server over HTTP, as in local mode.

- Recovery point: a writer commits one row every WRITE_INTERVAL seconds; every SAMPLE_INTERVAL seconds the bench
  asks which committed rows a restore from the archive would bring back (every commit whose WAL position lies in an
  archived segment) and records the seconds of commits that would be lost. Run once with the role's
  archive_timeout and once without it (0: a segment is archived only when 16 MB of WAL fill it) for the same time.
- Restore time: a database of demo size (an events table shaped like the warehouse's, and the shop's orders) is
  backed up with `pg-backup base-backup` and restored into an empty data directory with `pg-backup fetch` plus WAL
  replay to a consistent, promoted server; the baseline is the same data through pg_dump -Fc and pg_restore -j 2
  into a fresh cluster, measured in the same run.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCRIPT_DIR = REPO / "roles/pg_backup/files"
WRITE_INTERVAL = 0.05
SAMPLE_INTERVAL = 0.5
SEGMENT = 16 * 1024 * 1024


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, text=True, **kw)


class Moto:
    def __init__(self, log: Path) -> None:
        import sys

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
                                      str(self.port)], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


class Cluster:
    """initdb + pg_ctl in a temp dir, archiving through the role's pg-backup script to `bucket`/`server`."""

    def __init__(self, root: Path, moto: Moto, bucket: str, server: str, archive_timeout: int,
                 archive: bool = True) -> None:
        self.root, self.port = root, _free_port()
        self.data, self.home = root / "data", root / "backup"
        for d in (root, self.home, self.home / "state"):
            d.mkdir(parents=True, exist_ok=True)
            shutil.chown(d, "postgres", "postgres")
        for src, dest in (("pg-backup.sh", "pg-backup"), ("pg_backup_tool.py", "pg_backup_tool.py")):
            shutil.copy(SCRIPT_DIR / src, self.home / dest)
            (self.home / dest).chmod(0o755)
        (self.home / "env").write_text(
            f"BUCKET={bucket}\nSERVER={server}\nENDPOINT_URL={moto.url}\nAWS_DEFAULT_REGION=us-east-1\n"
            "AWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\nSSE=AES256\n"
            f"PGHOST={root}\nPGPORT={self.port}\nRETENTION_DAYS=7\nSTATE_DIR={self.home}/state\n"
            "BASE_INTERVAL_SECONDS=86400\nMETRICS_INTERVAL_SECONDS=300\nMETRICS_NAMESPACE=Bench/Backups\n"
            "METRICS_PIPELINE=bench\n")
        self.archive = archive
        self.archive_timeout = archive_timeout

    def initdb(self) -> None:
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C.UTF-8"])

    def start(self) -> None:
        opts = [f"-c port={self.port}", "-c listen_addresses=''", f"-c unix_socket_directories={self.root}",
                "-c timezone=UTC", "-c shared_buffers=256MB", "-c max_wal_size=2GB"]
        if self.archive:
            opts += ["-c archive_mode=on", f"-c archive_command='{self.home}/pg-backup wal-archive %p'",
                     f"-c archive_timeout={self.archive_timeout}"]
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o",
                      " ".join(opts), "-w", "-t", "3600", "start"])

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], capture_output=True)

    def connect(self, db: str = "postgres"):
        conn = psycopg2.connect(host=str(self.root), port=self.port, user="postgres", dbname=db)
        conn.autocommit = True
        return conn

    def pg_backup(self, *args: str) -> str:
        return _as_postgres([str(self.home / "pg-backup"), *args]).stdout


def _bucket(moto: Moto, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=name)


def _archived_end(cur) -> int:
    """End LSN (bytes) of the newest archived WAL segment of timeline 1, 0 if none."""
    cur.execute("SELECT last_archived_wal FROM pg_stat_archiver")
    name = cur.fetchone()[0] or ""
    if len(name) < 24 or not all(c in "0123456789ABCDEF" for c in name[:24]):
        return 0
    log, seg = int(name[8:16], 16), int(name[16:24], 16)
    return log * 0x100000000 + (seg + 1) * SEGMENT


def recovery_point(root: Path, moto: Moto, archive_timeout: int, seconds: float) -> list[float]:
    """Seconds of committed writes that a restore from the archive would lose, sampled under steady writes."""
    cluster = Cluster(root, moto, "bench-backups", f"rpo{archive_timeout}", archive_timeout)
    cluster.initdb()
    cluster.start()
    try:
        # A freshly started server applied archive_timeout only from its first checkpoint on (observed with
        # PostgreSQL 15 here); the pg_backup role checkpoints after the restart that turns archiving on, likewise.
        with cluster.connect().cursor() as cur:
            cur.execute("CHECKPOINT")
        commits: list[tuple[float, int]] = []  # (commit time, end LSN of the commit)
        stop = threading.Event()

        def writer() -> None:
            conn = cluster.connect()
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE w (id bigserial PRIMARY KEY, payload text)")
                while not stop.is_set():
                    cur.execute("INSERT INTO w (payload) VALUES (repeat('x', 200))")
                    cur.execute("SELECT pg_current_wal_insert_lsn() - '0/0'")
                    commits.append((time.monotonic(), int(cur.fetchone()[0])))
                    time.sleep(WRITE_INTERVAL)
            conn.close()

        thread = threading.Thread(target=writer)
        thread.start()
        samples: list[float] = []
        conn = cluster.connect()
        warmup = time.monotonic() + min(5.0, seconds / 4)
        end = time.monotonic() + seconds
        with conn.cursor() as cur:
            while time.monotonic() < end:
                time.sleep(SAMPLE_INTERVAL)
                now = time.monotonic()
                archived = _archived_end(cur)
                if now < warmup or not commits:
                    continue
                safe = [t for t, lsn in commits if lsn <= archived]
                first = commits[0][0]
                samples.append(now - (safe[-1] if safe else first))
        stop.set()
        thread.join()
        conn.close()
        return samples
    finally:
        cluster.stop()


def _demo_data(cluster: Cluster, events: int) -> None:
    """A warehouse-shaped events table and the shop's orders, in a database `demo`."""
    with cluster.connect().cursor() as cur:
        cur.execute("CREATE DATABASE demo")
    conn = cluster.connect("demo")
    with conn.cursor() as cur:
        cur.execute("""
            CREATE TABLE events (
              event_id uuid PRIMARY KEY, event_timestamp timestamptz NOT NULL, event_name text NOT NULL,
              user_id text, user_login_state text, identity_source text, client_id text, session_id text,
              is_first_visit boolean, product_id text, product_name text, product_category text,
              product_brand text, product_price numeric(12,2), product_discount_price numeric(12,2),
              product_url_path text);
            INSERT INTO events
            SELECT md5(i::text)::uuid, now() - (i || ' seconds')::interval,
                   (ARRAY['page_view','view_item','add_to_cart','begin_checkout','purchase'])[1 + i %% 5],
                   'user-' || (i %% 5000), CASE WHEN i %% 3 = 0 THEN 'logged_in' ELSE 'anonymous' END, 'cognito',
                   'client-' || (i %% 9000), 'session-' || (i / 12), i %% 40 = 0, 'p' || (i %% 400),
                   'Product ' || (i %% 400), (ARRAY['laptops','monitors','storage','accessories'])[1 + i %% 4],
                   (ARRAY['Lenovo','Dell','HP','Asus','Acer'])[1 + i %% 5], 100 + (i %% 900), 90 + (i %% 800),
                   '/product/p' || (i %% 400)
            FROM generate_series(1, %s) AS i;
            CREATE INDEX ON events (event_timestamp);
            CREATE INDEX ON events (session_id);
            CREATE TABLE orders (id bigserial PRIMARY KEY, user_id text, total numeric(12,2), created_at timestamptz);
            INSERT INTO orders (user_id, total, created_at)
            SELECT 'user-' || (i %% 5000), 20 + i %% 2000, now() - (i || ' minutes')::interval
            FROM generate_series(1, %s) AS i;
            CHECKPOINT;
        """, (events, events // 20))
    conn.close()


def _size(cluster: Cluster) -> int:
    with cluster.connect().cursor() as cur:
        cur.execute("SELECT pg_database_size('demo')")
        return int(cur.fetchone()[0])


def _count(cluster: Cluster) -> int:
    conn = cluster.connect("demo")
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM orders)")
        n = int(cur.fetchone()[0])
    conn.close()
    return n


def restore_times(root: Path, moto: Moto, events: int) -> dict[str, float]:
    source = Cluster(root / "source", moto, "bench-backups", "demo", 60)
    source.initdb()
    source.start()
    out: dict[str, float] = {}
    try:
        _demo_data(source, events)
        out["rows"] = _count(source)
        out["size_mb"] = _size(source) / 1e6
        t = time.monotonic()
        source.pg_backup("base-backup")
        out["backup_s"] = time.monotonic() - t
        dump = source.root / "demo.dump"  # the postgres user writes it
        t = time.monotonic()
        _as_postgres([str(PG_BIN / "pg_dump"), "-Fc", "-h", str(source.root), "-p", str(source.port), "-f",
                      str(dump), "demo"])
        out["dump_s"] = time.monotonic() - t
        backup_id = source.pg_backup("choose").strip()
    finally:
        source.stop()

    # Restore from the bucket into an empty data directory, replay the WAL, wait for the promoted server.
    target = Cluster(root / "restored", moto, "bench-backups", "demo", 60, archive=False)
    t = time.monotonic()
    target.data.mkdir(mode=0o700)
    shutil.chown(target.data, "postgres", "postgres")
    target.pg_backup("fetch", backup_id, str(target.data))
    (target.data / "recovery.signal").touch()
    shutil.chown(target.data / "recovery.signal", "postgres", "postgres")
    with (target.data / "postgresql.auto.conf").open("a") as f:
        f.write(f"restore_command = '{target.home}/pg-backup wal-restore %f %p'\nrecovery_target_action = 'promote'\n")
    target.start()
    conn = target.connect()
    with conn.cursor() as cur:
        while True:
            cur.execute("SELECT pg_is_in_recovery()")
            if not cur.fetchone()[0]:
                break
            time.sleep(0.1)
    conn.close()
    out["restore_s"] = time.monotonic() - t
    out["restored_rows"] = _count(target)
    target.stop()

    # Baseline: the same data through pg_restore into a fresh cluster (initdb included, as a restore needs it).
    fresh = Cluster(root / "fresh", moto, "bench-backups", "fresh", 60, archive=False)
    t = time.monotonic()
    fresh.initdb()
    fresh.start()
    with fresh.connect().cursor() as cur:
        cur.execute("CREATE DATABASE demo")
    _as_postgres([str(PG_BIN / "pg_restore"), "-j", "2", "-h", str(fresh.root), "-p", str(fresh.port), "-d", "demo",
                  str(dump)])
    out["pg_restore_s"] = time.monotonic() - t
    out["pg_restore_rows"] = _count(fresh)
    fresh.stop()
    return out


def run(quick: bool = False) -> dict:
    seconds = 30.0 if quick else 120.0
    timeout = 10 if quick else 30
    events = 50_000 if quick else 500_000
    root = Path(tempfile.mkdtemp(prefix="bench-backups-", dir="/var/tmp"))
    root.chmod(0o755)
    moto = Moto(root / "moto.log")
    try:
        _bucket(moto, "bench-backups")
        with_timeout = recovery_point(root / "rpo-timeout", moto, timeout, seconds)
        without = recovery_point(root / "rpo-none", moto, 0, seconds)
        restore = restore_times(root, moto, events)
    finally:
        moto.close()
        shutil.rmtree(root, ignore_errors=True)

    def p(samples: list[float], q: float) -> float:
        return statistics.quantiles(samples, n=100)[int(q) - 1] if len(samples) > 1 else samples[0]

    rows = [
        {"metric": f"WAL at risk, median, archive_timeout={timeout} s", "value": statistics.median(with_timeout),
         "unit": "s", "baseline": "archive_timeout=0 (segment-full only), same writes and duration",
         "baseline_value": statistics.median(without),
         "ratio": statistics.median(with_timeout) / statistics.median(without)},
        {"metric": f"WAL at risk, p99, archive_timeout={timeout} s", "value": p(with_timeout, 99), "unit": "s",
         "baseline": "the archive_timeout setting (the bound)", "baseline_value": float(timeout),
         "ratio": p(with_timeout, 99) / timeout, "target": "<= archive_timeout + one upload",
         "met": p(with_timeout, 99) <= timeout + 5},
        {"metric": f"WAL at risk, max, archive_timeout={timeout} s", "value": max(with_timeout), "unit": "s",
         "baseline": "archive_timeout=0, max", "baseline_value": max(without),
         "ratio": max(with_timeout) / max(without)},
        {"metric": f"base backup of a demo-sized database (synthetic events + orders, {restore['size_mb']:.0f} MB, "
                   f"{restore['rows']:,.0f} rows)",
         "value": restore["backup_s"], "unit": "s", "baseline": "pg_dump -Fc of the same database",
         "baseline_value": restore["dump_s"], "ratio": restore["backup_s"] / restore["dump_s"]},
        {"metric": "restore: fetch base backup + WAL replay until promoted", "value": restore["restore_s"],
         "unit": "s", "baseline": "initdb + pg_restore -j 2 of the pg_dump", "baseline_value": restore["pg_restore_s"],
         "ratio": restore["restore_s"] / restore["pg_restore_s"]},
        {"metric": "rows after restore / rows backed up", "value": restore["restored_rows"] / restore["rows"],
         "unit": "", "baseline": "pg_restore rows / rows",
         "baseline_value": restore["pg_restore_rows"] / restore["rows"],
         "target": "1", "met": restore["restored_rows"] == restore["rows"]},
    ]
    notes = [
        f"Recovery point: one committed row every {WRITE_INTERVAL * 1000:.0f} ms for {seconds:.0f} s, sampled every "
        f"{SAMPLE_INTERVAL} s after a warm-up: the age of the newest commit inside an archived WAL segment "
        f"({len(with_timeout)} samples with archive_timeout, {len(without)} without). The platform's default is "
        "pg_backup_archive_timeout=60 s; the bench uses a shorter one to see many switches in a short run.",
        "Without archive_timeout nothing is archived until 16 MB of WAL fill a segment: at this write rate that is "
        "longer than the run, so the baseline's risk is the run's whole length.",
        "Both paths run on one machine against moto over HTTP (no network transfer cost); on AWS the base backup and "
        "the fetch move the compressed data directory through the S3 gateway endpoint.",
    ]
    return {"title": "Backups: recovery point and restore time", "rows": rows, "notes": notes}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=str))
