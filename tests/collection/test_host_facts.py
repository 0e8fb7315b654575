"""host_facts (memory, CPU and service-manager facts, dpkg status and users in one module run) on this machine: its
facts equal ansible.builtin.setup's (the same fact code), dpkg statuses of an installed and an unknown package,
users found and missing; it changes nothing, in check mode too."""

from __future__ import annotations

import base64
import json
import pwd

from scripts.harness.ansible import run_playbook

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.setup:
        gather_subset: ["!all", "!min", hardware, service_mgr]
      register: setup
    - clickstream.platform.host_facts:
        packages: [postgresql-15, no-such-package-clickstream]
        users: [postgres, no-such-user-clickstream]
      register: mine
    - ansible.builtin.debug:
        msg: "RESULT {{{{ {{'setup': setup.ansible_facts, 'mine': mine.ansible_facts, 'changed': mine.changed,
                         'facts': ansible_facts.clickstream_dpkg_status}} | to_json | b64encode }}}}"
"""


def result(output: str) -> dict:
    line = next(line for line in output.splitlines() if "msg: RESULT " in line)
    return json.loads(base64.b64decode(line.split("RESULT ", 1)[1].strip()))


def test_facts_equal_setup_and_dpkg_and_users_are_read(tmp_path):
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK.format(), encoding="utf-8")
    for args in ((), ("--check",)):
        run = run_playbook(str(book), *args)
        assert run.rc == 0 and run.changed == 0, run.output
        got = result(run.output)
        setup, mine = got["setup"], got["mine"]
        for key in ("memtotal_mb", "processor_vcpus", "processor_count", "service_mgr"):
            assert mine[key] == setup[f"ansible_{key}"], key
        status = mine["clickstream_dpkg_status"]
        assert status["postgresql-15"] == "installed"
        assert status["no-such-package-clickstream"] == "unknown"
        assert got["facts"] == status  # set as a fact for later tasks
        postgres = pwd.getpwnam("postgres")
        assert mine["clickstream_users"] == {"postgres": {"uid": postgres.pw_uid, "group": "postgres",
                                                          "home": postgres.pw_dir, "shell": postgres.pw_shell}}
