#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: daemon_service
short_description: A long-lived command as a service under start-stop-daemon, in one call
description:
  - For machines without systemd as PID 1 (role process_service's daemon mode). In one module run it makes sure
    of the run, log and script directories, writes the launcher script when its content differs, reads whether
    the service runs (its pid file), stops it when it must (state stopped or restarted, O(restart), a changed
    launcher) and starts it when it is not running.
  - A run that finds the directories, the launcher and a running service as they should be changes nothing.
  - Check mode reports what would change and changes nothing.
version_added: 1.1.0
author: clickstream-analytics
options:
  name:
    description: Service name (pid file <run_dir>/<name>.pid, launcher <script_dir>/<name>.sh).
    type: str
    required: true
  launcher:
    description: The launcher script's content (it execs the command, so the pid stays the service's).
    type: str
    required: true
  run_dir: {description: Directory of the pid file., type: path, required: true}
  log_dir: {description: Directory of the log file (made here; the launcher writes to it)., type: path, required: true}
  script_dir: {description: Directory of the launcher., type: path, required: true}
  workdir: {description: Working directory of the service., type: path, default: /}
  state:
    description: started, stopped or restarted.
    type: str
    default: started
    choices: [started, stopped, restarted]
  restart:
    description: Restart a running service (e.g. its settings changed).
    type: bool
    default: false
  directories:
    description:
      - Directories the service needs (e.g. of its settings), made sure of before the launcher, as module file_set
        does (created when missing, then given the owner, group and mode).
    type: list
    elements: dict
    default: []
    version_added: 1.4.0
    suboptions:
      path: {description: The directory., type: path, required: true}
      owner: {description: Its owner., type: str}
      group: {description: Its group., type: str}
      mode: {description: Its mode., type: raw}
  files:
    description:
      - Files the service reads (its app, its settings), each written only when its content differs and given the
        owner, group and mode, as module file_set does; their directories must exist or be in O(directories).
      - A file whose content was written (a new one, a change, or drift put back) restarts a running service when
        O(files_restart) is true.
      - The contents are never logged or returned (they may hold secrets).
    type: list
    elements: dict
    default: []
    version_added: 1.4.0
    suboptions:
      path: {description: The file., type: path, required: true}
      content: {description: Its content., type: str, required: true}
      owner: {description: Its owner., type: str}
      group: {description: Its group., type: str}
      mode: {description: Its mode., type: raw}
  files_restart:
    description: Restart a running service when the content of one of O(files) was written.
    type: bool
    default: false
    version_added: 1.4.0
"""

EXAMPLES = r"""
- name: Run the ingest endpoint
  clickstream.platform.daemon_service:
    name: clickstream-ingest
    launcher: "{{ lookup('ansible.builtin.template', 'launcher.sh.j2') }}"
    run_dir: /run/clickstream-analytics
    log_dir: /var/log/clickstream-analytics
    script_dir: /var/lib/clickstream-analytics/services
"""

RETURN = r"""
started:
  description: Whether the run started the service (or would, in check mode).
  returned: always
  type: bool
stopped:
  description: Whether the run stopped it (or would).
  returned: always
  type: bool
launcher_changed:
  description: Whether the launcher was written (or would be).
  returned: always
  type: bool
changed_paths:
  description: The O(directories) and O(files) created, written or given another owner, group or mode (or would be).
  returned: always
  type: list
  elements: str
content_changed:
  description: The O(files) whose content was written (or would be).
  returned: always
  type: list
  elements: str
checksums:
  description: SHA-1 of each of O(files)' wanted content, by path (as ansible.builtin.copy's C(checksum)).
  returned: always
  type: dict
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.clickstream.platform.plugins.module_utils.file_state import ensure_directory, ensure_file

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "launcher": {"type": "str", "required": True},
    "run_dir": {"type": "path", "required": True},
    "log_dir": {"type": "path", "required": True},
    "script_dir": {"type": "path", "required": True},
    "workdir": {"type": "path", "default": "/"},
    "state": {"type": "str", "default": "started", "choices": ["started", "stopped", "restarted"]},
    "restart": {"type": "bool", "default": False},
    "directories": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True}, "owner": {"type": "str"}, "group": {"type": "str"},
        "mode": {"type": "raw"}}},
    "files": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True}, "content": {"type": "str", "required": True, "no_log": True},
        "owner": {"type": "str"}, "group": {"type": "str"}, "mode": {"type": "raw"}}},
    "files_restart": {"type": "bool", "default": False},
}


def ensure_dir(path: str, check_mode: bool) -> bool:
    if os.path.isdir(path):
        return False
    if not check_mode:
        os.makedirs(path, mode=0o755, exist_ok=True)
        os.chmod(path, 0o755)  # noqa: S103 - a service directory others read (as the file module made it)
    return True


def ensure_launcher(path: str, content: str, check_mode: bool) -> bool:
    """Write ``content`` to ``path`` (mode 0755, atomically) unless it is there already."""
    try:
        with open(path, encoding="utf-8") as f:
            same = f.read() == content
        same = same and (os.stat(path).st_mode & 0o7777) == 0o755
    except FileNotFoundError:
        same = False
    if same:
        return False
    if not check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(content)
            os.chmod(tmp, 0o755)  # noqa: S103 - the launcher: executable, no secrets in it
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return True


def ensure_files(module, check: bool) -> tuple[list[str], list[str], dict[str, str]]:
    """O(directories), then O(files) (module_utils.file_state, as file_set): the paths changed, the files whose
    content was written, and each file's wanted SHA-1. In check mode a file under a directory that would be made
    is reported as would-be-written."""
    changed_paths: list[str] = []
    content_changed: list[str] = []
    checksums: dict[str, str] = {}
    for entry in module.params["directories"]:
        if ensure_directory(module, entry, check):
            changed_paths.append(entry["path"])
    for entry in module.params["files"]:
        wanted = entry["content"].encode("utf-8")
        checksums[entry["path"]] = hashlib.sha1(wanted).hexdigest()  # noqa: S324 - copy's checksum, not security
        changed, written = ensure_file(module, entry, wanted, check)
        if written:
            content_changed.append(entry["path"])
        if changed:
            changed_paths.append(entry["path"])
    return changed_paths, content_changed, checksums


def zombie(pidfile: str) -> bool:
    """Whether the pid file names a process that has exited but is not reaped yet (state Z): start-stop-daemon
    --status counts it as running, as it only looks for /proc/<pid>. Where PID 1 reaps late (a container's init), a
    service killed a moment ago is such a zombie, and it must be started again, not left for dead."""
    try:
        with open(pidfile, encoding="ascii") as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, ValueError, IndexError):
        return False


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    check = module.check_mode
    pidfile = os.path.join(p["run_dir"], f"{p['name']}.pid")
    launcher = os.path.join(p["script_dir"], f"{p['name']}.sh")
    dirs_made = [d for d in (p["run_dir"], p["log_dir"], p["script_dir"]) if ensure_dir(d, check)]
    changed_paths, content_changed, checksums = ensure_files(module, check)
    launcher_changed = ensure_launcher(launcher, p["launcher"], check)
    # start-stop-daemon --status only reads the pid file and /proc: 0 running, 1/3 not running, 4 unknown.
    rc, _, err = module.run_command(["start-stop-daemon", "--status", "--pidfile", pidfile])
    if rc not in (0, 1, 3):
        module.fail_json(msg=f"cannot read the state of {p['name']} (start-stop-daemon --status rc {rc}): {err}")
    dead = rc == 0 and zombie(pidfile)
    running = rc == 0 and not dead
    stop = running and (p["state"] in ("stopped", "restarted") or p["restart"] or launcher_changed
                        or (p["files_restart"] and bool(content_changed)))
    start = p["state"] != "stopped" and (not running or stop)
    if stop and not check:
        rc, out, err = module.run_command(["start-stop-daemon", "--stop", "--pidfile", pidfile, "--remove-pidfile",
                                           "--retry", "TERM/15/KILL/5"])
        if rc not in (0, 1):
            module.fail_json(msg=f"cannot stop {p['name']} (rc {rc}): {err or out}")
    if start and not check:
        if dead and os.path.exists(pidfile):
            os.unlink(pidfile)  # its process is a zombie: --start would take it for a running one
        rc, out, err = module.run_command(["start-stop-daemon", "--start", "--background", "--make-pidfile",
                                           "--pidfile", pidfile, "--chdir", p["workdir"], "--startas", launcher])
        if rc != 0:
            module.fail_json(msg=f"cannot start {p['name']} (rc {rc}): {err or out}")
    module.exit_json(changed=bool(dirs_made or changed_paths or launcher_changed or stop or start), started=start,
                     stopped=stop, launcher_changed=launcher_changed, dirs_made=dirs_made,
                     changed_paths=changed_paths, content_changed=content_changed, checksums=checksums)


if __name__ == "__main__":
    main()
