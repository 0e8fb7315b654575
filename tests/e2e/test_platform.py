"""End to end, as `make up` does it: fresh emulator and databases -> site.yml -> traffic through the HTTP
endpoint -> ETL -> warehouse counts equal what the generator says it sent -> the dashboards show them.

It runs the very same playbooks through a copy of the local inventory whose PostgreSQL clusters, ports and
service directories are the test's own, so a `make up` platform on the same machine is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml

from tests.dashboards.support import TABS, browser_page, kpis, show_tab
from tests.support.ansible import REPO, run_playbook
from tests.support.net import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Platform:
    """A copy of inventories/local with its own clusters, ports and run/log/state directories."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inventory = root / "inventory"
        shutil.copytree(REPO / "inventories/local", self.inventory, symlinks=False)
        self.ports = {"oltp": free_port(), "dw": free_port(), "ingest": free_port(), "shiny": free_port()}
        suffix = root.name.replace("-", "").replace("_", "")[-8:].lower()
        self.clusters = {"oltp": f"e2eoltp{suffix}", "dw": f"e2edw{suffix}"}
        local = yaml.safe_load((self.inventory / "group_vars/all/local.yml").read_text())
        local.update({
            "clickstream_local_run_dir": str(root / "run"),
            "clickstream_local_log_dir": str(root / "log"),
            "clickstream_local_state_dir": str(root / "state"),
            "clickstream_local_ingest_port": self.ports["ingest"],
            "clickstream_local_shiny_port": self.ports["shiny"],
        })
        (self.inventory / "group_vars/all/local.yml").write_text(yaml.safe_dump(local))
        for host, key in (("oltp-local", "oltp"), ("dw-local", "dw")):
            path = self.inventory / f"host_vars/{host}.yml"
            hv = yaml.safe_load(path.read_text())
            hv.update({"postgresql_cluster_name": self.clusters[key], "postgresql_port": self.ports[key]})
            if key == "dw":
                hv.update({"shiny_server_app_dir": str(root / "shiny/app"),
                           "shiny_server_db_config": str(root / "shiny/etc/db.env")})
            path.write_text(yaml.safe_dump(hv))

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ingest']}/clickstream"

    @property
    def shiny_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['shiny']}/"

    def site(self, env: dict[str, str], *args: str):
        return run_playbook("site.yml", *args, inventory=str(self.inventory), env=env, timeout=1800)

    def close(self) -> None:
        subprocess.run(["bash", str(REPO / "scripts/local-services.sh"), "stop"], check=False,
                       env={**os.environ, "CLICKSTREAM_RUN_DIR": str(self.root / "run")}, capture_output=True)
        for name in self.clusters.values():
            subprocess.run(["pg_dropcluster", "--stop", "15", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def platform(moto_server) -> Iterator[tuple[Platform, dict[str, str]]]:
    moto_server.reset()
    # World-traversable (the shiny and postgres users read below it), unlike pytest's tmp_path.
    root = Path(tempfile.mkdtemp(prefix="clickstream-e2e-", dir="/var/tmp"))
    root.chmod(0o755)
    p = Platform(root)
    try:
        yield p, moto_server.env()
    finally:
        p.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def deployed(platform):
    p, env = platform
    first = p.site(env)
    assert first.rc == 0, first.output[-6000:]
    return first


@pytest.fixture(scope="module")
def traffic_report(platform, deployed, moto_server) -> dict:
    p, env = platform
    report_path = p.root / "traffic.json"
    cmd = [sys.executable, "-m", "traffic", "--clients", "120", "--seed", "7", "--sink", "http",
           "--url", p.ingest_url, "--concurrency", "4", "--report", str(report_path), "--quiet"]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO / "bench")},
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(report_path.read_text())


@pytest.fixture(scope="module")
def etl_result(platform, traffic_report) -> dict:
    p, env = platform
    cmd = [sys.executable, "-m", "clickstream_local.etl_now", "--env-file", str(p.root / "state/etl/etl.env")]
    pythonpath = f"{REPO / 'lambdas/local_runtime'}:{REPO / 'lambdas/etl/src'}"
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env, "PYTHONPATH": pythonpath},
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dw(platform, moto_server, etl_result) -> Iterator[object]:
    p, _ = platform
    ssm = moto_server.client("ssm")
    password = ssm.get_parameter(Name="/clickstream/local/db/dw/dw_owner/password",
                                 WithDecryption=True)["Parameter"]["Value"]
    conn = psycopg2.connect(host="127.0.0.1", port=p.ports["dw"], dbname="clickstream_dw", user="dw_owner",
                            password=password)
    conn.autocommit = True
    yield conn
    conn.close()


def scalar(conn, sql: str):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_site_yml_provisions_everything(deployed):
    assert deployed.failed == 0
    assert {"localhost", "oltp-local", "dw-local"} <= set(deployed.recap)


def test_ingest_answers_match_what_the_generator_sent(traffic_report):
    expected, delivery = traffic_report["expected"], traffic_report["delivery"]
    assert delivery["failed_requests"] == 0, delivery
    assert delivery["accepted"] == expected["ingest_accepted"]
    assert delivery["rejected"] == expected["ingest_rejected"]
    assert traffic_report["events"]["malformed"] > 0 and traffic_report["events"]["duplicates"] > 0


def test_warehouse_counts_match_the_generator(dw, traffic_report, etl_result):
    expected = traffic_report["expected"]
    assert etl_result.get("status") == "succeeded", etl_result
    assert scalar(dw, "SELECT count(*) FROM dw.events") == expected["warehouse_events"]
    assert scalar(dw, "SELECT count(*) FROM dw.sessions") == expected["warehouse_sessions"]
    assert scalar(dw, "SELECT count(*) FROM dw.events WHERE is_first_visit") == expected["first_visits"]
    # Every re-sent copy the ingest accepted was dropped by the ETL, none went missing.
    assert scalar(dw, "SELECT coalesce(sum(duplicates), 0) FROM etl.runs") == traffic_report["events"]["duplicates"]
    by_name = dict(_rows(dw, "SELECT event_name, count(*) FROM dw.events GROUP BY 1"))
    assert by_name == traffic_report["events"]["by_name"]
    revenue = scalar(dw, "SELECT coalesce(sum(revenue), 0)::text FROM dw.sessions")
    assert revenue == traffic_report["purchases"]["revenue"]


def _rows(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_dashboards_show_the_warehouse(platform, dw, traffic_report, artifacts_dir):
    p, _ = platform
    console: list[str] = []
    shots = artifacts_dir / "screenshots" / "e2e"
    shots.mkdir(parents=True, exist_ok=True)
    with browser_page(p.shiny_url, console) as page:
        show_tab(page, "pipeline")
        pipeline = kpis(page, "pipeline")
        assert int(float(pipeline["events_loaded"])) == traffic_report["expected"]["warehouse_events"]
        # The local scheduler also runs the ETL (right after it starts, then on the rule's rate), so the last run
        # may be its own: the dashboard must show whatever the run log says, and no run may have failed.
        last_status = scalar(dw, "SELECT status FROM etl.runs ORDER BY run_id DESC LIMIT 1")
        assert pipeline["last_run_status"] == last_status
        assert scalar(dw, "SELECT count(*) FROM etl.runs WHERE status IN ('failed', 'abandoned')") == 0
        for tab in TABS:
            show_tab(page, tab)
            page.screenshot(path=str(shots / f"{tab}.png"), full_page=True)
        show_tab(page, "overview")
        overview = kpis(page, "overview")
        # The default period (last 7 days) holds the whole demo day.
        assert int(float(overview["events"])) == traffic_report["expected"]["warehouse_events"]
        assert int(float(overview["sessions"])) == traffic_report["expected"]["warehouse_sessions"]
    assert console == [], console


def test_second_site_run_changes_nothing(platform, etl_result):
    p, env = platform
    again = p.site(env)
    assert again.rc == 0, again.output[-6000:]
    assert again.changed == 0, f"changed tasks: {again.changed_tasks()}"

