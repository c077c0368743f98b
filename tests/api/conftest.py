"""Fixtures of the API tests beyond the suite's own: a live cloud in VPC mode."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from tests.support import LiveCloud, new_cloud


@pytest.fixture(scope="session")
def vpc_cloud() -> Iterator[LiveCloud]:
    """A live cloud (SQLite) whose network mode is VPC: accounts get a default VPC."""
    from cloudctl.services.network.config import DEFAULT_CONFIG

    live = new_cloud()
    live.start()
    try:
        value = json.dumps({**DEFAULT_CONFIG, "Mode": "VPC"})
        live.cli("property", "set", f"cloud.network.network_configuration={value}")
        yield live
    finally:
        live.stop()
        shutil.rmtree(live.data_dir, ignore_errors=True)
