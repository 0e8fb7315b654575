"""The shiny_server role's re-run with nothing to change: changed=0, the app not restarted, and few module runs
(bench/provisioning's count, from its task_ledger callback); then drift on the host is read and put back.

The role runs as the Dashboards play runs it on the local inventory (this machine, start-stop-daemon), with the
Molecule scenario's stand-in app, its own port, directories and SSM prefix in this test's moto server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.net import free_port
from scripts.harness.task_ledger import CALLBACKS, ledger_counts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# The no-op re-run's module runs in a whole site.yml run, where the Databases play has already read the reader's
# password on this host: the package and user facts, and the app with its settings and service. Run alone (this
# test) the role reads the password itself: one more.
SHINY_NOOP_MODULE_RUNS_ALONE = 3

PLAYBOOK = """\
- name: Dashboards (as playbooks/shiny.yml)
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/amazon.aws.aws: &aws
      region: us-east-1
      endpoint_url: "{{ clickstream_aws_endpoint_url }}"
    group/clickstream.platform.aws: *aws
  roles:
    - role: shiny_server
"""


def test_shiny_noop_rerun_is_cheap_restarts_nothing_and_puts_drift_back(tmp_path, moto_server) -> None:
    moto_server.reset()
    port = free_port()
    # Under /var/tmp, world-traversable: the shiny user reads the app (pytest's tmp_path is 0700).
    root = Path(tempfile.mkdtemp(prefix="clickstream-shiny-noop-", dir="/var/tmp"))
    variables = {
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "clickstream_project": "noop", "clickstream_environment": "shiny", "clickstream_ssm_prefix": "/noop/shiny",
        "clickstream_common_tags": {"Project": "noop"}, "clickstream_aws_region": "us-east-1",
        "clickstream_aws_endpoint_url": moto_server.url, "clickstream_aws_access_key": "testing",
        "clickstream_aws_secret_key": "testing",
        "clickstream_local_run_dir": str(root / "run"), "clickstream_local_log_dir": str(root / "log"),
        "clickstream_local_state_dir": str(root / "state"),
        "shiny_server_app_src": str(REPO / "roles/shiny_server/molecule/default/files/app"),
        "shiny_server_app_dir": str(root / "app"), "shiny_server_service_name": f"clickstream-shiny-noop-{port}",
        "shiny_server_bind_address": "127.0.0.1", "shiny_server_port": port,
        "shiny_server_db_config": str(root / "etc/db.env"), "shiny_server_db_port": 25435,
    }
    root.chmod(0o755)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    args = [str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}"]
    pidfile = root / "run" / f"{variables['shiny_server_service_name']}.pid"
    try:
        first = run_playbook(*args, inventory="localhost,", env=moto_server.env())
        assert first.rc == 0, first.output[-4000:]
        pid = pidfile.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200

        ledger = tmp_path / "second.jsonl"
        second = run_playbook(*args, inventory="localhost,", env={
            **moto_server.env(), "ANSIBLE_CALLBACKS_ENABLED": "task_ledger", "TASK_LEDGER_PATH": str(ledger),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS)})
        assert second.rc == 0 and second.changed == 0, second.changed_tasks()
        (play,) = ledger_counts(ledger)["plays"].values()
        assert play["modules"] <= SHINY_NOOP_MODULE_RUNS_ALONE, play
        assert pidfile.read_text() == pid, "the app was restarted on a no-op run"

        check = run_playbook(*args, "--check", inventory="localhost,", env=moto_server.env())
        assert check.rc == 0 and check.changed == 0, check.changed_tasks()

        # Drift: an app file and the settings' mode changed on the host are put back, and the app restarted.
        app = root / "app/app.R"
        wanted = app.read_text()
        app.write_text(wanted + "# changed on the host\n")
        (root / "etc/db.env").chmod(0o644)
        drift = run_playbook(*args, inventory="localhost,", env=moto_server.env())
        assert drift.rc == 0, drift.output[-4000:]
        assert drift.changed_tasks() == ["process_service : Run the service under start-stop-daemon"]
        assert app.read_text() == wanted
        assert (root / "etc/db.env").stat().st_mode & 0o777 == 0o600
        assert pidfile.read_text() != pid, "the app was not restarted after its file was put back"
    finally:
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", str(pidfile), "--remove-pidfile",
                        "--retry", "TERM/15/KILL/5"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
