"""Ansible's ``amazon.aws.iam_user state=absent`` against the cloud.

The module strips a user before deleting it (login profile, access keys, SSH keys,
service credentials, signing certificates, MFA devices, policies, groups), listing
each kind first: one list it cannot make leaves the user half deleted. The playbook
deletes a user holding SSH keys, access keys, inline and attached policies and a
group membership; the user must be gone afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.infra.playbooks import run_playbook
from tests.support import LiveCloud


def test_ansible_deletes_user_with_everything(sqlite_cloud: LiveCloud, tmp_path: Path) -> None:
    cloud = sqlite_cloud
    iam = cloud.client("iam")
    iam.create_user(UserName="ans-user")
    iam.create_access_key(UserName="ans-user")
    key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    iam.upload_ssh_public_key(UserName="ans-user", SSHPublicKeyBody=key)
    iam.put_user_policy(UserName="ans-user", PolicyName="inline", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}))
    iam.attach_user_policy(UserName="ans-user",
                           PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.create_group(GroupName="ans-group")
    iam.add_user_to_group(GroupName="ans-group", UserName="ans-user")
    playbook = tmp_path / "delete.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "delete the user", "amazon.aws.iam_user": {
            "name": "ans-user", "state": "absent", "endpoint_url": cloud.endpoint,
            "region": cloud.region}}]}]))
    run = run_playbook(cloud, playbook, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    with pytest.raises(ClientError) as err:
        iam.get_user(UserName="ans-user")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    assert iam.get_group(GroupName="ans-group")["Users"] == []
