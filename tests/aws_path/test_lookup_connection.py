"""Finding 1 of issue 18: lookups must get no `omit` in their keyword arguments.

A lookup's keyword arguments are plugin options; ansible-core 2.19 refuses `omit` there ("Invalid value provided
for 'str': <<Omit>>"). The AWS inventory leaves the endpoint and keys empty, so every `x or omit` in a lookup
turned into that error on the AWS path. The scan covers the class (every lookup/query call in the repository's
YAML and templates); the playbook run covers the instance that stopped the databases plays (db_secrets).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.moto import MotoServer

SCANNED = ["roles", "playbooks", "inventories", "collections", "site.yml"]
_CALL = re.compile(r"\b(lookup|query|q)\s*\(")


def _calls(text: str) -> list[tuple[int, str]]:
    """(line, text) of every lookup(...)/query(...) call, parentheses matched across lines."""
    found = []
    for m in _CALL.finditer(text):
        depth, i = 0, m.end() - 1
        while i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        found.append((text.count("\n", 0, m.start()) + 1, text[m.start():i + 1]))
    return found


def _files() -> list[Path]:
    out: list[Path] = []
    for name in SCANNED:
        path = REPO / name
        out.extend([path] if path.is_file() else
                   [p for ext in ("*.yml", "*.yaml", "*.j2") for p in path.rglob(ext)])
    return sorted(out)


def test_no_lookup_gets_omit_in_its_arguments() -> None:
    offenders = [f"{p.relative_to(REPO)}:{line}: {' '.join(call.split())[:160]}"
                 for p in _files() for line, call in _calls(p.read_text(errors="replace"))
                 if re.search(r"\bomit\b", call)]
    assert not offenders, "omit inside a lookup's arguments fails on ansible-core 2.19:\n" + "\n".join(offenders)


def test_the_scan_finds_omit_in_a_lookup() -> None:
    """The scanner itself: a multi-line call with omit is found, one without is not."""
    text = ("x: >-\n  {{ lookup('amazon.aws.ssm_parameter', n,\n     endpoint_url=e or omit) }}\n"
            "y: \"{{ lookup('env', 'HOME') }}\"\nz: \"{{ v | default(omit) }}\"\n")
    calls = _calls(text)
    assert [line for line, call in calls if "omit" in call] == [2]
    assert len(calls) == 2


@pytest.mark.integration
def test_db_secrets_reads_and_writes_ssm_without_endpoint_variables(moto_server: MotoServer) -> None:
    """The role with the AWS inventory's empty endpoint/keys, the emulator reached through AWS_ENDPOINT_URL."""
    prefix = f"/clickstream-pathtest/{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}/owner/password", f"{prefix}/app/password"]
    extra = json.dumps({"aws_path_test_parameters": names})
    first = run_playbook("tests/aws_path/playbooks/db_secrets.yml", "-e", extra, env=moto_server.env())
    assert first.rc == 0, first.output[-3000:]
    assert "handled 2 parameters" in first.output
    ssm = moto_server.client("ssm")
    stored = {n: ssm.get_parameter(Name=n, WithDecryption=True)["Parameter"] for n in names}
    assert all(p["Type"] == "SecureString" and len(p["Value"]) == 32 for p in stored.values())
    # The second run reads the stored passwords back (clickstream.platform.ssm_parameters) and keeps them.
    second = run_playbook("tests/aws_path/playbooks/db_secrets.yml", "-e", extra, env=moto_server.env())
    assert second.rc == 0 and second.changed == 0, second.changed_tasks() or second.output[-3000:]
    again = {n: ssm.get_parameter(Name=n, WithDecryption=True)["Parameter"]["Value"] for n in names}
    assert again == {n: p["Value"] for n, p in stored.items()}
    assert not any(v in first.output + second.output for v in again.values())
