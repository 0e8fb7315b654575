"""The preflight play on the AWS path (inventories/aws as shipped, plus the account id the emulator has), against
a real moto server reached through AWS_ENDPOINT_URL alone. moto loads a Debian 12 image under Debian's owner id
from MOTO_AMIS_PATH, so the AMI the compute role would pick exists; each test breaks one thing and checks that the
play fails (or warns) naming it. Lambda concurrency and instance type offerings cannot be made to fail in moto:
tests/preflight/test_preflight_modules.py covers them with a stubbed client."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.moto import MotoServer

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
DEBIAN_OWNER = "136693071363"
ARTIFACTS = f"clickstream-dev-artifacts-{ACCOUNT}-us-east-1"
MANIFEST = "apt/bookworm-amd64/manifest.json"
DEBIAN_12 = {"ami_id": "ami-0d0e0b1a2b3c4d5e6", "name": "debian-12-amd64-20260101-2000", "owner_id": DEBIAN_OWNER,
             "architecture": "x86_64", "root_device_type": "ebs", "virtualization_type": "hvm",
             "state": "available", "public": True, "image_type": "machine", "hypervisor": "xen",
             "root_device_name": "/dev/xvda", "creation_date": "2026-01-01T20:00:00.000Z",
             "description": "Debian 12 (bookworm)"}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server of its own: MOTO_AMIS_PATH is read when it starts."""
    tmp = tmp_path_factory.mktemp("preflight-moto")
    amis = tmp / "amis.json"
    amis.write_text(json.dumps([DEBIAN_12]))
    before = os.environ.get("MOTO_AMIS_PATH")
    os.environ["MOTO_AMIS_PATH"] = str(amis)
    try:
        server = MotoServer(tmp)
    finally:
        if before is None:
            os.environ.pop("MOTO_AMIS_PATH")
        else:
            os.environ["MOTO_AMIS_PATH"] = before
    yield server
    server.close()


@pytest.fixture()
def plugin_dir(tmp_path: Path) -> Path:
    """A directory holding a stand-in session-manager-plugin (the check looks for the file, it never runs it)."""
    d = tmp_path / "bin"
    d.mkdir()
    plugin = d / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\necho stand-in\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    return d


def preflight(emulator: MotoServer, tmp_path: Path, path: str, inventory: str = "inventories/aws",
              args: tuple[str, ...] = (), **overrides: object) -> PlaybookRun:
    varfile = tmp_path / "overlay.json"
    varfile.write_text(json.dumps({"clickstream_aws_account_id": ACCOUNT, **overrides}))
    env = {**emulator.env(), "PATH": path}
    return run_playbook("playbooks/preflight.yml", "-e", f"@{varfile}", *args, inventory=inventory, env=env)


def system_path(extra: Path | None = None) -> str:
    return ":".join(([str(extra)] if extra else []) + ["/usr/bin", "/bin"])


def flat(text: str) -> str:
    """The output with YAML's line wrapping undone (one space for any run of whitespace and quote joins)."""
    return " ".join(text.replace("'\n", "\n").split())


def failures(run: PlaybookRun) -> str:
    return flat(run.output[run.output.find("preflight check(s) failed"):])


def test_everything_in_place_passes(emulator, tmp_path, plugin_dir):
    """The shipped aws inventory on a correctly set-up account: Debian image, published mirror, the plugin."""
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key=MANIFEST, Body=b'{"format": 1, "packages": [], "files": {}}')
    try:
        run = preflight(emulator, tmp_path, system_path(plugin_dir), postgresql_install_source="mirror",
                        network_oltp_trusted_cidrs=["198.51.100.0/24"])
    finally:
        s3.delete_object(Bucket=ARTIFACTS, Key=MANIFEST)
        s3.delete_bucket(Bucket=ARTIFACTS)
    assert run.rc == 0, run.output
    assert run.changed == 0
    assert "preflight check(s) failed" not in run.output
    assert "Preflight warnings" not in run.output
    # the AMI, instance type and mirror checks ran (not skipped)
    for task in ("Find the images the compute role would pick", "Find the instance types offered in the subnets",
                 "Look for the package mirror's manifest in the artifacts bucket"):
        assert f"TASK [preflight : {task}" in run.output


def test_wrong_account_fails_naming_the_variable(emulator, tmp_path, plugin_dir):
    run = preflight(emulator, tmp_path, system_path(plugin_dir), clickstream_aws_account_id="111122223333")
    assert run.rc != 0
    msg = failures(run)
    assert f"The credentials reach AWS account {ACCOUNT}" in msg
    assert "clickstream_aws_account_id is 111122223333" in msg


def test_missing_session_manager_plugin_fails(emulator, tmp_path):
    """Finding 6: the hosts use community.aws.aws_ssm and the control node has no session-manager-plugin."""
    if Path("/usr/local/bin/session-manager-plugin").exists():
        pytest.skip("this machine has session-manager-plugin in /usr/local/bin, where the connection looks first")
    run = preflight(emulator, tmp_path, system_path())
    assert run.rc != 0
    msg = failures(run)
    assert "session-manager-plugin is not on the control node" in msg
    assert "community.aws.aws_ssm" in msg
    assert "1 preflight check(s) failed" in run.output  # nothing else is wrong


def test_plugin_is_not_needed_when_hosts_use_another_connection(emulator, tmp_path):
    run = preflight(emulator, tmp_path, system_path(), clickstream_ec2_connection="ansible.builtin.ssh")
    assert run.rc == 0, failures(run)
    assert "TASK [preflight : Record a missing session-manager-plugin]" not in run.output


def test_discovered_hosts_decide_connection_and_install_source(emulator, tmp_path):
    """Once the instances exist, their own variables count: here a dw host reached without Session Manager that
    installs from the (unpublished) mirror, while the inventory-wide clickstream_ec2_connection still says aws_ssm."""
    hosts = tmp_path / "discovered.yml"
    hosts.write_text(json.dumps({"dw": {"hosts": {"clickstream-dev-dw": {
        "ansible_connection": "ansible.builtin.ssh", "postgresql_install_source": "mirror"}}}}))
    run = preflight(emulator, tmp_path, system_path(), args=("-i", str(hosts)))
    assert run.rc != 0
    msg = failures(run)
    assert "1 preflight check(s) failed" in run.output
    assert "does not exist. Publish it" in msg
    assert "session-manager-plugin" not in msg


def test_missing_ami_fails_naming_the_variables(emulator, tmp_path, plugin_dir):
    run = preflight(emulator, tmp_path, system_path(plugin_dir),
                    ec2_instances_ami_filters={"name": "debian-13-amd64-*", "architecture": "x86_64"})
    assert run.rc != 0
    msg = failures(run)
    assert "No AMI in us-east-1 matches owners" in msg
    assert "debian-13-amd64-*" in msg
    assert "ec2_instances_ami_filters" in msg


def test_unpublished_mirror_fails_when_the_hosts_install_from_it(emulator, tmp_path, plugin_dir):
    run = preflight(emulator, tmp_path, system_path(plugin_dir), shiny_server_install_source="mirror")
    assert run.rc != 0
    msg = failures(run)
    assert f"s3://{ARTIFACTS}/{MANIFEST} does not exist" in msg
    assert "playbooks/package-mirror.yml" in msg


def test_storage_alone_needs_neither_plugin_nor_mirror(emulator, tmp_path):
    """Step 0 creates the artifacts bucket with --tags storage before the mirror is published."""
    run = preflight(emulator, tmp_path, system_path(), args=("--tags", "storage"), postgresql_install_source="mirror")
    assert run.rc == 0, failures(run)
    assert "TASK [preflight : Check the AMI and the instance types]" in run.output  # the other checks still ran
    with_hosts = preflight(emulator, tmp_path, system_path(), args=("--tags", "dw"),
                           postgresql_install_source="mirror")
    assert with_hosts.rc != 0
    assert "2 preflight check(s) failed" in with_hosts.output


def test_several_failures_are_listed_together(emulator, tmp_path):
    run = preflight(emulator, tmp_path, system_path(), clickstream_aws_account_id="111122223333",
                    postgresql_install_source="mirror")
    assert run.rc != 0
    msg = failures(run)
    assert "3 preflight check(s) failed" in run.output
    for part in ("clickstream_aws_account_id is 111122223333", "session-manager-plugin is not",
                 "does not exist. Publish it"):
        assert part in msg


def test_localhost_origins_warn_without_failing(emulator, tmp_path, plugin_dir):
    """Finding 8: a non-local inventory whose CORS origins and Cognito URLs point at localhost gets a warning."""
    run = preflight(emulator, tmp_path, system_path(plugin_dir), clickstream_shop_origins=["http://localhost:3000"],
                    network_oltp_trusted_cidrs=["198.51.100.0/24"])
    assert run.rc == 0, failures(run)
    warning = flat(run.output[run.output.find("Preflight warnings"):])
    assert "Localhost URLs in a non-local inventory" in warning
    for name in ("ingest_cors_allow_origins = http://localhost:3000",
                 "identity_callback_urls = http://localhost:3000/api/auth/callback/cognito",
                 "identity_logout_urls = http://localhost:3000/"):
        assert name in warning


def test_frontend_hosting_without_trusted_cidrs_warns(emulator, tmp_path, plugin_dir):
    """Item 6: Amplify SSR has no fixed egress addresses; with no trusted CIDR the shop cannot reach the OLTP DB."""
    run = preflight(emulator, tmp_path, system_path(plugin_dir))
    assert run.rc == 0, failures(run)
    assert "network_oltp_trusted_cidrs is empty: Amplify SSR has no fixed egress addresses" in flat(run.output)
    off = preflight(emulator, tmp_path, system_path(plugin_dir), frontend_hosting_enabled=False,
                    clickstream_shop_origins=["https://shop.example.com"])
    assert off.rc == 0, failures(off)
    assert "Preflight warnings" not in off.output


def test_local_inventory_skips_the_real_account_checks_with_a_reason(emulator, tmp_path):
    run = preflight(emulator, tmp_path, system_path(), inventory="inventories/local")
    assert run.rc == 0, run.output
    assert "Real-account checks skipped (preflight_real_account_checks is false" in flat(run.output)
    assert "TASK [preflight : Find the images the compute role would pick" not in run.output


def test_teardown_checks_the_account_but_not_the_deployment_needs(emulator, tmp_path):
    """Removing what exists must not need the plugin or a published mirror. `--tags preflight-only` matches no
    teardown task, so only the preflight play (tag always) runs."""
    varfile = tmp_path / "overlay.json"
    varfile.write_text(json.dumps({"clickstream_aws_account_id": ACCOUNT, "postgresql_install_source": "mirror"}))
    env = {**emulator.env(), "PATH": system_path()}
    run = run_playbook("playbooks/teardown.yml", "-e", f"@{varfile}", "--tags", "preflight-only",
                       inventory="inventories/aws", env=env)
    assert run.rc == 0, failures(run)
    assert "TASK [preflight : Read the caller identity]" in run.output
    assert "Real-account checks skipped (preflight_real_account_checks is false" in flat(run.output)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"clickstream_aws_account_id": "111122223333"}))
    refused = run_playbook("playbooks/teardown.yml", "-e", f"@{wrong}", "--tags", "preflight-only",
                           inventory="inventories/aws", env=env)
    assert refused.rc != 0
    assert "clickstream_aws_account_id is 111122223333" in failures(refused)
