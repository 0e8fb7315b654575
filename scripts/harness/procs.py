"""Processes as Linux's /proc shows them: children of a process, their state and command line, their CPU."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (the first is the state)."""
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def children(parent: int) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of each process whose parent is ``parent`` now (the command line's arguments are
    separated by NULs; empty once a process is on its way out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
            if int(fields[1]) == parent:
                found.append((int(entry.name), fields[0], (entry / "cmdline").read_bytes().decode("utf-8", "replace")))
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return found


def exited(pid: int) -> bool:
    """Gone, or a zombie: exited, waiting for its parent to reap it."""
    try:
        return _stat(pid)[0] == "Z"
    except OSError:
        return True


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU seconds of a live process (``reaped``: plus those of the children it has waited for).
    Raises FileNotFoundError when the process is gone."""
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def terminate(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM ``proc`` and wait ``timeout`` seconds for it, then SIGKILL."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
