"""Real S3 tools against a live cloud: rclone with SigV4 and with SigV2, and restic.

Each run syncs a tree with small files and one large enough for multipart uploads,
checks it byte for byte, and cleans up; restic initialises a repository, backs up,
checks and restores.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud

pytestmark = pytest.mark.skipif(shutil.which("rclone") is None or shutil.which("restic") is None,
                                reason="rclone and restic come from scripts/deps/s3tools.sh")


def _tree(root: Path) -> Path:
    (root / "dir" / "sub").mkdir(parents=True)
    for n in range(20):
        (root / "dir" / f"small-{n}.txt").write_text(f"file {n}\n" * (n + 1))
    (root / "dir" / "sub" / "name with spaces+plus ü.bin").write_bytes(os.urandom(4096))
    (root / "dir" / "large.bin").write_bytes(os.urandom(12 * 1024 * 1024))  # multipart
    return root / "dir"


def _env(cloud: LiveCloud) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(AWS_ACCESS_KEY_ID=cloud.access_key, AWS_SECRET_ACCESS_KEY=cloud.secret_key)
    return env


def _rclone(cloud: LiveCloud, v2: bool, *args: str) -> subprocess.CompletedProcess[str]:
    env = _env(cloud)
    env.update(RCLONE_CONFIG_CLOUD_TYPE="s3", RCLONE_CONFIG_CLOUD_PROVIDER="Other",
               RCLONE_CONFIG_CLOUD_ACCESS_KEY_ID=cloud.access_key,
               RCLONE_CONFIG_CLOUD_SECRET_ACCESS_KEY=cloud.secret_key,
               RCLONE_CONFIG_CLOUD_ENDPOINT=cloud.endpoint,
               RCLONE_CONFIG_CLOUD_REGION=cloud.region,
               RCLONE_CONFIG_CLOUD_V2_AUTH="true" if v2 else "false")
    out = subprocess.run(["rclone", "--config", "/dev/null", "--s3-upload-cutoff", "5M",
                          "--s3-chunk-size", "5M", *args], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.mark.parametrize("signature", ["v4", "v2"])
def test_rclone_sync_check_and_cleanup(sqlite_cloud: LiveCloud, tmp_path: Path,
                                       signature: str) -> None:
    v2 = signature == "v2"
    source = _tree(tmp_path / "src")
    bucket = bucket_name(f"rclone{signature}")
    _rclone(sqlite_cloud, v2, "mkdir", f"cloud:{bucket}")
    _rclone(sqlite_cloud, v2, "sync", str(source), f"cloud:{bucket}/tree")
    _rclone(sqlite_cloud, v2, "check", str(source), f"cloud:{bucket}/tree")
    listed = _rclone(sqlite_cloud, v2, "lsf", "-R", f"cloud:{bucket}/tree").stdout.split("\n")
    assert "sub/name with spaces+plus ü.bin" in listed and "large.bin" in listed
    back = tmp_path / "back"
    _rclone(sqlite_cloud, v2, "copy", f"cloud:{bucket}/tree", str(back))
    assert not filecmp.dircmp(source, back).diff_files
    assert filecmp.cmp(source / "large.bin", back / "large.bin", shallow=False)
    (source / "small-3.txt").unlink()  # sync deletes on the remote too
    _rclone(sqlite_cloud, v2, "sync", str(source), f"cloud:{bucket}/tree")
    _rclone(sqlite_cloud, v2, "check", str(source), f"cloud:{bucket}/tree")
    _rclone(sqlite_cloud, v2, "cleanup", f"cloud:{bucket}")  # lists and aborts uploads
    _rclone(sqlite_cloud, v2, "purge", f"cloud:{bucket}")
    buckets = _rclone(sqlite_cloud, v2, "lsd", "cloud:").stdout
    assert bucket not in buckets


def test_restic_backup_check_restore(sqlite_cloud: LiveCloud, tmp_path: Path) -> None:
    source = _tree(tmp_path / "src")
    bucket = bucket_name("restic")
    sqlite_cloud.client("s3").create_bucket(Bucket=bucket)
    env = _env(sqlite_cloud)
    env.update(RESTIC_REPOSITORY=f"s3:{sqlite_cloud.endpoint}/{bucket}",
               RESTIC_PASSWORD="correct horse battery staple",
               RESTIC_CACHE_DIR=str(tmp_path / "cache"))

    def restic(*args: str) -> str:
        out = subprocess.run(["restic", *args], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    restic("init")
    restic("backup", str(source))
    (source / "small-0.txt").write_text("changed\n")
    restic("backup", str(source))
    assert len(restic("snapshots", "--json").strip().strip("[]").split('"time"')) == 3
    restic("check", "--read-data")
    target = tmp_path / "restored"
    restic("restore", "latest", "--target", str(target))
    restored = target / source.relative_to("/")
    assert (restored / "small-0.txt").read_text() == "changed\n"
    assert filecmp.cmp(source / "large.bin", restored / "large.bin", shallow=False)
