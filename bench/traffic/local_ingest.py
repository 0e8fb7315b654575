"""Start the project's local ingest endpoint (`python -m clickstream_local.ingest_server`) for a test or a bench.

with LocalIngestServer(bucket="raw", env=moto.env(), cors_origins=["http://127.0.0.1:3000"]) as ingest:
    send_http(clients, ingest.url)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = (ROOT / "lambdas" / "ingest" / "src", ROOT / "lambdas" / "local_runtime")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalIngestServer:
    """The ingest endpoint in its own process on 127.0.0.1 (free port unless given); stopped on exit."""

    def __init__(
        self,
        bucket: str,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        cors_origins: Sequence[str] = (),
        log: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/clickstream"
        self.bucket = bucket
        self._env = {
            **os.environ,
            **env,
            **(extra_env or {}),
            "RAW_BUCKET_NAME": bucket,
            "PYTHONPATH": os.pathsep.join(str(p) for p in PYTHONPATH),
        }
        self._args = [
            sys.executable, "-m", "clickstream_local.ingest_server", "--host", "127.0.0.1", "--port", str(self.port),
            "--cors-origins", ",".join(cors_origins), "--no-access-log",
        ]  # fmt: skip
        self._log_path = log
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalIngestServer:
        self._log = self._log_path.open("wb") if self._log_path else None
        out: Any = self._log if self._log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(self._args, env=self._env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the ingest server exited with {self.proc.returncode} (log: {self._log_path})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise TimeoutError(f"the ingest server did not listen on {self.port}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
