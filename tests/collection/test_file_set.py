"""file_set (a set of directories and files with content, owner, group and mode in one module run) on real files:
check mode reports and writes nothing, a first run writes, a second changes nothing, a file edited by hand or given
another mode is put back and named in changed_paths, a new secret file is never readable by others."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from ansible_collections.clickstream.platform.plugins.modules import file_set

from scripts.harness.ansible import run_playbook

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    marker: one
  tasks:
    - clickstream.platform.file_set:
        directories:
          - {{path: {root}, mode: "0755"}}
          - {{path: {root}/state, mode: "0750"}}
        files:
          - {{path: {root}/env, content: "MARKER={{{{ marker }}}}\\n", mode: "0640"}}
          - {{path: {root}/script, content: "#!/bin/sh\\necho hi\\n", mode: "0750"}}
      register: r
    - ansible.builtin.debug:
        msg: "RESULT {{{{ [r.changed_paths, r.content_changed] | to_json | b64encode }}}}"
"""


def result(output: str) -> tuple[list[str], list[str]]:
    line = next(line for line in output.splitlines() if "msg: RESULT " in line)
    paths, content = json.loads(base64.b64decode(line.split("RESULT ", 1)[1].strip()))
    return paths, content


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def book(tmp_path):
    root = tmp_path / "set"
    path = tmp_path / "play.yml"
    path.write_text(PLAYBOOK.format(root=root), encoding="utf-8")
    return path, root


def test_check_first_second_and_drift_put_back(book):
    path, root = book
    check = run_playbook(str(path), "--check", "--diff")
    assert check.rc == 0 and check.changed == 1, check.output
    assert not root.exists()
    assert "+MARKER=one" in check.output
    assert result(check.output)[0] == [str(root), f"{root}/state", f"{root}/env", f"{root}/script"]

    first = run_playbook(str(path))
    assert first.rc == 0 and first.changed == 1, first.output
    assert (root / "env").read_text() == "MARKER=one\n"
    assert (mode(root), mode(root / "state"), mode(root / "env"), mode(root / "script")) == (0o755, 0o750, 0o640, 0o750)

    second = run_playbook(str(path))
    assert second.rc == 0 and second.changed == 0, second.output
    assert result(second.output) == ([], [])

    # drift: content edited by hand, a mode loosened by hand
    (root / "env").write_text("MARKER=hand\n")
    os.chmod(root / "script", 0o700)
    check_drift = run_playbook(str(path), "--check", "--diff")
    assert check_drift.changed == 1 and (root / "env").read_text() == "MARKER=hand\n", check_drift.output
    assert "-MARKER=hand" in check_drift.output and mode(root / "script") == 0o700
    put_back = run_playbook(str(path))
    assert put_back.changed == 1, put_back.output
    assert result(put_back.output) == ([f"{root}/env", f"{root}/script"], [f"{root}/env"])
    assert (root / "env").read_text() == "MARKER=one\n" and mode(root / "script") == 0o750

    # a new wanted content: only that file is written
    changed = run_playbook(str(path), "-e", "marker=two")
    assert result(changed.output) == ([f"{root}/env"], [f"{root}/env"]), changed.output
    assert not [p for p in root.iterdir() if p.name.startswith(".file_set.")]


class Module:
    """The two AnsibleModule methods write() uses; set_fs_attributes_if_different records the temporary file's mode
    when called, which is the moment the secret could leak."""

    def __init__(self) -> None:
        self.modes: list[int] = []

    def set_fs_attributes_if_different(self, args: dict, changed: bool) -> bool:
        self.modes.append(stat.S_IMODE(os.stat(args["path"]).st_mode))
        os.chmod(args["path"], int(args["mode"], 8))
        return True


def test_a_new_secret_file_is_never_readable_by_others(tmp_path):
    module = Module()
    target = tmp_path / "db.env"
    file_set.write(module, str(target), b"PASSWORD=s3cret\n", {"path": str(target), "mode": "0600"}, exists=False)
    assert module.modes == [0o600]  # the temporary file, before the rename: mkstemp's 0600, never wider
    assert target.read_bytes() == b"PASSWORD=s3cret\n" and mode(target) == 0o600



GUARDED = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - clickstream.platform.file_set:
        directories:
          - {{path: {root}, mode: "0755"}}
        files:
          - {{path: {root}/settings, content: "ALLOW_FILE={root}/allow\\n", mode: "0640"}}
        # reads the settings just written: passes only when the file they name exists
        check_command: [/bin/sh, -c, '. {root}/settings && echo "checked $ALLOW_FILE" && test -e "$ALLOW_FILE"']
        guarded_files:
          - {{path: {root}/switch.conf, content: "archive_mode = on\\n", mode: "0644"}}
      register: r
    - ansible.builtin.debug:
        msg: "RESULT {{{{ [r.changed_paths, r.check_result.rc, r.check_result.stdout_lines] | to_json | b64encode }}}}"
"""


def test_check_command_runs_with_the_files_in_place_and_guards_the_guarded_files(tmp_path):
    root = tmp_path / "guarded"
    path = tmp_path / "guarded.yml"
    path.write_text(GUARDED.format(root=root), encoding="utf-8")

    def outcome(run):
        assert run.rc == 0, run.output
        line = next(line for line in run.output.splitlines() if "msg: RESULT " in line)
        return json.loads(base64.b64decode(line.split("RESULT ", 1)[1].strip()))

    # the check fails (no allow file): the files are written, the guarded one is not (nor reported)
    refused = outcome(first := run_playbook(str(path)))
    assert refused == [[str(root), f"{root}/settings"], 1, [f"checked {root}/allow"]], first.output
    assert (root / "settings").exists() and not (root / "switch.conf").exists()

    (root / "allow").write_text("")
    check = outcome(run_playbook(str(path), "--check"))
    assert check[:2] == [[f"{root}/switch.conf"], 0] and not (root / "switch.conf").exists()
    assert outcome(run_playbook(str(path)))[:2] == [[f"{root}/switch.conf"], 0]
    assert (root / "switch.conf").read_text() == "archive_mode = on\n" and mode(root / "switch.conf") == 0o644
    again = run_playbook(str(path))
    assert again.changed == 0 and outcome(again)[:2] == [[], 0]

    # a failing check leaves a guarded file that is in place as it is (drift there is not put back without it)
    (root / "allow").unlink()
    (root / "switch.conf").write_text("archive_mode = off\n")
    assert outcome(run_playbook(str(path)))[:2] == [[], 1]
    assert (root / "switch.conf").read_text() == "archive_mode = off\n"


def test_guarded_files_without_a_check_command_are_refused(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(f"""
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - clickstream.platform.file_set:
        guarded_files: [{{path: {tmp_path}/x, content: "x"}}]
""", encoding="utf-8")
    run = run_playbook(str(path))
    assert run.rc != 0 and "guarded_files are written only after check_command" in run.output
    assert not (tmp_path / "x").exists()
