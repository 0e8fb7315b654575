"""daemon_service (directories, launcher, pid-file state, stop and start of a start-stop-daemon service in one module
run), run through ansible-playbook on this machine: a second run changes nothing and keeps the process, check mode
changes nothing, a changed launcher restarts the service, state stopped stops it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from scripts.harness.ansible import run_playbook

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    marker: one
  tasks:
    - clickstream.platform.daemon_service:
        name: test-daemon
        launcher: "#!/bin/sh\\n# {{{{ marker }}}}\\nexec sleep 300\\n"
        run_dir: {root}/run
        log_dir: {root}/log
        script_dir: {root}/scripts
        state: "{{{{ wanted | default('started') }}}}"
      register: r
    - ansible.builtin.debug:
        msg: "RESULT started={{{{ r.started }}}} stopped={{{{ r.stopped }}}} launcher={{{{ r.launcher_changed }}}}"
"""


def pid(root: Path) -> int | None:
    path = root / "run/test-daemon.pid"
    if not path.exists():
        return None
    value = int(path.read_text().strip())
    return value if os.path.exists(f"/proc/{value}") else None


@pytest.fixture
def book(tmp_path):
    root = tmp_path / "svc"
    path = tmp_path / "play.yml"
    path.write_text(PLAYBOOK.format(root=root), encoding="utf-8")
    yield path, root
    run_playbook(str(path), "-e", "wanted=stopped")


def wait_for_pid(root: Path) -> int:
    for _ in range(50):
        found = pid(root)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the service did not start")


def test_start_no_change_restart_on_new_launcher_and_stop(book):
    path, root = book
    check = run_playbook(str(path), "--check")
    assert check.rc == 0 and check.changed == 1, check.output
    assert "RESULT started=True" in check.output and not root.exists()

    first = run_playbook(str(path))
    assert first.rc == 0 and first.changed == 1, first.output
    started = wait_for_pid(root)
    assert (root / "scripts/test-daemon.sh").read_text() == "#!/bin/sh\n# one\nexec sleep 300\n"
    assert oct((root / "scripts/test-daemon.sh").stat().st_mode & 0o777) == "0o755"

    second = run_playbook(str(path))
    assert second.rc == 0 and second.changed == 0, second.output
    assert "RESULT started=False stopped=False launcher=False" in second.output
    assert pid(root) == started

    check_new = run_playbook(str(path), "--check", "-e", "marker=two")
    assert check_new.changed == 1 and pid(root) == started, check_new.output
    assert "# one" in (root / "scripts/test-daemon.sh").read_text()

    new = run_playbook(str(path), "-e", "marker=two")
    assert new.rc == 0 and "RESULT started=True stopped=True launcher=True" in new.output, new.output
    restarted = wait_for_pid(root)
    assert restarted != started and not os.path.exists(f"/proc/{started}")

    stopped = run_playbook(str(path), "-e", "marker=two", "-e", "wanted=stopped")
    assert stopped.rc == 0 and "RESULT started=False stopped=True" in stopped.output, stopped.output
    assert pid(root) is None


def test_a_service_that_died_is_started_again(book):
    path, root = book
    assert run_playbook(str(path)).rc == 0
    first = wait_for_pid(root)
    os.kill(first, 9)
    for _ in range(50):
        if not os.path.exists(f"/proc/{first}") or Path(f"/proc/{first}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    again = run_playbook(str(path))
    assert again.rc == 0 and "RESULT started=True stopped=False launcher=False" in again.output, again.output
    assert wait_for_pid(root) != first


def test_a_service_whose_pid_is_an_unreaped_zombie_is_started_again(book):
    """The pid file names a process that has exited but is not reaped yet: a zombie, as a container's init leaves a
    killed service for a while (the race the test above can meet). Here it is made for sure: a child of this test,
    killed and not waited for. start-stop-daemon --status counts it as running; the module must start the service."""
    path, root = book
    assert run_playbook(str(path)).rc == 0  # the directories and the launcher
    wait_for_pid(root)
    assert run_playbook(str(path), "-e", "wanted=stopped").rc == 0
    child = subprocess.Popen(["sleep", "300"])
    try:
        child.kill()
        for _ in range(50):
            if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the killed child did not become a zombie")
        (root / "run/test-daemon.pid").write_text(f"{child.pid}\n", encoding="ascii")
        again = run_playbook(str(path))
        assert again.rc == 0 and "RESULT started=True stopped=False" in again.output, again.output
        assert wait_for_pid(root) != child.pid
    finally:
        child.wait()


FILES_PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    setting: one
  tasks:
    - clickstream.platform.daemon_service:
        name: test-daemon
        launcher: "#!/bin/sh\\nexec sleep 300\\n"
        run_dir: {root}/run
        log_dir: {root}/log
        script_dir: {root}/scripts
        state: "{{{{ wanted | default('started') }}}}"
        directories:
          - {{path: {root}/etc, mode: "0750"}}
        files:
          - {{path: {root}/etc/app.env, content: "SECRET={{{{ setting }}}}\\n", mode: "0600"}}
        files_restart: true
      register: r
    - ansible.builtin.debug:
        msg: >-
          RESULT started={{{{ r.started }}}} stopped={{{{ r.stopped }}}} content={{{{ r.content_changed | length }}}}
"""


def test_files_written_only_when_they_differ_and_a_written_one_restarts(tmp_path):
    root = tmp_path / "svc"
    path = tmp_path / "play.yml"
    path.write_text(FILES_PLAYBOOK.format(root=root), encoding="utf-8")
    env_file = root / "etc/app.env"
    try:
        check = run_playbook(str(path), "--check")
        assert check.rc == 0 and check.changed == 1 and not root.exists(), check.output
        assert "RESULT started=True stopped=False content=1" in check.output

        first = run_playbook(str(path))
        assert first.rc == 0 and first.changed == 1, first.output
        started = wait_for_pid(root)
        assert env_file.read_text() == "SECRET=one\n"
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        assert oct((root / "etc").stat().st_mode & 0o777) == "0o750"
        # The content may be a secret: never in the output.
        assert "SECRET=one" not in first.output

        second = run_playbook(str(path))
        assert second.rc == 0 and second.changed == 0, second.output
        assert pid(root) == started

        # Drift put back (content, then mode), each restarting the service for the content only.
        env_file.write_text("SECRET=changed on the host\n")
        drift = run_playbook(str(path))
        assert drift.rc == 0 and "RESULT started=True stopped=True content=1" in drift.output, drift.output
        assert env_file.read_text() == "SECRET=one\n"
        restarted = wait_for_pid(root)
        assert restarted != started
        env_file.chmod(0o644)
        mode = run_playbook(str(path))
        assert mode.changed == 1 and "RESULT started=False stopped=False content=0" in mode.output, mode.output
        assert oct(env_file.stat().st_mode & 0o777) == "0o600" and pid(root) == restarted

        new = run_playbook(str(path), "-e", "setting=two")
        assert "RESULT started=True stopped=True content=1" in new.output, new.output
        assert env_file.read_text() == "SECRET=two\n"
    finally:
        run_playbook(str(path), "-e", "wanted=stopped")
