"""Two local platforms on one machine (make up, a test's, a benchmark's) keep their host-side copies apart.

The DW's and OLTP's migration copies and the seed catalog used to go to fixed paths under /var/lib: a platform
whose branch had other migrations left its files there, and the next platform's re-run copied its own beside them
and applied the foreign ones into its warehouse (seen as changed=2 in a no-op benchmark run). Each copy now lives
under the platform's clickstream_local_state_dir. No playbook provisions anything here: a play loads the roles'
defaults (an import with `when: false` runs none of their tasks) and prints the paths.
"""

from __future__ import annotations

import json

from scripts.harness.ansible import run_playbook
from scripts.harness.local_platform import local_platform

PLAYBOOK = """
- hosts: dw-local
  gather_facts: false
  tasks:
    - {ansible.builtin.import_role: {name: dw_db, tasks_from: main}, when: false}
    - {ansible.builtin.import_role: {name: oltp_db, tasks_from: main}, when: false}
    - ansible.builtin.copy:
        content: "{{ {'dw': dw_db_migrations_dest, 'oltp': oltp_db_migrations_dest,
                      'catalog': oltp_db_catalog_dest} | to_json }}"
        dest: "{{ paths_file }}"
        mode: "0644"
"""


def test_each_platform_keeps_its_migration_copies_and_catalog_under_its_own_state_dir(tmp_path) -> None:
    book = tmp_path / "paths.yml"
    book.write_text(PLAYBOOK)
    with local_platform("clickstream-paths-") as platform:
        out = tmp_path / "paths.json"
        run = run_playbook(str(book), "-e", f"paths_file={out}", inventory=str(platform.inventory))
        assert run.rc == 0, run.output[-2000:]
        paths = json.loads(out.read_text())
        state = platform.root / "state"
        assert paths == {"dw": f"{state}/sql/dw", "oltp": f"{state}/sql/oltp",
                         "catalog": f"{state}/catalog/products.csv"}, paths
