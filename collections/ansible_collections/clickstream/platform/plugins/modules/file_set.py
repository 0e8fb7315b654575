#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_set
short_description: A set of directories and files with their content, owner, group and mode, in one call
description:
  - In one module run it makes sure of each directory (created when missing) and each file (written atomically
    when its content differs), then of their owner, group and mode. A role's files (scripts, settings, rendered
    templates read with the template lookup) cost one Python start-up on the host instead of one per file.
  - A run that finds everything as it should be changes nothing; a file changed by hand is written back and
    reported (O(changed_paths)), so the caller restarts or reloads only for what changed.
  - Check mode reports what would change (with the contents' diff in diff mode) and changes nothing.
  - Directories are handled before files, in the order given; a file's parent directory must exist or be one of
    O(directories).
version_added: 1.3.0
author: clickstream-analytics
options:
  directories:
    description: Directories, in order.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      owner: {description: Owner (name or uid); unset keeps it., type: str}
      group: {description: Group (name or gid); unset keeps it., type: str}
      mode: {description: Mode as an octal string (e.g. C(0750)); unset keeps it., type: raw}
  files:
    description: Files, in order.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      content: {description: The file's whole content (text, written as UTF-8)., type: str, required: true}
      owner: {description: Owner (name or uid); unset keeps it., type: str}
      group: {description: Group (name or gid); unset keeps it., type: str}
      mode: {description: Mode as an octal string (e.g. C(0640)); unset keeps it., type: raw}
  check_command:
    description:
      - A read-only command (argv, no shell) run once the directories and files are in place (in check mode with
        them as they are), e.g. a check that the files just written will do; its C(rc), C(stdout) and C(stderr)
        are returned in RV(check_result). It never counts as a change.
      - With it, O(guarded_files) are written only when it exits 0, for a file that turns something on once a check
        with the other files passed, in the same module run.
    type: list
    elements: str
    version_added: 1.4.0
  guarded_files:
    description:
      - Files as in O(files), written (or reported in check mode) after O(check_command), and only when it exited
        0; otherwise left as they are and not reported.
    type: list
    elements: dict
    default: []
    version_added: 1.4.0
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      content: {description: The file's whole content (text, written as UTF-8)., type: str, required: true}
      owner: {description: Owner (name or uid); unset keeps it., type: str}
      group: {description: Group (name or gid); unset keeps it., type: str}
      mode: {description: Mode as an octal string (e.g. C(0640)); unset keeps it., type: raw}
notes:
  - Give C(no_log) to the task when a content is a secret (the content is then left out of the diff as well).
"""

EXAMPLES = r"""
- name: The backup scripts and their settings
  clickstream.platform.file_set:
    directories:
      - {path: /var/lib/pg-backup/main, owner: root, group: postgres, mode: "0750"}
    files:
      - {path: /var/lib/pg-backup/main/env, content: "{{ lookup('ansible.builtin.template', 'env.j2') }}",
         owner: root, group: postgres, mode: "0640"}
      - {path: /var/lib/pg-backup/main/pg-backup, content: "{{ lookup('ansible.builtin.file', 'pg-backup.sh') }}",
         owner: root, group: postgres, mode: "0750"}
  register: files
"""

RETURN = r"""
changed_paths:
  description: The directories and files created, written or given another owner, group or mode (or that would be).
  returned: always
  type: list
  elements: str
content_changed:
  description: The files whose content was written (or would be).
  returned: always
  type: list
  elements: str
checksums:
  description: SHA-1 of each file's wanted content, by path (as ansible.builtin.copy's C(checksum)).
  returned: always
  type: dict
check_result:
  description: O(check_command)'s C(rc), C(stdout), C(stdout_lines) and C(stderr).
  returned: when O(check_command) is given
  type: dict
"""

import hashlib

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.clickstream.platform.plugins.module_utils.file_state import (
    ensure_directory,
    ensure_file,
    file_args,  # noqa: F401 - re-exported for the tests
    write,  # noqa: F401 - re-exported for the tests
)

ENTRY = {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "raw"},
}
ARGUMENT_SPEC = {
    "directories": {"type": "list", "elements": "dict", "default": [], "options": ENTRY},
    "files": {"type": "list", "elements": "dict", "default": [],
              "options": {**ENTRY, "content": {"type": "str", "required": True}}},
    "check_command": {"type": "list", "elements": "str"},
    "guarded_files": {"type": "list", "elements": "dict", "default": [],
                      "options": {**ENTRY, "content": {"type": "str", "required": True}}},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    check = module.check_mode
    if module.params["guarded_files"] and not module.params["check_command"]:
        module.fail_json(msg="file_set: guarded_files are written only after check_command, which is not given")
    changed_paths: list[str] = []
    content_changed: list[str] = []
    checksums: dict[str, str] = {}
    diffs: list[dict] = []

    for entry in module.params["directories"]:
        if ensure_directory(module, entry, check, diffs):
            changed_paths.append(entry["path"])

    def files(entries: list[dict]) -> None:
        for entry in entries:
            wanted = entry["content"].encode("utf-8")
            checksums[entry["path"]] = hashlib.sha1(wanted).hexdigest()  # noqa: S324 - copy's checksum, not security
            changed, written = ensure_file(module, entry, wanted, check, diffs)
            if written:
                content_changed.append(entry["path"])
            if changed:
                changed_paths.append(entry["path"])

    files(module.params["files"])
    checked = None
    if module.params["check_command"]:
        rc, out, err = module.run_command(module.params["check_command"])
        checked = {"rc": rc, "stdout": out, "stdout_lines": out.splitlines(), "stderr": err}
    if module.params["guarded_files"] and checked is not None and checked["rc"] == 0:
        files(module.params["guarded_files"])

    result = {"changed": bool(changed_paths), "changed_paths": changed_paths, "content_changed": content_changed,
              "checksums": checksums}
    if checked is not None:
        result["check_result"] = checked
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
