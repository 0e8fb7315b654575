"""Findings 5 and 7 of issue 18, read from the roles as Ansible will run them.

5: over Session Manager (amazon.aws.aws_ssm, which community.aws.aws_ssm redirects to) one command may run at most
   `ssm_timeout` seconds, 60 by default: every task that installs or fetches packages on a host sets the
   connection's variable to a role default that fits a package installation.
7: Debian's cloud images ship with empty package lists: every apt install refreshes them when older than
   cache_valid_time (idempotent: an unchanged cache is no change), except from the package mirror, whose own
   index the package_mirror role loads (the DW's other sources are unreachable).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from scripts.harness.ansible import REPO

HOST_ROLES = ["postgresql", "shiny_server", "package_mirror", "oltp_db", "dw_db", "process_service"]
SSM_TIMEOUT_VAR = "ansible_aws_ssm_timeout"


def _tasks(role: str) -> list[tuple[str, dict]]:
    out = []
    for path in sorted((REPO / "roles" / role / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            for t in [task, *task.get("block", []), *task.get("rescue", []), *task.get("always", [])]:
                out.append((f"{path.relative_to(REPO)}: {t.get('name')}", t))
    return out


def _defaults(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "defaults/main.yml").read_text()) or {}


def _resolve(role: str, value: object) -> object:
    """A '{{ role_var }}' reference resolved from the role's defaults (one level, enough for these settings)."""
    m = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", str(value).strip())
    return _defaults(role).get(m.group(1)) if m else value


def _apt_installs() -> list[tuple[str, str, dict]]:
    return [(role, where, t) for role in HOST_ROLES for where, t in _tasks(role)
            if "ansible.builtin.apt" in t and t["ansible.builtin.apt"].get("name")]


def _package_commands() -> list[tuple[str, str, dict]]:
    """Tasks that install packages or fetch the mirror on the host (not the builder's publish tasks)."""
    found = _apt_installs()
    for where, t in _tasks("package_mirror"):
        if "publish" in where:
            continue
        argv = (t.get("ansible.builtin.command") or {}).get("argv", "")
        if "apt-get" in str(argv) or "ansible.builtin.get_url" in t:
            found.append(("package_mirror", where, t))
    return found


def test_the_connection_reads_the_timeout_variable() -> None:
    """The variable the roles set is the one the installed aws_ssm connection plugin reads for ssm_timeout
    (community.aws.aws_ssm, which the inventory names, is a redirect to amazon.aws.aws_ssm in 10.x)."""
    import importlib
    import importlib.util

    community = Path(importlib.util.find_spec("ansible_collections.community.aws").submodule_search_locations[0])
    routing = yaml.safe_load((community / "meta/runtime.yml").read_text())["plugin_routing"]["connection"]
    target = routing.get("aws_ssm", {}).get("redirect", "community.aws.aws_ssm")
    namespace, collection, name = target.split(".")
    plugin = importlib.import_module(f"ansible_collections.{namespace}.{collection}.plugins.connection.{name}")
    option = yaml.safe_load(plugin.DOCUMENTATION)["options"]["ssm_timeout"]
    assert {v["name"] for v in option["vars"]} == {SSM_TIMEOUT_VAR}
    assert int(option["default"]) == 60


def test_every_package_installation_gets_a_session_manager_timeout_that_fits() -> None:
    found = _package_commands()
    assert {r for r, _, _ in found} >= {"postgresql", "shiny_server", "package_mirror"}
    too_short = {}
    for role, where, task in found:
        value = _resolve(role, (task.get("vars") or {}).get(SSM_TIMEOUT_VAR))
        if value is None or int(value) < 600:
            too_short[where] = value
    assert not too_short, f"package tasks without an {SSM_TIMEOUT_VAR} of at least 600 s: {too_short}"


def test_apt_installs_refresh_the_package_lists_unless_from_the_mirror() -> None:
    installs = _apt_installs()
    assert {r for r, _, _ in installs} >= {"postgresql", "shiny_server"}
    for role, where, task in installs:
        apt = task["ansible.builtin.apt"]
        valid = _resolve(role, apt.get("cache_valid_time"))
        assert valid is not None and int(valid) > 0, where
        source_var = f"{role}_install_source"
        # update_cache is true from apt and false from the mirror.
        assert re.fullmatch(r"\{\{\s*" + source_var + r"\s*!=\s*'mirror'\s*\}\}", str(apt.get("update_cache"))), where
