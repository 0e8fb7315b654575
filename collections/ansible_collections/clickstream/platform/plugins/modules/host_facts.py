#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_facts
short_description: The memory, CPU and service manager facts and the dpkg state of packages, in one call
description:
  - Sets the facts C(memtotal_mb), C(processor_vcpus) (and the other memory and CPU facts of
    C(ansible.builtin.setup)'s hardware subset) and C(service_mgr), computed by the same code as
    C(ansible.builtin.setup), and C(clickstream_dpkg_status), the dpkg status (C(installed), C(not-installed),
    C(config-files), ..., C(unknown) for a package dpkg does not know) of each of O(packages), and
    C(clickstream_users), each of O(users) that exists with its uid, group, home and shell (from the passwd and group
    databases), so that a role creates a user only when it is missing or differs.
  - One module run where setup (hardware, service_mgr) and a C(dpkg-query) per role were several.
  - Reads only; never changes anything (check mode runs it too).
version_added: 1.3.0
author: clickstream-analytics
options:
  packages:
    description: Debian packages whose dpkg status is read.
    type: list
    elements: str
    default: []
  users:
    description: Users whose account is read.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Facts the settings derive from, and which packages are installed
  clickstream.platform.host_facts:
    packages: [postgresql-15, barman-cli-cloud]
"""

RETURN = r"""
ansible_facts:
  description: >-
    memtotal_mb, processor_vcpus, ..., service_mgr, clickstream_dpkg_status ({package: status}), clickstream_users
    ({user: {uid, group, home, shell}}, existing users only).
  returned: always
  type: dict
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.facts.hardware.linux import LinuxHardware
from ansible.module_utils.facts.system.service_mgr import ServiceMgrFactCollector


def dpkg_status(module: AnsibleModule, packages: list[str]) -> dict[str, str]:
    """{package: status} from dpkg's status file (dpkg-query, not apt: no cache opened)."""
    if not packages:
        return {}
    status = dict.fromkeys(packages, "unknown")
    dpkg = module.get_bin_path("dpkg-query")
    if dpkg is None:
        return status
    # rc 1 when a package is unknown: the others are still listed.
    _, out, _ = module.run_command([dpkg, "--show", "--showformat=${Package}\t${db:Status-Status}\n", *packages])
    for line in out.splitlines():
        name, _, state = line.partition("\t")
        name = name.split(":", 1)[0]
        if name in status and state:
            status[name] = state
    return status


def users(names: list[str]) -> dict[str, dict]:
    found = {}
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        try:
            group = grp.getgrgid(entry.pw_gid).gr_name
        except KeyError:
            group = str(entry.pw_gid)
        found[name] = {"uid": entry.pw_uid, "group": group, "home": entry.pw_dir, "shell": entry.pw_shell}
    return found


def main() -> None:
    module = AnsibleModule(argument_spec={"packages": {"type": "list", "elements": "str", "default": []},
                                          "users": {"type": "list", "elements": "str", "default": []}},
                           supports_check_mode=True)
    hardware = LinuxHardware(module)
    facts: dict = {}
    facts.update(hardware.get_memory_facts())
    facts.update(hardware.get_cpu_facts(collected_facts={}))
    facts.update(ServiceMgrFactCollector().collect(module=module, collected_facts={"ansible_system": "Linux"}))
    facts["clickstream_dpkg_status"] = dpkg_status(module, module.params["packages"])
    facts["clickstream_users"] = users(module.params["users"])
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
