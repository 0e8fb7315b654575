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
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

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
}


def file_args(entry: dict) -> dict:
    """The arguments AnsibleModule.set_fs_attributes_if_different takes (no SELinux context, no attributes)."""
    mode = entry.get("mode")
    return {"path": entry["path"], "owner": entry.get("owner"), "group": entry.get("group"),
            "mode": None if mode is None else str(mode), "attributes": None,
            "secontext": [None, None, None]}


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def write(module: AnsibleModule, path: str, content: bytes, entry: dict, exists: bool) -> None:
    """Write content to a temporary file beside path with path's final owner and mode (an existing file's where
    the entry gives none), then rename it over path: a reader sees the old file or the new one, and a secret is
    never readable by others, not even for a moment."""
    fd, tmp = tempfile.mkstemp(prefix=".file_set.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp made it 0600: it is loosened only to a mode the entry leaves to the old file or the umask.
        if exists:
            st = os.stat(path)
            os.chown(tmp, st.st_uid, st.st_gid)
            if entry.get("mode") is None:
                os.chmod(tmp, st.st_mode & 0o7777)
        elif entry.get("mode") is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        module.set_fs_attributes_if_different({**file_args(entry), "path": tmp}, False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    check = module.check_mode
    changed_paths: list[str] = []
    content_changed: list[str] = []
    checksums: dict[str, str] = {}
    diffs: list[dict] = []

    for entry in module.params["directories"]:
        path = entry["path"]
        created = False
        if os.path.lexists(path) and not os.path.isdir(path):
            module.fail_json(msg=f"{path} exists and is not a directory")
        if not os.path.isdir(path):
            created = True
            diffs.append({"before_header": path, "after_header": path,
                          "before": {"path": path, "state": "absent"}, "after": {"path": path, "state": "directory"}})
            if not check:
                os.makedirs(path)
        attrs = False
        if not (created and check):
            attrs = module.set_fs_attributes_if_different(file_args(entry), False)
        if created or attrs:
            changed_paths.append(path)

    for entry in module.params["files"]:
        path = entry["path"]
        wanted = entry["content"].encode("utf-8")
        checksums[path] = hashlib.sha1(wanted).hexdigest()  # noqa: S324 - the checksum copy reports, not security
        if os.path.isdir(path):
            module.fail_json(msg=f"{path} is a directory, not a file")
        current = read(path)
        written = current != wanted
        if written:
            content_changed.append(path)
            diffs.append({"before_header": path, "after_header": path,
                          "before": "" if current is None else current.decode("utf-8", "replace"),
                          "after": entry["content"]})
            if not check:
                parent = os.path.dirname(path)
                if not os.path.isdir(parent):
                    module.fail_json(msg=f"{path}: directory {parent} does not exist")
                write(module, path, wanted, entry, current is not None)
        attrs = False
        if not (check and current is None):
            attrs = module.set_fs_attributes_if_different(file_args(entry), False)
        if written or attrs:
            changed_paths.append(path)

    result = {"changed": bool(changed_paths), "changed_paths": changed_paths, "content_changed": content_changed,
              "checksums": checksums}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
