"""Finding 2 of issue 18: a host play whose aws_ec2 group is empty must fail loudly, not print "no hosts matched".

The AWS inventory (inventories/aws + the overlay of tests/aws_path/aws_inventory.py) against an emulator with
no instances: `--tags oltp` used to skip the databases play and succeed. (That the groups fill up in the same
run after compute, through the inventory refresh, is shown by the whole-site test, test_aws_path.py.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness.moto import MotoServer
from tests.aws_path.aws_inventory import AwsPath, make_root, remove_root, write_amis

pytestmark = pytest.mark.integration


@pytest.fixture()
def aws_path(artifacts_dir: Path) -> Iterator[AwsPath]:
    """An emulator with the Debian image (the preflight's AMI check passes, as on a set-up account) and no instance."""
    root = make_root()
    moto = MotoServer(artifacts_dir, amis_path=write_amis(root))
    path = AwsPath(root, moto.env())
    try:
        yield path
    finally:
        path.close()
        moto.close()
        remove_root(root)


def test_a_host_play_without_its_instances_fails_naming_the_groups(aws_path: AwsPath) -> None:
    run = aws_path.playbook("site.yml", "--tags", "oltp")
    assert run.rc != 0, run.output[-3000:]
    unfolded = re.sub(r"\n[ \t]+", " ", run.output)
    assert "No host in inventory group(s) oltp, dw, shiny" in unfolded, run.output[-3000:]
    assert "--tags compute" in unfolded
    # The run stopped before the databases play (the preflight play only loads the postgresql role's inputs).
    assert "PLAY [Databases:" not in run.output


def test_check_mode_reports_the_empty_groups_without_failing(aws_path: AwsPath) -> None:
    run = aws_path.playbook("site.yml", "--tags", "oltp", "--check")
    assert run.rc == 0, run.output[-3000:]
    assert "have no host yet" in re.sub(r"\n[ \t]+", " ", run.output)
