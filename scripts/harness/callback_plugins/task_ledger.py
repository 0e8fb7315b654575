# Copyright: clickstream-analytics contributors
# MIT License
"""A ledger of one ansible-playbook run for bench/provisioning: each task result (play, task, action, host, status,
seconds) as JSON lines in the file named by $TASK_LEDGER_PATH. Enabled by the bench only (ANSIBLE_CALLBACK_PLUGINS and
ANSIBLE_CALLBACKS_ENABLED); it prints nothing."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_ledger
type: aggregate
short_description: write each task result with its action and duration as JSON lines (bench/provisioning)
description:
  - Writes one JSON object per task result to the file named by the TASK_LEDGER_PATH environment variable.
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_ledger"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        path = os.environ.get("TASK_LEDGER_PATH")
        self._out = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115 - open for the whole run
        self._play = ""
        self._started: dict[str, float] = {}

    def v2_playbook_on_play_start(self, play) -> None:
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._started[task._uuid] = time.monotonic()

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _write(self, result, status: str) -> None:
        if self._out is None:
            return
        task = result._task
        started = self._started.get(task._uuid, time.monotonic())
        self._out.write(json.dumps({"play": self._play, "task": task.get_name(), "action": task.action,
                                    "host": result._host.get_name(), "status": status,
                                    "loop": len(result._result.get("results", [])) or None,
                                    "seconds": round(time.monotonic() - started, 3)}) + "\n")
        self._out.flush()

    def v2_runner_on_ok(self, result) -> None:
        self._write(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_skipped(self, result) -> None:
        self._write(result, "skipped")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._write(result, "failed")

    def v2_runner_on_unreachable(self, result) -> None:
        self._write(result, "unreachable")
