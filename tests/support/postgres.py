"""A throwaway PostgreSQL 15 server for tests: initdb in a temp dir as the postgres user, TCP on 127.0.0.1."""

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
    Stopped and removed on close()."""

    def __init__(self, tls_names: tuple[str, ...] = LOCAL_NAMES, ca: TestCA | None = None) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 binaries not found in {PG_BIN}: run `make bootstrap`")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pgtest-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.datadir = self.dir / "data"
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale=C.UTF-8"])
        tls_dir = self.dir / "tls"
        tls_dir.mkdir()
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
        try:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
