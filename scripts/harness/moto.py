"""A real moto server process on 127.0.0.1, for tests that need the AWS emulator over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from scripts.harness.procs import terminate

from .net import free_port, wait_for_port

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoServer:
    """Starts `moto_server` from this interpreter's venv and stops it on close()."""

    def __init__(self, log_dir: Path, port: int | None = None, amis_path: Path | None = None,
                 extra_env: dict[str, str] | None = None, server_script: Path | None = None) -> None:
        """amis_path: a JSON list of images (MOTO_AMIS_PATH) that replaces moto's built-in ones, e.g. Debian's;
        extra_env: more of the server's environment (e.g. INITIAL_NO_AUTH_ACTION_COUNT for IAM enforcement);
        server_script: a Python entry point to run instead of moto_server (same arguments), e.g. moto_enforcing.py."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"moto-{self.port}.log"
        moto_bin = Path(sys.executable).parent / "moto_server"
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", **(extra_env or {})}
        if amis_path is not None:
            env["MOTO_AMIS_PATH"] = str(amis_path)
        self._log = self.log_path.open("wb")
        command = [sys.executable, str(server_script)] if server_script else [str(moto_bin)]
        self.proc = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_for_port(self.port, timeout=60)
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"moto at {self.url} not healthy")

    def reset(self) -> None:
        """Clear every resource (POST /moto-api/reset)."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        # A reset of a big state can take a while on a loaded machine (10 s was once not enough).
        with urllib.request.urlopen(req, timeout=120):
            pass

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, Ansible and the handlers at this emulator."""
        return {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def close(self) -> None:
        terminate(self.proc)
        self._log.close()
