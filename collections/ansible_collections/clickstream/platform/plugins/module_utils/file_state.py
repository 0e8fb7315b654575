# Copyright: clickstream-analytics contributors
# MIT License
"""Directories and files with content, owner, group and mode, each made sure of without a module run of its own
(modules file_set and postgresql_cluster)."""

from __future__ import annotations

import os
import tempfile


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


def write(module, path: str, content: bytes, entry: dict, exists: bool) -> None:
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


def ensure_directory(module, entry: dict, check: bool, diffs: list | None = None) -> bool:
    """Create entry['path'] when missing, then give it entry's owner, group and mode; True when anything
    changed (or would, in check mode)."""
    path = entry["path"]
    if os.path.lexists(path) and not os.path.isdir(path):
        module.fail_json(msg=f"{path} exists and is not a directory")
    created = not os.path.isdir(path)
    if created:
        if diffs is not None:
            diffs.append({"before_header": path, "after_header": path,
                          "before": {"path": path, "state": "absent"}, "after": {"path": path, "state": "directory"}})
        if check:
            return True
        os.makedirs(path)
    return module.set_fs_attributes_if_different(file_args(entry), False) or created


def ensure_file(module, entry: dict, content: bytes, check: bool, diffs: list | None = None) -> tuple[bool, bool]:
    """Write content to entry['path'] when it differs, then give the file entry's owner, group and mode.
    Returns (anything changed, content written), or what would be in check mode. diffs (a list) gets the
    content's diff; leave it None for a secret."""
    path = entry["path"]
    if os.path.isdir(path):
        module.fail_json(msg=f"{path} is a directory, not a file")
    current = read(path)
    written = current != content
    if written:
        if diffs is not None:
            diffs.append({"before_header": path, "after_header": path,
                          "before": "" if current is None else current.decode("utf-8", "replace"),
                          "after": content.decode("utf-8", "replace")})
        if not check:
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                module.fail_json(msg=f"{path}: directory {parent} does not exist")
            write(module, path, content, entry, current is not None)
    attrs = False
    if not (check and current is None):
        attrs = module.set_fs_attributes_if_different(file_args(entry), False)
    return written or attrs, written
