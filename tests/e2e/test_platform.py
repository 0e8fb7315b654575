"""End to end, as `make up` does it: fresh emulator and databases -> site.yml -> the demo month (29 days of raw
objects in the ingest's layout, the last 24 hours through the HTTP endpoint, `traffic.demo`) -> ETL -> warehouse
counts equal what the generator says it sent -> the dashboards show them (screenshots of the six dashboards in
tests/artifacts/screenshots/e2e; every table inside its card).

It runs the very same playbooks through a copy of the local inventory whose PostgreSQL clusters, ports and
service directories are the test's own, so a `make up` platform on the same machine is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import psycopg2
import pytest

from scripts.harness.ansible import REPO
from scripts.harness.local_platform import Platform, local_platform
from tests.dashboards.support import (
    TABS,
    browser_page,
    kpis,
    set_dates,
    show_tab,
    table_rows,
    tables_outside_cards,
)

# A hang guard, not a time assertion: on a loaded 2-core machine one site.yml run can take over 15 minutes.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2700)]


@pytest.fixture(scope="module")
def platform(moto_server) -> Iterator[tuple[Platform, dict[str, str]]]:
    moto_server.reset()
    with local_platform("clickstream-e2e-") as p:
        yield p, moto_server.env()


@pytest.fixture(scope="module")
def deployed(platform):
    p, env = platform
    first = p.site(env)
    assert first.rc == 0, first.output[-6000:]
    return first


DEMO_DAYS = 30


@pytest.fixture(scope="module")
def timings() -> dict[str, float]:
    """Wall time of `make up`'s demo step here (sending the month, then the ETL), written to tests/artifacts."""
    return {}


@pytest.fixture(scope="module")
def traffic_report(platform, deployed, moto_server, timings) -> dict:
    """The demo month exactly as `make up` sends it (scripts/up.sh: same module, same defaults)."""
    p, env = platform
    report_path = p.root / "traffic.json"
    cmd = [sys.executable, "-m", "traffic.demo", "--env-file", str(p.root / "state/etl/etl.env"),
           "--url", p.ingest_url, "--seed", "7", "--report", str(report_path), "--quiet"]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO / "bench")},
                          capture_output=True, text=True, timeout=1800)
    timings["demo_traffic_s"] = round(time.monotonic() - started, 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(report_path.read_text())


@pytest.fixture(scope="module")
def etl_result(platform, traffic_report, timings, artifacts_dir) -> dict:
    p, env = platform
    cmd = [sys.executable, "-m", "clickstream_local.etl_now", "--env-file", str(p.root / "state/etl/etl.env")]
    pythonpath = f"{REPO / 'lambdas/local_runtime'}:{REPO / 'lambdas/etl/src'}"
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env, "PYTHONPATH": pythonpath,
                                              "LISTING_LOOKBACK_HOURS": "0"},  # as scripts/up.sh runs it
                          capture_output=True, text=True, timeout=1800)
    timings["etl_s"] = round(time.monotonic() - started, 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (artifacts_dir / "e2e-demo-month.json").write_text(json.dumps(
        {"events": traffic_report["events"]["valid"], "raw_objects": traffic_report["delivery"]["s3"],
         "parts": [{k: part[k] for k in ("name", "sink", "clients", "events", "elapsed_s")}
                   for part in traffic_report["parts"]],
         "etl_run": result, **timings}, indent=2) + "\n")
    return result


def _secret(moto_server, name: str) -> str:
    return moto_server.client("ssm").get_parameter(Name=f"/clickstream/local/db/{name}", WithDecryption=True)[
        "Parameter"]["Value"]


@pytest.fixture(scope="module")
def dw(platform, moto_server, etl_result) -> Iterator[object]:
    p, _ = platform
    conn = psycopg2.connect(host="127.0.0.1", port=p.ports["dw"], dbname="clickstream_dw", user="dw_owner",
                            password=_secret(moto_server, "dw/dw_owner/password"))
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


def test_site_yml_configures_both_databases_and_shiny(platform, deployed, moto_server):
    """Each generated password is in SSM only (never in the output), works over TLS for its role, and the shop's
    DATABASE_URL names the least-privilege app role; Shiny answers."""
    p, _ = platform
    url = _secret(moto_server, "oltp/database_url")
    app_password = _secret(moto_server, "oltp/shop_app/password")
    assert url.startswith(f"postgresql://shop_app:{app_password}@127.0.0.1:{p.ports['oltp']}/shop?")
    with psycopg2.connect(host="127.0.0.1", port=p.ports["oltp"], dbname="shop", user="shop_app",
                          password=app_password, sslmode="require") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM products")
        assert cur.fetchone()[0] > 50
    passwords = [app_password]
    for role in ("dw_owner", "etl_writer", "dashboard_reader"):
        password = _secret(moto_server, f"dw/{role}/password")
        passwords.append(password)
        with psycopg2.connect(host="127.0.0.1", port=p.ports["dw"], dbname="clickstream_dw", user=role,
                              password=password, sslmode="require") as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert cur.fetchone() == (role, True)
    assert not [pw for pw in passwords if pw in deployed.output]
    with urllib.request.urlopen(p.shiny_url, timeout=30) as response:
        assert response.status == 200 and "shiny" in response.read().decode().lower()


def test_ingest_answers_match_what_the_generator_sent(traffic_report):
    http = [part for part in traffic_report["parts"] if part["sink"] == "http"]
    assert len(http) == 1
    expected, delivery = http[0]["expected"], http[0]["delivery"]
    assert delivery["failed_requests"] == 0, delivery
    assert delivery["accepted"] == expected["ingest_accepted"]
    assert delivery["rejected"] == expected["ingest_rejected"]
    assert traffic_report["events"]["malformed"] > 0 and traffic_report["events"]["duplicates"] > 0
    assert len(traffic_report["events"]["by_day"]) >= DEMO_DAYS - 1  # the last day may have just begun


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
    # The bad-data incident: the ETL rejected the truncated lines, the ingest's rejects were counted.
    assert scalar(dw, "SELECT coalesce(sum(rejects), 0) FROM etl.runs") == traffic_report["delivery"]["s3"][
        "corrupt_lines"] > 0
    assert scalar(dw, "SELECT coalesce(sum(rejects), 0) FROM dw.agg_hourly_ingest_rejects") == traffic_report[
        "events"]["malformed"]


def _rows(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_dashboards_show_the_demo_month(platform, dw, traffic_report, artifacts_dir):
    p, _ = platform
    console: list[str] = []
    shots = artifacts_dir / "screenshots" / "e2e"
    shots.mkdir(parents=True, exist_ok=True)
    today = scalar(dw, "SELECT (now() AT TIME ZONE 'UTC')::date")
    days = [(today - timedelta(days=DEMO_DAYS - 1 - i)).isoformat() for i in range(DEMO_DAYS)]
    by_day = traffic_report["events"]["by_day"]
    with browser_page(p.shiny_url, console) as page:
        show_tab(page, "pipeline")
        pipeline = kpis(page, "pipeline")
        assert int(float(pipeline["events_loaded"])) == traffic_report["expected"]["warehouse_events"]
        # The local scheduler also runs the ETL (right after it starts, then on the rule's rate), so the last run
        # may be its own: the dashboard must show whatever the run log says, and no run may have failed.
        last_status = scalar(dw, "SELECT status FROM etl.runs ORDER BY run_id DESC LIMIT 1")
        assert pipeline["last_run_status"] == last_status
        assert scalar(dw, "SELECT count(*) FROM etl.runs WHERE status IN ('failed', 'abandoned')") == 0
        assert int(float(pipeline["ingest_rejects_total"])) == traffic_report["events"]["malformed"]
        assert int(float(pipeline["rejects_total"])) == traffic_report["delivery"]["s3"]["corrupt_lines"]
        set_dates(page, days[0], days[-1])
        for tab in TABS:
            show_tab(page, tab)
            page.screenshot(path=str(shots / f"{tab}.png"), full_page=True)
            count, outside = tables_outside_cards(page, tab)
            assert outside == [], (tab, outside)
        show_tab(page, "overview")
        overview = kpis(page, "overview")
        assert int(float(overview["events"])) == traffic_report["expected"]["warehouse_events"]
        assert int(float(overview["sessions"])) == traffic_report["expected"]["warehouse_sessions"]
        # The per-day series covers all 30 days of the demo, each with the events the generator sent that day.
        daily = {r["day"]: int(float(r["events"])) for r in table_rows(page, "overview-daily-table")}
        expected_days = {d: by_day[d] for d in days if by_day.get(d)}
        assert daily == expected_days
        assert len(daily) == DEMO_DAYS or (len(daily) == DEMO_DAYS - 1 and days[-1] not in by_day), sorted(daily)
        # Acquisition: every session of the month in a channel (dw.agg_daily_acquisition, kept by the ETL's runs)
        show_tab(page, "acquisition")
        channels = {r["channel_group"]: r for r in table_rows(page, "acquisition-channels-table")}
        assert int(float(channels.pop("Total")["sessions"])) == traffic_report["expected"]["warehouse_sessions"]
        assert len(channels) > 1, channels  # the demo's traffic comes from several channels
        show_tab(page, "overview")
        page.click("#overview-daily_numbers summary")
        count, outside = tables_outside_cards(page, "overview")
        assert count >= 1 and outside == [], outside
    assert console == [], console


def test_second_site_run_changes_nothing(platform, etl_result, moto_server):
    p, env = platform
    again = p.site(env)
    assert again.rc == 0, again.output[-6000:]
    assert again.changed == 0, f"changed tasks: {again.changed_tasks()}"
    assert _secret(moto_server, "dw/etl_writer/password") not in again.output



def test_check_on_the_provisioned_platform_changes_nothing(platform, etl_result):
    # site.yml --check on a platform with no drift: nothing would change (the empty-platform case:
    # tests/local_mode/test_check_mode.py).
    p, env = platform
    check = p.site(env, "--check")
    assert check.rc == 0, check.output[-6000:]
    assert check.changed == 0, f"would change: {check.changed_tasks()}"
