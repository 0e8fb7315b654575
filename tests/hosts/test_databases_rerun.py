"""The Databases play's no-op re-run (issue #24): on a platform it set up, a second playbooks/databases.yml run for
both hosts changes nothing, check mode after it changes nothing, and it stays within a pinned number of module runs
and executed tasks, counted by bench/provisioning's task_ledger callback (counts, never seconds). The budget is what
the play needs: per host the cluster, the database state, the backup files with their check and the backup loop;
for both hosts together one SSM run (passwords, DATABASE_URL, CA certificate) and one IAM run (backup policies);
the host facts per host (the lake index is read within the DW's database state run).

The platform is this test's own (scripts/harness/local_platform.py: its own clusters, ports and directories) with
its own moto server."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.local_platform import local_platform
from scripts.harness.moto import MotoServer
from scripts.harness.task_ledger import CALLBACKS, ledger_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3000)]

PLAY = "Databases: OLTP and DW PostgreSQL, shop and warehouse databases, migrations, seed catalog, backups"
# Module runs and executed (ok or changed) tasks of the no-op run, both hosts (before #24: 18 and 106). The tasks
# include one set_fact per host that keeps the passwords for the Dashboards play (which then reads no SSM).
MAX_MODULE_RUNS = 12
MAX_TASKS = 41


@dataclass
class Rerun:
    second: PlaybookRun
    check: PlaybookRun
    counts: dict
    ledger: Path


@pytest.fixture(scope="module")
def rerun(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rerun]:
    tmp = tmp_path_factory.mktemp("databases-rerun")
    moto = MotoServer(tmp)
    try:
        with local_platform(prefix="clickstream-dbrerun-") as platform:
            env = moto.env()
            inv = str(platform.inventory)
            for playbook in ("playbooks/storage.yml", "playbooks/iam.yml", "playbooks/databases.yml"):
                run = run_playbook(playbook, inventory=inv, env=env)
                assert run.rc == 0, run.output[-6000:]
            ledger = tmp / "ledger.jsonl"
            counted = {**env, "ANSIBLE_CALLBACKS_ENABLED": "task_ledger", "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
                       "TASK_LEDGER_PATH": str(ledger)}
            second = run_playbook("playbooks/databases.yml", inventory=inv, env=counted)
            counts = ledger_counts(ledger)
            check = run_playbook("playbooks/databases.yml", "--check", inventory=inv, env=env)
            yield Rerun(second, check, counts, ledger)
    finally:
        moto.close()


def test_the_rerun_and_check_mode_change_nothing(rerun: Rerun) -> None:
    assert rerun.second.rc == 0 and rerun.second.changed == 0, rerun.second.changed_tasks()
    assert set(rerun.second.recap) == {"oltp-local", "dw-local"}
    assert rerun.check.rc == 0 and rerun.check.changed == 0, rerun.check.changed_tasks()


def test_the_rerun_stays_within_its_module_runs_and_tasks(rerun: Rerun) -> None:
    play = rerun.counts["plays"][PLAY]
    assert play["modules"] <= MAX_MODULE_RUNS, play
    assert play["tasks"] <= MAX_TASKS, play


def test_the_aws_calls_run_once_for_both_hosts(rerun: Rerun) -> None:
    import json

    rows = [json.loads(line) for line in rerun.ledger.read_text().splitlines()]
    ran = Counter(r["action"] for r in rows if r["status"] in ("ok", "changed"))
    assert ran["clickstream.platform.ssm_parameters"] == 1, ran
    assert ran["clickstream.platform.iam_roles"] == 1, ran
    # and the host side once per host: the cluster, the database state of each host, the backup files
    assert ran["clickstream.platform.postgresql_cluster"] == 2, ran
    assert ran["clickstream.platform.postgresql_state"] == 2, ran
    assert ran["clickstream.platform.file_set"] == 2, ran
    assert ran["community.postgresql.postgresql_query"] == 0, ran  # the lake index read by postgresql_state
