"""Settings every play shares: the AWS connection defined once, and module pipelining on the local connection.

The connection lives in inventories/common/aws_connection.yml (clickstream_aws_connection); each play passes it with
one module_defaults line for the collection's `aws` group, which takes in amazon.aws's and community.aws's groups.
The run below proves the line reaches modules of all three collections: the emulator is named only by the inventory
variable while AWS_ENDPOINT_URL points at a closed port, so a module the defaults missed would not find it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.moto import MotoServer

ONE_LINE = {"group/clickstream.platform.aws": "{{ clickstream_aws_connection }}"}


def plays() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((REPO / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(path.read_text()) or []:
            if "hosts" in play:
                out.append((f"{path.name}: {play.get('name')}", play))
    return out


def test_every_play_takes_the_one_aws_connection() -> None:
    with_defaults = {where: play["module_defaults"] for where, play in plays() if "module_defaults" in play}
    assert len(with_defaults) >= 15, sorted(with_defaults)
    differing = {where: d for where, d in with_defaults.items() if d != ONE_LINE}
    assert not differing, f"plays that spell their own module_defaults: {differing}"
    runtime_yml = REPO / "collections/ansible_collections/clickstream/platform/meta/runtime.yml"
    runtime = yaml.safe_load(runtime_yml.read_text())
    metadata = [e["metadata"] for e in runtime["action_groups"]["aws"] if isinstance(e, dict)]
    assert metadata == [{"extend_group": ["amazon.aws.aws", "community.aws.aws"]}]


@pytest.mark.parametrize("inventory", ["inventories/local", "inventories/aws"])
def test_both_inventories_share_the_definition(inventory: str) -> None:
    link = REPO / inventory / "group_vars/all/aws_connection.yml"
    assert link.is_symlink() and link.resolve() == (REPO / "inventories/common/aws_connection.yml").resolve()


PROBE = """\
- name: The one module_defaults line, against the emulator
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/clickstream.platform.aws: "{{ clickstream_aws_connection }}"
  tasks:
    - name: amazon.aws
      amazon.aws.aws_caller_info:
      register: caller
    - name: community.aws
      community.aws.ssm_parameter:
        name: "/probe/{{ probe_id }}"
        value: "reached"
    - name: clickstream.platform (finds no API, but only by reaching the emulator)
      clickstream.platform.apigatewayv2_api_info:
        name: "probe-{{ probe_id }}"
    - name: What the run saw, and the connection the lookups get
      ansible.builtin.copy:
        dest: "{{ probe_out }}"
        mode: "0644"
        content: >-
          {{ {'account': caller.account, 'connection': clickstream_aws_connection,
              'parameter': lookup('amazon.aws.ssm_parameter', '/probe/' ~ probe_id, **clickstream_aws_connection)}
             | to_json }}
"""


@pytest.mark.integration
def test_the_line_reaches_all_three_collections(tmp_path: Path) -> None:
    moto = MotoServer(tmp_path)
    try:
        playbook = tmp_path / "probe.yml"
        playbook.write_text(PROBE)
        probe_id = uuid.uuid4().hex[:8]
        # The environment points boto3 at a closed port: only a module the defaults reach finds the emulator.
        env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "wrong", "AWS_SECRET_ACCESS_KEY": "wrong"}
        varfile = tmp_path / "vars.json"
        varfile.write_text(json.dumps({"clickstream_aws_endpoint_url": moto.url, "probe_id": probe_id,
                                       "probe_out": str(tmp_path / "probe.json")}))
        run = run_playbook(str(playbook), "-e", f"@{varfile}", inventory="inventories/local",
                           env=env)
        assert run.rc == 0, run.output[-3000:]
        assert moto.client("ssm").get_parameter(Name=f"/probe/{probe_id}")["Parameter"]["Value"] == "reached"
        shown = json.loads((tmp_path / "probe.json").read_text())
        assert shown["account"] == "123456789012" and shown["parameter"] == "reached"
        assert shown["connection"] == {"region": "us-east-1", "endpoint_url": moto.url,
                                       "access_key": "testing", "secret_key": "testing"}
    finally:
        moto.close()


def test_aws_inventory_connection_is_the_region_alone() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-i", "inventories/aws", "-c", "local",
         "-m", "ansible.builtin.debug", "-a", "var=clickstream_aws_connection"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"region": "us-east-1"' in out.stdout or "region: us-east-1" in out.stdout
    assert "endpoint_url" not in out.stdout and "access_key" not in out.stdout


def test_the_local_connection_pipelines_modules() -> None:
    """[ssh_connection] pipelining reaches only the ssh plugin; the local connection reads the global setting."""
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-config"), "dump", "--only-changed"],
                         cwd=REPO, capture_output=True, text=True, check=True, timeout=300,
                         env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("ANSIBLE_PIPELINING")), "")
    assert line.endswith("= True"), out.stdout
