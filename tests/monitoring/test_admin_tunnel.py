"""playbooks/admin_tunnel.yml: prints the port-forward commands; with admin_tunnel_run=true opens the DW and Shiny
tunnels. The AWS CLI and the Session Manager plugin are stand-ins on PATH (no traffic leaves 127.0.0.1): the
stand-in `aws` records its arguments and listens on the local port the real session would."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import pytest

from scripts.harness.ansible import run_playbook
from scripts.harness.moto import MotoServer

PLAYBOOK = "playbooks/admin_tunnel.yml"
PREFIX = "clickstream-local"

FAKE_AWS = """#!{python}
import json, os, socket, sys
from pathlib import Path
args = sys.argv[1:]
if args == ["--version"]:
    print("aws-cli/2.15.0 stand-in")
    sys.exit(0)
params = json.loads(args[args.index("--parameters") + 1])
port = int(params["localPortNumber"][0])
Path(os.environ["FAKE_AWS_RECORD"], f"{{port}}.json").write_text(json.dumps(args))
if str(port) == os.environ.get("FAKE_AWS_FAIL_PORT"):
    print("An error occurred (TargetNotConnected)", file=sys.stderr)
    sys.exit(254)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"stand-in tunnel\\n")
    c.close()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def instances(moto_server: MotoServer) -> dict[str, dict]:
    moto_server.reset()
    ec2 = moto_server.client("ec2")
    found = {}
    for role in ("dw", "oltp"):
        inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                     {"Key": "Name", "Value": f"{PREFIX}-{role}"}]}])["Instances"][0]
        found[role] = inst
    return found


@pytest.fixture
def tools(tmp_path: Path) -> dict[str, str]:
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS.format(python=sys.executable))
    (bin_dir / "session-manager-plugin").write_text("#!/bin/sh\necho 1.2.0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_AWS_RECORD": str(record), "TMPDIR": str(tmp_path)}


@pytest.mark.integration
def test_prints_the_commands_and_opens_nothing_by_default(moto_server: MotoServer, instances, tools) -> None:
    run = run_playbook(PLAYBOOK, env={**moto_server.env(), **tools})
    assert run.rc == 0, run.output[-3000:]
    text = " ".join(run.output.split())
    dw = instances["dw"]
    assert f"--target {dw['InstanceId']} --document-name AWS-StartPortForwardingSession" in text
    assert f'"host":["{dw["PrivateIpAddress"]}"],"portNumber":["3838"]' in text
    assert run.changed == 0
    assert list(Path(tools["FAKE_AWS_RECORD"]).iterdir()) == []


@pytest.mark.integration
def test_local_mode_refuses_to_open_tunnels(moto_server: MotoServer, instances, tools) -> None:
    run = run_playbook(PLAYBOOK, "-e", "admin_tunnel_run=true", env={**moto_server.env(), **tools})
    assert run.rc != 0
    assert "nothing real is behind them, so no tunnel was opened" in " ".join(run.output.split())
    assert list(Path(tools["FAKE_AWS_RECORD"]).iterdir()) == []


@pytest.mark.integration
def test_missing_session_manager_plugin_is_named_and_nothing_starts(moto_server: MotoServer, instances,
                                                                    tools) -> None:
    Path(tools["PATH"].split(":")[0], "session-manager-plugin").unlink()
    env = {**moto_server.env(), **tools, "PATH": tools["PATH"].split(":")[0] + ":/usr/bin:/bin:"
           + str(Path(sys.executable).parent)}
    run = run_playbook(PLAYBOOK, "-e", "admin_tunnel_run=true", "-e", "clickstream_local_mode=false", env=env)
    assert run.rc != 0
    assert "Missing on this machine: session-manager-plugin" in " ".join(run.output.split())
    assert list(Path(tools["FAKE_AWS_RECORD"]).iterdir()) == []


@pytest.mark.integration
def test_run_flag_opens_the_dw_and_shiny_port_forwards(moto_server: MotoServer, instances, tools) -> None:
    dw_port, shiny_port = _free_port(), _free_port()
    ports = json.dumps({"admin_access_local_ports": {"dw_postgres": dw_port, "shiny": shiny_port,
                                                     "oltp_postgres": _free_port()}})
    run = run_playbook(PLAYBOOK, "-e", "admin_tunnel_run=true", "-e", "clickstream_local_mode=false", "-e", ports,
                       env={**moto_server.env(), **tools})
    m = re.search(r"Stop both: kill -- ((?:-\d+ ?)+)", run.output)
    groups = [int(x) for x in re.findall(r"\d+", m.group(1))] if m else []
    try:
        assert run.rc == 0, run.output[-3000:]
        assert len(groups) == 2
        dw = instances["dw"]
        dw_args = json.loads(Path(tools["FAKE_AWS_RECORD"], f"{dw_port}.json").read_text())
        assert dw_args[:6] == ["ssm", "start-session", "--region", "us-east-1", "--target", dw["InstanceId"]]
        assert dw_args[6:] == ["--document-name", "AWS-StartPortForwardingSession", "--parameters",
                               json.dumps({"portNumber": ["5432"], "localPortNumber": [str(dw_port)]},
                                          separators=(",", ":"))]
        shiny_args = json.loads(Path(tools["FAKE_AWS_RECORD"], f"{shiny_port}.json").read_text())
        assert shiny_args[5] == dw["InstanceId"] and shiny_args[7] == "AWS-StartPortForwardingSessionToRemoteHost"
        assert json.loads(shiny_args[9]) == {"host": [dw["PrivateIpAddress"]], "portNumber": ["3838"],
                                             "localPortNumber": [str(shiny_port)]}
        for port in (dw_port, shiny_port):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                assert c.recv(100) == b"stand-in tunnel\n"
        # A second run while they are open refuses (ports in use) and starts nothing more.
        again = run_playbook(PLAYBOOK, "-e", "admin_tunnel_run=true", "-e", "clickstream_local_mode=false",
                             "-e", ports, env={**moto_server.env(), **tools})
        assert again.rc != 0 and "is in use (a tunnel already open?)" in again.output
    finally:
        for pgid in groups:
            os.killpg(pgid, signal.SIGTERM)


@pytest.mark.integration
def test_a_tunnel_that_does_not_come_up_stops_the_other_one(moto_server: MotoServer, instances, tools) -> None:
    dw_port, shiny_port = _free_port(), _free_port()
    ports = json.dumps({"admin_access_local_ports": {"dw_postgres": dw_port, "shiny": shiny_port,
                                                     "oltp_postgres": _free_port()}})
    run = run_playbook(PLAYBOOK, "-e", "admin_tunnel_run=true", "-e", "clickstream_local_mode=false", "-e", ports,
                       "-e", "admin_tunnel_wait_seconds=5",
                       env={**moto_server.env(), **tools, "FAKE_AWS_FAIL_PORT": str(shiny_port)})
    assert run.rc != 0
    assert "did not come up within 5 s; both were stopped" in " ".join(run.output.split())
    assert Path(tools["FAKE_AWS_RECORD"], f"{dw_port}.json").exists()  # the DW session had started ...
    with pytest.raises(OSError):  # ... and was stopped again
        socket.create_connection(("127.0.0.1", dw_port), timeout=2).close()
    log = Path(tools["TMPDIR"], "clickstream-admin-tunnels", "shiny.log").read_text()
    assert "TargetNotConnected" in log
