"""Fixtures of the API tests beyond the suite's own: a live cloud in VPC mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import LiveCloud, new_cloud, run_cloud


@pytest.fixture(scope="session")
def vpc_cloud() -> Iterator[LiveCloud]:
    """A new live cloud (SQLite) in the mode ``cloudctl up`` gives a new cloud when not
    told otherwise (VPC: accounts get a default VPC)."""
    live = new_cloud()
    live.network_mode = None  # no --network-mode: the default must be VPC
    yield from run_cloud(live)
