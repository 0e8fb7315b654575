"""Fixtures of the host tests: the emulator prepared with what the compute tag needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.harness.moto import MotoServer
from tests.hosts.aws_fixtures import make_network_and_profile


@pytest.fixture()
def emulator_with_network(moto_server: MotoServer) -> Iterator[MotoServer]:
    """The session's moto, emptied, with the VPC, subnets, security groups and SSM instance profile."""
    moto_server.reset()
    make_network_and_profile(moto_server.client("ec2"), moto_server.client("iam"))
    yield moto_server
