"""What a playbook run cost in tasks and module runs: the task_ledger callback (callback_plugins/task_ledger.py)
writes one JSON line per task result, and ledger_counts reads it. One definition of what a module run is, for
bench/provisioning and for the tests that pin a play's no-op cost."""

from __future__ import annotations

import json
from pathlib import Path

CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
# Actions that run in the controller's process: no module start on the target.
CONTROLLER_ACTIONS = {f"{prefix}{name}" for prefix in ("", "ansible.builtin.") for name in (
    "set_fact", "debug", "assert", "fail", "include_tasks", "include_role", "import_tasks", "import_role", "meta",
    "add_host", "group_by", "include_vars", "set_stats", "validate_argument_spec")}


def ledger_counts(path: Path) -> dict:
    """Tasks executed (ok or changed), module runs (executed tasks whose action starts a module, each loop item
    one run) and their seconds per play, from a task_ledger file."""
    counts = {"tasks": 0, "modules": 0, "plays": {}}
    for line in path.read_text().splitlines() if path.exists() else []:
        row = json.loads(line)
        play = counts["plays"].setdefault(row["play"], {"seconds": 0.0, "tasks": 0, "modules": 0})
        play["seconds"] += row["seconds"]
        if row["status"] not in ("ok", "changed"):
            continue
        modules = 0 if row["action"] in CONTROLLER_ACTIONS else (row["loop"] or 1)
        for c in (counts, play):
            c["tasks"] += 1
            c["modules"] += modules
    return counts


def ledger_env(ledger: Path) -> dict[str, str]:
    """The environment that makes an ansible-playbook run write its task ledger (and profile_tasks' times) to ledger."""
    return {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,task_ledger",
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "TASK_LEDGER_PATH": str(ledger),
            "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all"}
