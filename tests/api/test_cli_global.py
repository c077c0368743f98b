"""The admin CLI as a user types it: global options anywhere, the endpoint found by itself.

- ``--output``/``--endpoint``/``--data-dir`` work after the subcommand too;
- ``cloudctl up`` records its endpoint in the data dir, so ``cloudctl credentials``
  (no ``--endpoint``) writes the port the cloud really listens on;
  ``CLOUDCTL_ENDPOINT`` overrides the record and ``--endpoint`` overrides both;
- ``credentials --format aws`` tells AWS CLI v2 < 2.13 users to pass ``--endpoint-url``
  in a comment the ini parsers skip;
- ``cloudctl up`` on a host without libvirt exits non-zero and says what to install.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.infra.postgres import free_port
from tests.support import LiveCloud


def _cloudctl(cloud: LiveCloud, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    """cloudctl without the --endpoint LiveCloud.cli passes."""
    run_env = cloud.env()
    run_env.pop("CLOUDCTL_ENDPOINT", None)
    run_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "cloudctl", *args], env=run_env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_global_options_after_the_subcommand(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    out = _cloudctl(cloud, "property", "list", "--output", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["cloud.scheduler.cpu_overcommit_ratio"] == 4
    # --data-dir and --endpoint after the subcommand, and before it, agree
    after = _cloudctl(cloud, "credentials", "--data-dir", str(cloud.data_dir), "--output",
                      "json", "--endpoint", cloud.endpoint)
    before = _cloudctl(cloud, "--output", "json", "--endpoint", cloud.endpoint, "credentials")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert json.loads(after.stdout)["Endpoint"] == cloud.endpoint


def test_credentials_find_the_running_clouds_port(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    assert cloud.port != 8773
    assert (cloud.data_dir / "endpoint").read_text().strip() == cloud.endpoint
    out = _cloudctl(cloud, "credentials", "--format", "eucarc")
    assert out.returncode == 0, out.stderr
    assert f"export EC2_URL={cloud.endpoint}/services/compute\n" in out.stdout
    assert ":8773" not in out.stdout
    # the environment overrides the record, --endpoint overrides both
    env = {"CLOUDCTL_ENDPOINT": "http://127.0.0.1:1"}
    assert "http://127.0.0.1:1/services/compute" in _cloudctl(
        cloud, "credentials", "--format", "eucarc", env=env).stdout
    assert f"{cloud.endpoint}/services/compute" in _cloudctl(
        cloud, "credentials", "--format", "eucarc", "--endpoint", cloud.endpoint,
        env=env).stdout
    # and commands that talk to the cloud reach it without --endpoint
    listed = _cloudctl(cloud, "--output", "json", "service", "list")
    assert listed.returncode == 0, listed.stderr


def test_aws_profile_tells_old_cli_v2_to_pass_endpoint_url(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    out = _cloudctl(cloud, "credentials", "--format", "aws")
    assert out.returncode == 0, out.stderr
    assert f"--endpoint-url {cloud.endpoint}" in out.stdout
    note = [line for line in out.stdout.splitlines() if "--endpoint-url" in line]
    assert note and all(line.startswith("#") for line in note)
    config_part, _, creds_part = out.stdout.partition("# ~/.aws/credentials")
    parser = configparser.ConfigParser()
    parser.read_string(config_part)
    section = parser["profile eucalyptus-admin"]
    assert section["endpoint_url"] == cloud.endpoint
    parser.read_string(creds_part)
    assert parser["eucalyptus-admin"]["aws_access_key_id"] == cloud.access_key


def test_up_without_libvirt_fails_and_says_what_to_install() -> None:
    data = Path(tempfile.mkdtemp(prefix="cloudctl-nolibvirt-"))
    empty = data / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDCTL_")}
    env.update(PATH=str(empty), CLOUDCTL_DATA_DIR=str(data), CLOUDCTL_DEMO_IMAGE="0")
    try:
        out = subprocess.run([sys.executable, "-m", "cloudctl", "up", "--listen",
                              f"127.0.0.1:{free_port()}"], env=env, capture_output=True,
                             text=True, timeout=120, check=False)
        assert out.returncode != 0, out.stdout
        assert "libvirtd" in out.stderr and "not found" in out.stderr, out.stderr
        assert "scripts/install-deps.sh run" in out.stderr, out.stderr
        assert "apt-get install" in out.stderr and "tini" in out.stderr, out.stderr
        assert "cloud is up" not in out.stdout
        assert not (data / "libvirtd").exists()
    finally:
        shutil.rmtree(data, ignore_errors=True)
