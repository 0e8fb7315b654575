"""A throwaway copy of the local platform: the `local` inventory with its own PostgreSQL clusters, ports and
service directories, so site.yml can run (in tests and benchmarks) without touching a `make up` platform."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.net import free_port


class Platform:
    """A copy of inventories/local with its own clusters, ports and run/log/state directories."""

    def __init__(self, root: Path, clusters: dict[str, str] | None = None, repo: Path = REPO) -> None:
        self.root = root
        self.repo = repo
        self.inventory = root / "inventory"
        shutil.copytree(repo / "inventories/local", self.inventory, symlinks=False)
        self.ports = {"oltp": free_port(), "dw": free_port(), "ingest": free_port(), "shiny": free_port()}
        suffix = root.name.replace("-", "").replace("_", "")[-8:].lower()
        self.clusters = clusters or {"oltp": f"tmpoltp{suffix}", "dw": f"tmpdw{suffix}"}
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
        return run_playbook("site.yml", *args, inventory=str(self.inventory), env=env, timeout=1800, repo=self.repo)

    def close(self) -> None:
        """Stop this platform's services and the clusters its run directory records, then drop its clusters."""
        subprocess.run(["bash", str(self.repo / "scripts/local-services.sh"), "stop"], check=False,
                       env={**os.environ, "CLICKSTREAM_RUN_DIR": str(self.root / "run")}, capture_output=True)
        for name in self.clusters.values():
            subprocess.run(["pg_dropcluster", "--stop", "15", name], check=False, capture_output=True)


@contextmanager
def local_platform(prefix: str = "clickstream-platform-",
                   clusters: dict[str, str] | None = None, repo: Path = REPO) -> Iterator[Platform]:
    """A Platform in a fresh directory under /var/tmp, world-traversable (the shiny and postgres users read below
    it, unlike pytest's tmp_path); its services and clusters are stopped and removed afterwards. ``clusters``
    names its oltp and dw clusters (default: names of its own, tmpoltp<suffix> and tmpdw<suffix>); ``repo`` is the
    checkout whose inventory and playbooks it runs (another one for a benchmark's baseline)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    root.chmod(0o755)
    platform = Platform(root, clusters, repo)
    try:
        yield platform
    finally:
        platform.close()
        shutil.rmtree(root, ignore_errors=True)
