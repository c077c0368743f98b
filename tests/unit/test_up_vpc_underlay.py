"""``cloudctl up --vpc-underlay ADDRESS@DEV`` (or ``CLOUDCTL_VPC_UNDERLAY``): the
all-in-one host's VPC agent carries the overlay on that address and device instead of
loopback; a malformed value is a usage error of ``up`` only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudctl.cli.vpc_host import LOOPBACK, VpcHost, parse_underlay
from cloudctl.config import load_settings


def test_the_underlay_names_the_agents_address_and_device(tmp_path: Path) -> None:
    assert parse_underlay("") == LOOPBACK == ("127.0.0.1", "lo")
    assert parse_underlay("10.250.0.1@ul0") == ("10.250.0.1", "ul0")
    for bad in ("10.250.0.1", "ul0", "host@ul0", "10.250.0.1@", "@ul0"):
        with pytest.raises(Exception, match="ADDRESS@DEV"):
            parse_underlay(bad)
    settings = load_settings(tmp_path / "cloud", database_url=None)
    host = VpcHost(settings, zookeeper="", netns="ns1", region="r", guest_bridges=True,
                   underlay=("10.250.0.1", "ul0"))
    argv = host._argv()
    assert argv[argv.index("--underlay-ip") + 1] == "10.250.0.1"
    assert argv[argv.index("--underlay-dev") + 1] == "ul0"
    one = VpcHost(settings, zookeeper="", netns="ns1", region="r", guest_bridges=True)
    assert one._argv()[one._argv().index("--underlay-dev") + 1] == "lo"


def test_a_malformed_underlay_is_a_usage_error_of_up_only(tmp_path: Path) -> None:
    env = {"CLOUDCTL_VPC_UNDERLAY": "eth1", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    up = subprocess.run([sys.executable, "-m", "cloudctl", "--data-dir", str(tmp_path), "up"],
                        env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 2 and "expected ADDRESS@DEV" in up.stderr, up.stderr
    other = subprocess.run([sys.executable, "-m", "cloudctl", "--data-dir", str(tmp_path),
                            "node", "--help"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert other.returncode == 0 and "register" in other.stdout, other.stderr
