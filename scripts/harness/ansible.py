"""Run ansible-playbook from the repo the way a user does, and read its PLAY RECAP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)


@dataclass
class PlaybookRun:
    rc: int
    output: str
    recap: dict[str, dict[str, int]]

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed(self) -> int:
        return sum(h["failed"] + h["unreachable"] for h in self.recap.values())

    def changed_tasks(self) -> list[str]:
        """Names of tasks that reported `changed` (from the default callback's output)."""
        names, current = [], None
        for line in self.output.splitlines():
            m = re.match(r"^TASK \[(.*)\]", line)
            if m:
                current = m.group(1)
            elif line.startswith("changed:") and current:
                names.append(current)
        return names


def run_playbook(playbook: str, *args: str, env: dict[str, str] | None = None,
                 inventory: str | None = None, timeout: int = 1200, repo: Path = REPO) -> PlaybookRun:
    """ansible-playbook PLAYBOOK ARGS from the repo root (``repo``: another checkout, e.g. a benchmark's baseline)
    with the venv on PATH; never raises on failure."""
    full_env = {**os.environ, **(env or {})}
    full_env["PATH"] = f"{Path(sys.executable).parent}:{full_env.get('PATH', '')}"
    full_env["ANSIBLE_CONFIG"] = str(repo / "ansible.cfg")
    full_env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    full_env["ANSIBLE_NOCOLOR"] = "1"
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), playbook, *args]
    if inventory:
        cmd[1:1] = ["-i", inventory]
    proc = subprocess.run(cmd, cwd=repo, env=full_env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    recap = {m.group("host"): {k: int(v) for k, v in m.groupdict().items() if k != "host"}
             for m in _RECAP.finditer(out)}
    return PlaybookRun(proc.returncode, out, recap)


def ansible_doc(module: str) -> dict:
    """`ansible-doc --json` of one of the project collection's modules (its doc, examples and return)."""
    name = f"clickstream.platform.{module}"
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "--json", name],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[name]


_LAKE_INDEX_PLAY = """- name: The dw_db role's lake index
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Include the role's task file
      ansible.builtin.include_role:
        name: dw_db
        tasks_from: lake_index.yml
"""


def run_lake_index_task(server, db: str, tmp: Path, *args: str, **variables) -> PlaybookRun:
    """The dw_db role's lake index task file (roles/dw_db/tasks/lake_index.yml, as site.yml runs it with the lake on)
    against database ``db`` of the PostgreSQL ``server`` (its port and socket directory), local connection, with
    ``variables`` added; the play is written under ``tmp``. Never raises on failure (run_playbook)."""
    play = tmp / "lake_index.yml"
    play.write_text(_LAKE_INDEX_PLAY, encoding="utf-8")
    extra = {"dw_db_name": db, "dw_db_port": server.port, "dw_db_unix_socket_directory": str(server.dir),
             "ansible_python_interpreter": sys.executable, "ansible_connection": "local", **variables}
    return run_playbook(str(play), "-i", "localhost,", "-e", json.dumps(extra), *args)
