"""Two local platforms on one machine (make up, a test's, a benchmark's) never apply each other's migrations.

The DW's and OLTP's migration files and the seed catalog used to be copied to the host, first to fixed paths under
/var/lib: a platform whose branch had other migrations left its files there, and the next platform's re-run applied
the foreign ones into its warehouse (seen as changed=2 in a no-op benchmark run). Now nothing is copied: the roles
hand the module that applies them the text of their own checkout's files. No playbook provisions anything here: a
play loads the roles' variables (an import with `when: false` runs none of their tasks) and prints what they would
hand over.
"""

from __future__ import annotations

import json

from scripts.harness.ansible import REPO, run_playbook
from scripts.harness.local_platform import local_platform

PLAYBOOK = """
- hosts: dw-local
  gather_facts: false
  tasks:
    - {ansible.builtin.import_role: {name: dw_db, tasks_from: main}, when: false}
    - {ansible.builtin.import_role: {name: oltp_db, tasks_from: main}, when: false}
    - ansible.builtin.copy:
        content: "{{ {'dw': __dw_db_migrations, 'oltp': __oltp_db_migrations,
                      'catalog': __oltp_db_seed_script.copy_data} | to_json }}"
        dest: "{{ paths_file }}"
        mode: "0644"
"""


def test_the_roles_apply_their_own_checkouts_migrations_and_catalog(tmp_path) -> None:
    book = tmp_path / "paths.yml"
    book.write_text(PLAYBOOK)
    with local_platform("clickstream-paths-") as platform:
        out = tmp_path / "paths.json"
        # role_path (the defaults' base) exists only inside a role's tasks: the sources are given as the defaults
        # resolve them there, the checkout's sql/ and files/.
        sources = {"paths_file": str(out), "dw_db_migrations_src": f"{REPO}/sql/dw/",
                   "oltp_db_migrations_src": f"{REPO}/sql/oltp/",
                   "oltp_db_catalog_src": f"{REPO}/files/catalog/products.csv"}
        run = run_playbook(str(book), "-e", json.dumps(sources), inventory=str(platform.inventory))
        assert run.rc == 0, run.output[-2000:]
        handed = json.loads(out.read_text())
        for key in ("dw", "oltp"):
            files = sorted((REPO / "sql" / key).glob("*.sql"))
            assert handed[key] == [{"name": f.name, "content": f.read_text(encoding="utf-8")} for f in files], key
        assert handed["catalog"] == (REPO / "files/catalog/products.csv").read_text(encoding="utf-8")
        assert not (platform.root / "state/sql").exists()
