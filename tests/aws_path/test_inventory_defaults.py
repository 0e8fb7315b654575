"""Finding 4 of issue 18: the private DW has no route out, so on the AWS inventory it installs from the package
mirror (docs/private-install.md, path 2) by default, and apt does not try the Debian mirrors it cannot reach.
Read with Ansible's own inventory and variable manager, for a host in the dw and shiny groups."""

from __future__ import annotations

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.vars.manager import VariableManager

from scripts.harness.ansible import REPO


def _host_vars(groups: list[str]) -> dict:
    init_plugin_loader()
    loader = DataLoader()
    # hosts.yml only (the aws_ec2 source would call AWS); group_vars next to it load as they do in a real run.
    inventory = InventoryManager(loader=loader, sources=[str(REPO / "inventories/aws/hosts.yml")])
    for group in groups:
        inventory.add_group(group)
        inventory.add_host("stand-in", group=group)
    variables = VariableManager(loader=loader, inventory=inventory)
    return variables.get_vars(host=inventory.get_host("stand-in"))


def test_the_dw_installs_from_the_package_mirror() -> None:
    dw = _host_vars(["dw", "shiny"])
    assert dw["postgresql_install_source"] == "mirror"
    assert dw["shiny_server_install_source"] == "mirror"
    assert dw["package_mirror_disable_other_sources"] is True


def test_the_public_oltp_host_keeps_debian_apt() -> None:
    oltp = _host_vars(["oltp"])
    assert oltp.get("postgresql_install_source", "apt") == "apt"
    assert not oltp.get("package_mirror_disable_other_sources", False)
