"""The local inventory's emulator lifecycle and preflight checks, run through ansible-playbook as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.moto import DUMMY_CREDENTIALS
from scripts.harness.net import free_port

pytestmark = pytest.mark.integration


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=3) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def dirs_vars(tmp: Path) -> list[str]:
    """Keep this test's pid files, logs and launcher scripts apart from the user's local services."""
    return ["-e", f"clickstream_local_run_dir={tmp}/run", "-e", f"clickstream_local_log_dir={tmp}/log",
            "-e", f"clickstream_local_state_dir={tmp}/state"]


def stop_services(tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLICKSTREAM_RUN_DIR": f"{tmp}/run"}
    return subprocess.run(["bash", str(REPO / "scripts/local-services.sh"), "stop"], env=env,
                          capture_output=True, text=True, check=False)


def test_starts_moto_when_nothing_answers_then_reuses_it_and_stops(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": url}
    assert not answers(url)
    try:
        first = run_playbook("playbooks/preflight.yml", *dirs_vars(tmp_path), env=env)
        assert first.rc == 0, first.output
        assert answers(url), "the preflight play did not leave an emulator running"
        assert (tmp_path / f"run/clickstream-moto-{port}.pid").exists()
        # IAM managed policies must be loaded (MOTO_IAM_LOAD_MANAGED_POLICIES), or attaching them fails later.
        import boto3

        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
        assert iam.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn

        second = run_playbook("playbooks/preflight.yml", *dirs_vars(tmp_path), env=env)
        assert second.rc == 0 and second.changed == 0, second.output
    finally:
        stopped = stop_services(tmp_path)
    assert f"stopped clickstream-moto-{port}" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not answers(url)


def test_check_mode_still_gets_an_emulator_to_read(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": url}
    try:
        run = run_playbook("playbooks/preflight.yml", "--check", *dirs_vars(tmp_path), env=env)
        assert run.rc == 0, run.output
        assert answers(url)
    finally:
        stop_services(tmp_path)


def test_an_emulator_that_already_answers_is_used_as_is(moto_server, tmp_path):
    run = run_playbook("playbooks/preflight.yml", *dirs_vars(tmp_path), env=moto_server.env())
    assert run.rc == 0, run.output
    assert run.changed == 0
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").glob("*.pid"))


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("clickstream_environment", "production2", "clickstream_environment=production2"),
        ("clickstream_project", "Bad_Name", "clickstream_project=Bad_Name"),
        ("clickstream_aws_account_id", "12345", "clickstream_aws_account_id=12345"),
    ],
)
def test_bad_project_variable_fails_before_anything_is_created(moto_server, var, value, message):
    moto_server.reset()
    run = run_playbook("site.yml", "-e", f"{var}={value}", env=moto_server.env())
    assert run.rc != 0
    assert message in run.output
    assert "Preflight" in run.output
    # Nothing was created: the failure came before any AWS change.
    assert moto_server.client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Project", "Values": ["clickstream"]}])["Vpcs"] == []
    assert moto_server.client("s3").list_buckets()["Buckets"] == []


def test_wrong_account_is_refused(moto_server):
    run = run_playbook("playbooks/preflight.yml", "-e", "clickstream_aws_account_id=999999999999",
                       env=moto_server.env())
    assert run.rc != 0
    assert "reach AWS account 123456789012" in run.output


def test_venv_python_is_used(tmp_path):
    # The local inventory runs modules with the playbook's interpreter (the project venv), not pyenv shims.
    play = tmp_path / "p.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                    "    - ansible.builtin.debug:\n        msg: 'PY={{ ansible_python_interpreter }}'\n")
    run = run_playbook(str(play))
    assert run.rc == 0
    assert f"PY={sys.executable}" in run.output or f"PY={Path(sys.executable).parent}" in run.output
