"""The AWS inventory (inventories/aws, as it ships) plus one small overlay, for running site.yml against moto.

The emulator is reached the way botocore reaches AWS: AWS_ENDPOINT_URL and AWS_* credentials in the environment.
No Ansible variable names it, so every `endpoint_url: "{{ ... or omit }}"` takes its AWS branch and the aws_ec2
inventory plugin discovers the instances the compute play launched in the emulator.

The overlay is a second inventory source (`-i inventories/aws -i <root>/overlay`): a directory with only
group_vars, which override the AWS inventory's (later sources win). It holds exactly what differs here:

all
  clickstream_aws_account_id  moto's fixed account (the shipped file has a placeholder the user replaces).
  ec2_instances_wait_for_ssm  false: moto implements no DescribeInstanceInformation, so nothing can register with
                              Systems Manager (tests/aws_path/test_ssm_ready.py tests the wait with a stub).
  storage_deny_insecure_transport
                              false: moto applies bucket policies but not their conditions, so the TLS-only deny
                              would refuse every request to the plain-HTTP emulator (as the local inventory does).
  frontend_hosting_enabled    false: moto has no Amplify API (every call answers 500); the shop is then hosted
                              elsewhere, so clickstream_shop_origins names its origin.
  clickstream_shop_origins    the stand-in shop's origin (the ingest API's CORS, Cognito's callback URLs).
  clickstream_ec2_connection  local instead of community.aws.aws_ssm (no Session Manager here): the EC2 hosts'
                              connection, which preflight's session-manager-plugin check follows too.
  clickstream_lake_enabled    true: the lake switched on (off as shipped), so its AWS-only branches run here too:
                              the Glue interface endpoint in the ETL subnet, the ETL package over 50 MB deployed
                              through the artifacts bucket, the tables and views made through AWS_ENDPOINT_URL
                              alone, and the teardown of the lake. The lake-off platform is what the local
                              inventory's tests check with the switch off (tests/lake/test_lake_role.py).
  lake_deny_insecure_transport
                              false, as storage_deny_insecure_transport.
oltp, dw (the EC2 instances, stood in for by this machine)
  the venv's interpreter (their connection is clickstream_ec2_connection above),
  become by su (no sudo here); their own PostgreSQL cluster names and ports, listening on 127.0.0.1 (the
  emulator's private addresses exist nowhere), memory settings derived from 1 GB (two clusters and Shiny share
  this machine, as in the local inventory); migration/catalog copies and the backup script, settings and loop
  (pg_backup_dir, _run_dir, _log_dir, _script_dir) under the test root.
dw
  the package mirror kept under the test root: its copy of the repository, its apt source file and the apt state
  the index is loaded into (this machine's apt configuration and lists are never touched); the other sources
  are left alone (the inventory disables them on the real DW).
  The mirror's builder (this machine, playbooks/package-mirror.yml) keeps its work directory between test runs
  (package_mirror_work_dir), so the Debian packages are downloaded once per machine.
shiny
  bind 127.0.0.1 on a free port, the DW stand-in's port, service name, app, settings, run/log/state dirs under
  the test root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from scripts.harness.ansible import REPO, PlaybookRun, run_playbook
from scripts.harness.net import free_port

ACCOUNT_ID = "123456789012"
DEBIAN_OWNER = "136693071363"


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=True))


class AwsPath:
    """inventories/aws + an overlay under `root`, with its own clusters, ports and directories."""

    def __init__(self, root: Path, env: dict[str, str], mirror_build_dir: Path | None = None) -> None:
        self.root = root
        self.env = env
        self.overlay = root / "overlay"
        suffix = root.name.replace("-", "").replace("_", "")[-8:].lower()
        self.clusters = {"oltp": f"awsoltp{suffix}", "dw": f"awsdw{suffix}"}
        self.ports = {"oltp": free_port(), "dw": free_port(), "shiny": free_port()}
        self.service = f"clickstream-shiny-{suffix}"
        stand_in = {
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become_method": "ansible.builtin.su",
            "postgresql_listen_addresses": ["127.0.0.1"],
            "postgresql_memory_limit_mb": 1024,
            # The backup script, its settings and its loop (no cron daemon here) under the test root.
            "pg_backup_dir": str(root / "pg-backup"),
            "pg_backup_run_dir": str(root / "run"),
            "pg_backup_log_dir": str(root / "log"),
            "pg_backup_script_dir": str(root / "state/services"),
            # Emulator gap: no instance metadata service, so no instance-profile credentials for the backup tools
            # on these stand-in hosts; the emulator's dummy keys (not secrets) stand in for them.
            "pg_backup_access_key": "testing",
            "pg_backup_secret_key": "testing",
        }
        overlay_all = {
            "clickstream_aws_account_id": ACCOUNT_ID,
            "ec2_instances_wait_for_ssm": False,
            "storage_deny_insecure_transport": False,
            "frontend_hosting_enabled": False,
            "clickstream_shop_origins": ["https://shop.example.com"],
            "clickstream_ec2_connection": "local",
            "clickstream_lake_enabled": True,
            "lake_deny_insecure_transport": False,
            # the suite's CA and the mirror's signing key (control node) of this test only
            "clickstream_tls_ca_dir": str(root / "control/pki"),
            "clickstream_mirror_signing_dir": str(root / "control/mirror-signing"),
        }
        if mirror_build_dir is not None:
            overlay_all["package_mirror_work_dir"] = str(mirror_build_dir)
        _write(self.overlay / "group_vars/all/overlay.yml", overlay_all)
        _write(self.overlay / "group_vars/oltp/overlay.yml", {
            **stand_in,
            "postgresql_cluster_name": self.clusters["oltp"],
            "postgresql_port": self.ports["oltp"],
        })
        apt = root / "dw/apt"
        self.mirror = {"local_dir": str(root / "dw/mirror"), "source_file": str(apt / "etc/clickstream-mirror.list"),
                       "apt_state": str(apt / "state"), "apt_cache": str(apt / "cache")}
        _write(self.overlay / "group_vars/dw/overlay.yml", {
            **stand_in,
            "postgresql_cluster_name": self.clusters["dw"],
            "postgresql_port": self.ports["dw"],
            "package_mirror_local_dir": self.mirror["local_dir"],
            "package_mirror_source_file": self.mirror["source_file"],
            "package_mirror_keyring": str(apt / "etc/clickstream-mirror.gpg"),
            "package_mirror_disable_other_sources": False,
            "package_mirror_apt_options": [f"-oDir::State={apt}/state", f"-oDir::Cache={apt}/cache"],
        })
        _write(self.overlay / "group_vars/shiny/overlay.yml", {
            "shiny_server_bind_address": "127.0.0.1",
            "shiny_server_port": self.ports["shiny"],
            "shiny_server_db_port": self.ports["dw"],
            "shiny_server_service_name": self.service,
            "shiny_server_app_dir": str(root / "shiny/app"),
            "shiny_server_db_config": str(root / "shiny/etc/db.env"),
            "shiny_server_run_dir": str(root / "run"),
            "shiny_server_log_dir": str(root / "log"),
            "shiny_server_state_dir": str(root / "state"),
        })
        for d in (apt / "state/lists/partial", apt / "cache/archives/partial", apt / "etc"):
            d.mkdir(parents=True, exist_ok=True)

    @property
    def inventory_args(self) -> list[str]:
        return ["-i", str(REPO / "inventories/aws"), "-i", str(self.overlay)]

    def playbook(self, playbook: str, *args: str, timeout: int = 3600) -> PlaybookRun:
        return run_playbook(playbook, *self.inventory_args, *args, env=self.env, timeout=timeout)

    def close(self) -> None:
        """Stop and remove only this test's services and clusters."""
        # Every pid file in this run directory rather than scripts/local-services.sh stop: the Shiny service has
        # this test's own name, which the script does not list, and the AWS inventory records no clusters.
        for pidfile in (self.root / "run").glob("*.pid"):
            subprocess.run(["start-stop-daemon", "--stop", "--pidfile", str(pidfile), "--remove-pidfile",
                            "--retry", "TERM/15/KILL/5"], check=False, capture_output=True)
        for name in self.clusters.values():
            subprocess.run(["pg_dropcluster", "--stop", "15", name], check=False, capture_output=True)


def make_root(prefix: str = "clickstream-aws-path-") -> Path:
    """A fresh directory under /var/tmp that the postgres and shiny users can traverse (pytest's tmp_path is not)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    root.chmod(0o755)
    return root


def remove_root(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


def debian_image() -> dict:
    """A Debian 12 amd64 image as Debian publishes them (owner 136693071363), in MOTO_AMIS_PATH's format: the one
    the ec2_instances role's default filter selects and the preflight's AMI check looks for."""
    return {
        "ami_id": "ami-0d3e5c8f1b2a4c6e7",
        "name": "debian-12-amd64-20250101-1234",
        "description": "Debian 12 (20250101-1234)",
        "owner_id": DEBIAN_OWNER,
        "public": True,
        "virtualization_type": "hvm",
        "architecture": "x86_64",
        "state": "available",
        "platform": None,
        "image_type": "machine",
        "hypervisor": "xen",
        "root_device_name": "/dev/xvda",
        "root_device_type": "ebs",
        "sriov": "simple",
        "creation_date": "2025-01-01T12:34:56.000Z",
    }


def write_amis(root: Path) -> Path:
    """The MOTO_AMIS_PATH file of an emulator for the AWS path: Debian's image only."""
    path = root / "amis.json"
    path.write_text(json.dumps([debian_image()]))
    return path
