"""Each host role's Molecule scenario on this machine: converge, idempotence (changed=0), verify.

The scenarios listen on fixed ports 2543x/2550x/23838: below Linux's ephemeral range (32768-60999), so no client
socket of a busy machine can hold them (55434 once was, and the cluster could not start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.harness.moto import MotoServer

REPO = Path(__file__).resolve().parents[2]
ROLES = ["postgresql", "oltp_db", "dw_db", "shiny_server"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("role", ROLES)
def test_molecule_scenario(role: str, moto_server: MotoServer) -> None:
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, **moto_server.env(), "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"}
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([str(venv_bin / "molecule"), "test", "-s", "default"], cwd=REPO / "roles" / role,
                          env=env, capture_output=True, text=True, timeout=1700)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for action in ("converge", "idempotence", "verify"):
        done = (f"default > {action}: Executed: Successful", f"[default > {action}] Executed: Successful")
        assert any(d in out for d in done), f"{action} did not succeed:\n{out[-4000:]}"
