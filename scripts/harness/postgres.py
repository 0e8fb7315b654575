"""A PostgreSQL 15 server for tests and benchmarks: initdb as the postgres user, TCP on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .net import free_port, wait_for_port
from .tls import LOCAL_NAMES, TestCA

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str]) -> subprocess.CompletedProcess:
    cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


class PostgresServer:
    """Superuser `postgres` with trust auth on 127.0.0.1:<free port>, TLS on with a certificate for localhost and
    127.0.0.1 from a test CA (`ca_file`), as the platform's clusters have one from the suite's CA: clients connect
    with sslmode=verify-full and sslrootcert=ca_file. `tls_names`/`ca` give another certificate (TLS tests).
    Stopped and removed on close(); with `keep_dir`, the cluster lives in keep_dir/data, is reused when it is
    already there, and close() only stops it (a benchmark's 10M-event warehouse survives for the next run); its
    test CA and certificate are made anew at each start."""

    def __init__(self, tls_names: tuple[str, ...] = LOCAL_NAMES, ca: TestCA | None = None,
                 keep_dir: Path | None = None) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 binaries not found in {PG_BIN}: run `make bootstrap`")
        self.port = free_port()
        self.kept = keep_dir is not None
        if keep_dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="pgtest-"))
        else:
            self.dir = keep_dir
            self.dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir, "postgres", "postgres")
        self.datadir = self.dir / "data"
        if not self.datadir.exists():
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                          "-E", "UTF8", "--locale=C.UTF-8"])
        tls_dir = self.dir / "tls"
        tls_dir.mkdir(exist_ok=True)
        self.ca = ca or TestCA.create(tls_dir, "pg test CA")
        self.ca_file = self.ca.cert_file
        cert_file, key_file = self.ca.issue(tls_dir, tls_names)
        for path in (tls_dir, cert_file, key_file, self.ca_file):
            shutil.chown(path, "postgres", "postgres")
        opts = (f"-c ssl=on -c ssl_cert_file={cert_file} -c ssl_key_file={key_file} "
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
                "-c shared_buffers=256MB -c timezone=UTC")
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.dir / "log"),
                      "-o", opts, "-w", "start"])
        wait_for_port(self.port)
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def database_exists(self, name: str) -> bool:
        import psycopg2

        conn = psycopg2.connect(self.dsn)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                return cur.fetchone() is not None
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create database `name` (dropping any old one) and return its DSN."""
        import psycopg2

        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={name}"

    def close(self) -> None:
        if self.kept:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop"])
            return
        try:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
