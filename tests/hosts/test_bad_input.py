"""Bad input fails with a clear message before anything changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scripts.harness.ansible import run_playbook


def test_plain_text_password_in_inventory_is_refused() -> None:
    secret = "Plain-Text-Secret-42"
    run = run_playbook("playbooks/databases.yml", "--tags", "dw", "-e",
                       json.dumps({"dw_db_passwords": {"etl_writer": secret}}))
    text = " ".join(run.output.split())
    assert run.rc != 0
    assert "must be vault-encrypted" in text
    assert "Plain text given for: etl_writer" in text
    assert secret not in run.output
    assert run.changed == 0


def test_unknown_password_key_is_refused() -> None:
    run = run_playbook("playbooks/databases.yml", "--tags", "oltp", "-e",
                       json.dumps({"oltp_db_passwords": {"shop_apps": "x"}}))
    assert run.rc != 0
    assert "Unknown parameter(s): shop_apps" in " ".join(run.output.split())
    assert run.changed == 0


def test_missing_required_variable_fails_before_any_change(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"dw": {"hosts": {"dw-incomplete": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "postgresql_cluster_name": "never_created", "postgresql_port": 55499,
        # postgresql_workload is missing
    }}}}}}))
    run = run_playbook("playbooks/databases.yml", "--tags", "dw", inventory=str(inventory))
    assert run.rc != 0
    assert "missing required arguments: postgresql_workload" in " ".join(run.output.split())
    assert run.changed == 0
    assert not Path("/etc/postgresql/15/never_created").exists()
