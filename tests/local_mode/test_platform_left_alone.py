"""`make test` beside a running `make up` platform leaves it answering.

A stand-in for the user's platform is owned the way `make up` owns one: the `local` inventory (a copy with its own
ports and directories, scripts/harness/local_platform.py) and the real postgresql role, which records its clusters in
the platform's run directory through the inventory's variables (postgresql_cluster_name, postgresql_run_dir), plus
a service whose pid file sits in the run directory's layout (clickstream-ingest.pid). Its clusters are named
`oltp` and `dw`, like the user's, when no such clusters exist on this machine (otherwise names of its own: the
script has no special case for any name, so the same code runs either way). Then the suite's own clean-up runs
(scripts/local-services.sh stop with the suite's run directory, and Platform.close()), and the stand-in must still
answer with the same pids and the row written before; last, `make down` for the stand-in's run stops exactly it.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.local_platform import local_platform
from scripts.harness.net import free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PLAYBOOK = """\
- name: The stand-in platform's PostgreSQL clusters, as playbooks/databases.yml makes them
  hosts: oltp:dw
  gather_facts: false
  roles:
    - role: postgresql
"""


def clusters_on_machine() -> dict[str, tuple[str, str, str]]:
    """name -> (port, status, pid) of every PostgreSQL 15 cluster here."""
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        f = line.split()
        if f[0] == "15":
            pidfile = Path(f[5]) / "postmaster.pid"
            pid = pidfile.read_text().split()[0] if pidfile.exists() else ""
            found[f[1]] = (f[2], f[3], pid)
    return found


def psql(port: int, sql: str) -> str:
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                           "-h", "/var/run/postgresql", "-p", str(port), "-d", "postgres", "-c", sql],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def start_service(run_dir: Path, name: str, port: int, www: Path) -> int:
    """A process started as process_service starts one (start-stop-daemon, pid file <run dir>/<name>.pid)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    www.mkdir(parents=True, exist_ok=True)
    (www / "index.html").write_text(name)
    subprocess.run(["start-stop-daemon", "--start", "--background", "--make-pidfile",
                    "--pidfile", str(run_dir / f"{name}.pid"), "--chdir", str(www),
                    "--startas", "/usr/bin/python3", "--", "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                   check=True, capture_output=True)
    wait_for_port(port)
    return int((run_dir / f"{name}.pid").read_text())


def answers(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as r:
        return r.read().decode()


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def stop_run(run_dir: Path, *command: str) -> subprocess.CompletedProcess:
    cmd = list(command) or ["bash", str(REPO / "scripts/local-services.sh"), "stop"]
    return subprocess.run(cmd, env={**os.environ, "CLICKSTREAM_RUN_DIR": str(run_dir)}, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_suites_clean_up_leaves_a_running_platform_alone():
    on_machine = clusters_on_machine()
    if {"oltp", "dw"} & on_machine.keys():
        tag = uuid.uuid4().hex[:8]
        names = {"oltp": f"useroltp{tag}", "dw": f"userdw{tag}"}
    else:
        names = {"oltp": "oltp", "dw": "dw"}

    with local_platform("clickstream-user-standin-", clusters=names) as user:
        playbook = user.root / "standin.yml"
        playbook.write_text(PLAYBOOK)
        run = run_playbook(str(playbook), "-e", "postgresql_install_packages=false",
                           inventory=str(user.inventory), timeout=600)
        assert run.rc == 0, run.output[-4000:]
        run_dir = user.root / "run"
        for name in names.values():
            assert (run_dir / f"postgresql-15-{name}.cluster").read_text() == f"15 {name}\n"
        psql(user.ports["oltp"], "CREATE TABLE standin (v text); INSERT INTO standin VALUES ('written before')")
        ingest_port = free_port()
        ingest_pid = start_service(run_dir, "clickstream-ingest", ingest_port, user.root / "www")
        before = clusters_on_machine()
        assert all(before[n][1] == "online" for n in names.values()), before

        # The suite's own run: a Platform with a service of its own; its clean-up is the script's stop with its
        # run directory, then Platform.close() (the script again, and dropping its own clusters).
        with local_platform("clickstream-suite-run-") as suite:
            suite_port = free_port()
            suite_pid = start_service(suite.root / "run", "clickstream-ingest", suite_port, suite.root / "www")
            stopped = stop_run(suite.root / "run")
            assert stopped.returncode == 0, stopped.stderr
            assert not alive(suite_pid), "the suite's own service was not stopped by its own run's stop"
            suite.close()

        after = clusters_on_machine()
        for name in names.values():
            assert after[name] == before[name], f"cluster {name} changed under the suite's clean-up: {after[name]}"
        assert psql(user.ports["oltp"], "SELECT v FROM standin") == "written before"
        assert alive(ingest_pid) and answers(ingest_port) == "clickstream-ingest"
        assert int((run_dir / "clickstream-ingest.pid").read_text()) == ingest_pid

        # `make down` for the stand-in's own run stops exactly what that run records.
        down = stop_run(run_dir, "make", "-s", "-C", str(REPO), "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not alive(ingest_pid)
        gone = clusters_on_machine()
        assert all(gone[n][1] == "down" for n in names.values()), gone
