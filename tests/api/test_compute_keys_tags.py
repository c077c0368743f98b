"""Key pairs and tags through boto3 and the AWS CLI against the live cloud."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_rsa_key_pair_fingerprint_is_sha1_of_pkcs8(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    made = ec2.create_key_pair(KeyName="rsa-made")
    key = serialization.load_pem_private_key(made["KeyMaterial"].encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    expected = ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest())
    assert made["KeyFingerprint"] == expected
    assert made["KeyPairId"].startswith("key-")
    described = ec2.describe_key_pairs(KeyNames=["rsa-made"])["KeyPairs"][0]
    assert described["KeyFingerprint"] == expected and described["KeyType"] == "rsa"
    with pytest.raises(ClientError) as err:
        ec2.create_key_pair(KeyName="rsa-made")
    assert _code(err) == "InvalidKeyPair.Duplicate"
    ec2.delete_key_pair(KeyName="rsa-made")
    with pytest.raises(ClientError) as err:
        ec2.describe_key_pairs(KeyNames=["rsa-made"])
    assert _code(err) == "InvalidKeyPair.NotFound"


def test_create_ed25519_and_ppk(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    made = ec2.create_key_pair(KeyName="ed-made", KeyType="ed25519")
    key = serialization.load_ssh_private_key(made["KeyMaterial"].encode(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).split()[1]
    assert made["KeyFingerprint"] == base64.b64encode(
        hashlib.sha256(base64.b64decode(blob)).digest()).decode()
    ppk = ec2.create_key_pair(KeyName="ppk-made", KeyFormat="ppk")["KeyMaterial"]
    assert ppk.startswith("PuTTY-User-Key-File-3: ssh-rsa") and "Private-MAC:" in ppk
    pub = ec2.describe_key_pairs(KeyNames=["ed-made"], IncludePublicKey=True)["KeyPairs"][0]
    assert pub["PublicKey"].startswith("ssh-ed25519 ")
    for name in ("ed-made", "ppk-made"):
        ec2.delete_key_pair(KeyName=name)


def test_import_key_pair_formats_and_errors(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    openssh = rsa_key.public_bytes(serialization.Encoding.OpenSSH,
                                   serialization.PublicFormat.OpenSSH) + b" me@host"
    imported = ec2.import_key_pair(KeyName="imp-rsa", PublicKeyMaterial=openssh)
    der = rsa_key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    assert imported["KeyFingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())
    with pytest.raises(ClientError) as err:
        ec2.import_key_pair(KeyName="imp-bad", PublicKeyMaterial=b"ssh-rsa notakey")
    assert _code(err) == "InvalidKey.Format"
    ed = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    path = cloud.data_dir / "ed.pub"
    path.write_bytes(ed)
    out = json.loads(cloud.aws("ec2", "import-key-pair", "--key-name", "imp-ed",
                               "--public-key-material", f"fileb://{path}").stdout)
    assert out["KeyName"] == "imp-ed"
    listed = json.loads(cloud.aws("ec2", "describe-key-pairs", "--filters",
                                  "Name=key-type,Values=ed25519").stdout)["KeyPairs"]
    assert [k["KeyName"] for k in listed] == ["imp-ed"]
    for name in ("imp-rsa", "imp-ed"):
        ec2.delete_key_pair(KeyName=name)


def test_tags_on_key_pairs_filters_pagination_limits(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    made = [ec2.create_key_pair(KeyName=f"tagged-{i}", TagSpecifications=[{
        "ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": f"t{i % 2}"}]}])
        for i in range(6)]
    key_ids = [m["KeyPairId"] for m in made]
    assert made[0]["Tags"] == [{"Key": "team", "Value": "t0"}]
    ec2.create_tags(Resources=key_ids[:2], Tags=[{"Key": "env", "Value": "prod"}])
    found = ec2.describe_key_pairs(Filters=[{"Name": "tag:env", "Values": ["prod"]}])["KeyPairs"]
    assert sorted(k["KeyPairId"] for k in found) == sorted(key_ids[:2])
    found = ec2.describe_key_pairs(Filters=[{"Name": "tag:team", "Values": ["t1"]},
                                            {"Name": "tag-key", "Values": ["env"]}])["KeyPairs"]
    assert [k["KeyPairId"] for k in found] == [key_ids[1]]
    pages = ec2.get_paginator("describe_tags").paginate(
        Filters=[{"Name": "resource-type", "Values": ["key-pair"]}],
        PaginationConfig={"PageSize": 5})
    seen = [(t["ResourceId"], t["Key"]) for page in pages for t in page["Tags"]]
    assert len(seen) == len(set(seen)) == 8
    ec2.delete_tags(Resources=[key_ids[0]], Tags=[{"Key": "env"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [key_ids[0]]}])["Tags"]
    assert [t["Key"] for t in tags] == ["team"]
    assert tags[0]["ResourceType"] == "key-pair"
    with pytest.raises(ClientError) as err:
        ec2.create_tags(Resources=["key-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert _code(err) == "InvalidKeyPair.NotFound"
    with pytest.raises(ClientError) as err:
        ec2.create_tags(Resources=[key_ids[0]], Tags=[{"Key": "aws:x", "Value": "b"}])
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        ec2.create_tags(Resources=[key_ids[0]],
                        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(60)])
    assert _code(err) == "TagLimitExceeded"
    cli = json.loads(cloud.aws("ec2", "describe-tags", "--filters",
                               "Name=key,Values=env").stdout)["Tags"]
    assert [t["ResourceId"] for t in cli] == [key_ids[1]]
    for i in range(6):
        ec2.delete_key_pair(KeyName=f"tagged-{i}")
    assert not ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": key_ids}])["Tags"]
