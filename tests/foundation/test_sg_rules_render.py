"""The security-group rules the network role would set, rendered without AWS: nothing is open by default."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from scripts.harness.ansible import run_playbook

PLAYBOOK = "tests/foundation/render_sg_rules.yml"


def _render(**extra: Any) -> dict[str, Any]:
    args = ["-e", json.dumps(extra)] if extra else []
    run = run_playbook(PLAYBOOK, *args)
    assert run.rc == 0, run.output[-3000:]
    match = re.search(r"SG-RULES>>(.*?)<<SG-RULES", run.output, re.S)
    assert match, run.output[-3000:]
    return json.loads(match.group(1).replace("\n", " "))


def _ports(rules: list[dict[str, Any]]) -> list[tuple[int, list[str]]]:
    return [(int(r["ports"][0]), r["cidr_ip"]) for r in rules]


def test_defaults_open_nothing_to_the_internet() -> None:
    rendered = _render()["ingress"]
    assert rendered["oltp"] == []
    assert rendered["shiny"] == []
    assert rendered["etl_lambda"] == []
    assert [r["cidr_ip"] for r in rendered["endpoints"]] == ["10.0.0.0/16"]
    expected_dw_sources = {"clickstream-local-sg-etl-lambda", "clickstream-local-sg-shiny"}
    assert {r["group_name"] for r in rendered["dw"]} == expected_dw_sources


@pytest.mark.parametrize(("extra", "oltp", "shiny"), [
    ({"network_oltp_trusted_cidrs": ["198.51.100.0/24"]}, [(5432, ["198.51.100.0/24"])], []),
    ({"network_admin_cidrs": ["192.0.2.8/29"]}, [(22, ["192.0.2.8/29"])], [(3838, ["192.0.2.8/29"])]),
    ({"network_admin_cidrs": ["192.0.2.8/29"], "network_oltp_ssh_cidrs": []}, [], [(3838, ["192.0.2.8/29"])]),
])
def test_ssh_and_shiny_only_from_configured_cidrs(extra: dict[str, Any], oltp: list[Any], shiny: list[Any]) -> None:
    rendered = _render(**extra)["ingress"]
    assert _ports(rendered["oltp"]) == oltp
    assert _ports(rendered["shiny"]) == shiny


def test_postgres_open_to_the_world_needs_the_acknowledgement() -> None:
    refused = run_playbook(PLAYBOOK, "-e", json.dumps({"network_oltp_trusted_cidrs": ["198.51.100.0/24", "0.0.0.0/0"]}))
    assert refused.rc != 0
    assert "network_oltp_world_open_acknowledged=true" in " ".join(refused.output.split())
    acknowledged = _render(network_oltp_trusted_cidrs=["0.0.0.0/0"], network_oltp_world_open_acknowledged=True)
    assert _ports(acknowledged["ingress"]["oltp"]) == [(5432, ["0.0.0.0/0"])]
