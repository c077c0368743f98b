"""S3 through the AWS CLI (``s3`` and ``s3api``) and s3cmd (SigV2 and SigV4), as users run them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.s3_helpers import bucket_name, http
from tests.support import MODELS, LiveCloud


def aws(cloud: LiveCloud, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The AWS CLI with a config file lowering the multipart threshold to 5 MB."""
    config = tmp / "aws-config"
    config.write_text("[default]\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n")
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": cloud.access_key, "AWS_SECRET_ACCESS_KEY": cloud.secret_key,
                "AWS_DEFAULT_REGION": cloud.region, "AWS_DATA_PATH": str(MODELS),
                "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_MAX_ATTEMPTS": "1"})
    env.pop("AWS_PROFILE", None)
    return subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", cloud.endpoint,
                           "--output", "json", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=True)


def test_aws_cli_flows(cloud: LiveCloud, tmp_path: Path) -> None:
    name = bucket_name("cli")
    aws(cloud, tmp_path, "s3", "mb", f"s3://{name}")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    for index in range(5):
        (src / f"f{index}.txt").write_text(f"file {index}\n")
    (src / "sub" / "deep.bin").write_bytes(os.urandom(4096))
    aws(cloud, tmp_path, "s3", "sync", str(src), f"s3://{name}/tree")
    listed = json.loads(aws(cloud, tmp_path, "s3api", "list-objects-v2", "--bucket", name,
                            "--prefix", "tree/").stdout)
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(
        ["tree/sub/deep.bin"] + [f"tree/f{i}.txt" for i in range(5)])
    again = aws(cloud, tmp_path, "s3", "sync", str(src), f"s3://{name}/tree")
    assert "upload:" not in again.stdout  # nothing changed: sync compares size and time
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 << 20))
    aws(cloud, tmp_path, "s3", "cp", str(big), f"s3://{name}/big.bin")
    head = json.loads(aws(cloud, tmp_path, "s3api", "head-object", "--bucket", name,
                          "--key", "big.bin").stdout)
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == 12 << 20
    back = tmp_path / "back.bin"
    aws(cloud, tmp_path, "s3", "cp", f"s3://{name}/big.bin", str(back))
    assert hashlib.md5(back.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    down = tmp_path / "down"
    aws(cloud, tmp_path, "s3", "sync", f"s3://{name}/tree", str(down))
    assert (down / "sub" / "deep.bin").read_bytes() == (src / "sub" / "deep.bin").read_bytes()
    url = aws(cloud, tmp_path, "s3", "presign", f"s3://{name}/tree/f1.txt").stdout.strip()
    assert http("GET", url)[1] == b"file 1\n"
    ls = aws(cloud, tmp_path, "s3", "ls", f"s3://{name}/tree/").stdout
    assert "PRE sub/" in ls and "f0.txt" in ls
    aws(cloud, tmp_path, "s3", "rm", "--recursive", f"s3://{name}")
    aws(cloud, tmp_path, "s3", "rb", f"s3://{name}")


@pytest.mark.parametrize("signature", ["v2", "v4"])
def test_s3cmd_flows(cloud: LiveCloud, tmp_path: Path, signature: str) -> None:
    cfg = tmp_path / "s3cfg"
    cfg.write_text("\n".join([
        "[default]", f"access_key = {cloud.access_key}", f"secret_key = {cloud.secret_key}",
        f"host_base = 127.0.0.1:{cloud.port}", f"host_bucket = 127.0.0.1:{cloud.port}",
        "use_https = False", f"signature_v2 = {'True' if signature == 'v2' else 'False'}",
        f"bucket_location = {cloud.region}", "multipart_chunk_size_mb = 5", ""]))

    def s3cmd(*args: str) -> str:
        out = subprocess.run(["s3cmd", "-c", str(cfg), "--no-progress", *args],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    name = bucket_name(f"s3cmd{signature}")
    s3cmd("mb", f"s3://{name}")
    assert name in s3cmd("ls")
    small = tmp_path / "small.txt"
    small.write_text("hello from s3cmd\n")
    s3cmd("put", str(small), f"s3://{name}/dir/small.txt")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 << 20))
    s3cmd("put", str(big), f"s3://{name}/big.bin")
    listing = s3cmd("ls", "--recursive", f"s3://{name}")
    assert "dir/small.txt" in listing and "big.bin" in listing
    got = tmp_path / "got.bin"
    s3cmd("get", f"s3://{name}/big.bin", str(got))
    assert got.read_bytes() == big.read_bytes()
    tree = tmp_path / "tree"
    tree.mkdir()
    for index in range(3):
        (tree / f"t{index}").write_text(str(index))
    s3cmd("sync", str(tree) + "/", f"s3://{name}/tree/")
    assert "tree/t2" in s3cmd("ls", "--recursive", f"s3://{name}")
    assert "s3://" in s3cmd("info", f"s3://{name}/dir/small.txt")
    s3cmd("del", "--recursive", "--force", f"s3://{name}")
    s3cmd("rb", f"s3://{name}")
