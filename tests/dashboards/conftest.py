"""Fixtures of the dashboard tests: a DW loaded BY THE ETL from synthetic traffic, a real `dashboard_reader`
role, the Shiny app running on a free port and reading its settings file, and a headless chromium on it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from .support import REPO, ShinyApp, browser_page, reset_filters

DB_NAME = "dash_dw"
BUCKET = "dash-raw"
PASSWORD_PARAMETER = "/clickstream-test/db/dw/etl_writer/password"
READER_PASSWORD = "reader-test-password"


@dataclass
class LoadedDW:
    dsn: str  # superuser DSN (test-side checks)
    port: int
    name: str
    etl_runs: list[dict[str, Any]]


def _reader_grants(dsn: str) -> None:
    """The grants the dw_db role gives dashboard_reader (docs/warehouse.md): dw read-only, etl.runs and
    etl.quarantine only."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS dashboard_reader")
        cur.execute("CREATE ROLE dashboard_reader LOGIN PASSWORD %s", (READER_PASSWORD,))
        cur.execute(f"GRANT CONNECT ON DATABASE {DB_NAME} TO dashboard_reader")
        cur.execute("GRANT USAGE ON SCHEMA dw, etl TO dashboard_reader")
        cur.execute("GRANT SELECT ON ALL TABLES IN SCHEMA dw TO dashboard_reader")
        cur.execute("GRANT SELECT ON etl.runs, etl.quarantine TO dashboard_reader")
    conn.close()


def _run(cmd: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _add_bad_lines(s3) -> None:
    """One more raw object with lines the ETL must reject for other reasons than malformed JSON."""
    import json

    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="events/")["Contents"])
    good = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()[0])
    received = datetime.fromisoformat(good["received_at"].replace("Z", "+00:00"))
    stale = {**good, "event_id": "00000000-0000-4000-8000-00000000beef",
             "event_timestamp": (received - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    missing = {k: v for k, v in good.items() if k != "client_id"}
    missing["event_id"] = "00000000-0000-4000-8000-00000000cafe"
    body = "".join(json.dumps(line) + "\n" for line in (stale, missing, stale | {"event_id": None}))
    s3.put_object(Bucket=BUCKET, Key=key.rsplit("/", 1)[0] + "/events-zz-dashboard-test.json", Body=body.encode())


def etl_cli(pg_server, moto_server, *args: str) -> dict[str, Any]:
    """``python -m clickstream_etl ARGS`` on the dashboards' warehouse and bucket -> its JSON summary."""
    import json

    env = {**os.environ, **moto_server.env(), "DW_SSLROOTCERT": str(pg_server.ca_file),  # the ETL verifies TLS
           "PYTHONPATH": str(REPO / "lambdas/etl/src")}
    proc = subprocess.run([sys.executable, "-m", "clickstream_etl", *args, "--bucket", BUCKET, "--dw-host",
                           "127.0.0.1", "--dw-port", str(pg_server.port), "--dw-name", DB_NAME, "--dw-user",
                           "postgres", "--password-parameter", PASSWORD_PARAMETER, "--trigger", "test"],
                          env=env, cwd=str(REPO), capture_output=True, text=True, timeout=600)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["_rc"] = proc.returncode
    return out


@pytest.fixture(scope="session")
def loaded_dw(pg_server, moto_server) -> LoadedDW:
    """Synthetic traffic (bench/traffic, S3 sink) -> raw bucket on moto -> ETL CLI -> warehouse."""
    from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations

    dsn = pg_server.create_database(DB_NAME)
    conn = psycopg2.connect(dsn)
    apply_migrations(conn, str(REPO / "sql" / "dw"))
    conn.close()
    _reader_grants(dsn)

    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    moto_server.client("ssm").put_parameter(Name=PASSWORD_PARAMETER, Value="unused-trust-auth",
                                            Type="SecureString", Overwrite=True)
    env = {**os.environ, **moto_server.env(), "DW_SSLROOTCERT": str(pg_server.ca_file),  # the ETL verifies TLS
           "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("bench", "lambdas/etl/src"))}
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(hours=60)  # three UTC days at least, all inside the ETL's 72 h freshness window
    _run([sys.executable, "-m", "traffic", "--sink", "s3", "--bucket", BUCKET, "--endpoint-url", moto_server.url,
          "--clients", "400", "--seed", "20240601", "--start", start.isoformat(), "--end", end.isoformat(),
          "--lines-per-object", "400", "--corrupt-lines", "0.01", "--quiet"], env, "traffic generator")
    _add_bad_lines(s3)
    runs = []
    for _ in range(2):  # the second run finds nothing new: a realistic run log, and nothing double-loaded
        proc = _run([sys.executable, "-m", "clickstream_etl", "--bucket", BUCKET, "--dw-host", "127.0.0.1",
                     "--dw-port", str(pg_server.port), "--dw-name", DB_NAME, "--dw-user", "postgres",
                     "--password-parameter", PASSWORD_PARAMETER, "--trigger", "test"], env, "ETL")
        import json

        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return LoadedDW(dsn=dsn, port=pg_server.port, name=DB_NAME, etl_runs=runs)


@pytest.fixture(scope="package")
def shiny_app(loaded_dw: LoadedDW, artifacts_dir: Path, tmp_path_factory) -> Iterator[ShinyApp]:
    """The app as the shiny_server role runs it: settings in a 0600 file named by CLICKSTREAM_DB_CONFIG."""
    cfg = tmp_path_factory.mktemp("shiny") / "db.env"
    cfg.write_text(f"# written by the test\nDW_HOST=127.0.0.1\nDW_PORT={loaded_dw.port}\nDW_NAME={loaded_dw.name}\n"
                   f"DW_USER=dashboard_reader\nDW_PASSWORD={READER_PASSWORD}\n")
    cfg.chmod(0o600)
    app = ShinyApp({"CLICKSTREAM_DB_CONFIG": str(cfg)}, artifacts_dir / "shiny-dashboards.log")
    yield app
    app.close()


@pytest.fixture(scope="session")
def screenshots_dir(artifacts_dir: Path) -> Path:
    d = artifacts_dir / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="package")
def _browser_page(shiny_app: ShinyApp) -> Iterator[Any]:
    """One browser page on the app for the dashboard tests (starting chromium and Shiny's page costs seconds).
    Package scope, not session: Playwright's sync API runs one event loop per thread, so a browser left open
    past this package would make every later `sync_playwright()` (e2e, tracker) fail."""
    console: list[str] = []
    with browser_page(shiny_app.url, console) as p:
        p.console_errors = console  # type: ignore[attr-defined]
        yield p


@pytest.fixture()
def page(_browser_page: Any, shiny_app: ShinyApp) -> Iterator[Any]:
    """The shared page with all filters back to "all" and the default tab; the test fails if the browser logged
    any error meanwhile."""
    p = _browser_page
    start = len(p.console_errors)
    reset_filters(p)
    yield p
    errors = p.console_errors[start:]
    assert errors == [], f"browser console errors: {errors}\napp log:\n{shiny_app.log()[-3000:]}"


@pytest.fixture()
def sql(loaded_dw: LoadedDW) -> Iterator[Any]:
    """Run a query on the same DW (as superuser) -> list of tuples."""
    conn = psycopg2.connect(loaded_dw.dsn)
    conn.autocommit = True

    def query(statement: str, params: tuple | dict = ()) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    yield query
    conn.close()
