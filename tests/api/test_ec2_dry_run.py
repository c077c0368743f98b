"""DryRun on every EC2 operation the cloud implements, through boto3.

Table-driven over the botocore EC2 model: each implemented operation with a
``DryRun`` member is called with ``DryRun=True`` and valid-looking parameters; the
admin gets ``DryRunOperation`` (412), a user without permissions
``UnauthorizedOperation`` (403), and nothing in the account changes. Operations the
cloud does not implement keep answering ``NotImplemented``.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import Shape, StructureShape

from tests.api.network_helpers import second_account
from tests.support import LiveCloud

ID_PREFIXES = {
    "Instance": "i", "Volume": "vol", "Snapshot": "snap", "Image": "ami", "Group": "sg",
    "SecurityGroup": "sg", "Allocation": "eipalloc", "Association": "eipassoc",
    "Subnet": "subnet", "Vpc": "vpc", "KeyPair": "key", "NetworkInterface": "eni",
    "SecurityGroupRule": "sgr", "Kernel": "aki", "Ramdisk": "ari", "Resource": "i",
}
HEX = "0123456789abcdef0"


def implemented_ec2() -> set[str]:
    """The EC2 operations of every provider class the cloud assembles."""
    from cloudctl.server.providers import Provider
    from cloudctl.services.ec2.compute.providers import compute_providers
    from cloudctl.services.ec2.ebs import snapshots, volumes
    from cloudctl.services.ec2.network import addresses, security_groups
    from cloudctl.services.ec2.shared import geography

    classes: list[type[Provider]] = [*compute_providers(), addresses.AddressesProvider,
                                     geography.Ec2GeographyProvider, snapshots.SnapshotsProvider,
                                     security_groups.SecurityGroupsProvider,
                                     volumes.VolumesProvider]
    return {op for cls in classes if cls.service == "ec2" for op in cls.operations()}


def _value(name: str, shape: Shape) -> Any:
    kind = shape.type_name
    if shape.name == "Tag":
        return {"Key": "dryrun", "Value": "v"}
    if name == "Resources":
        return [f"i-{HEX}"]
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        members = list(shape.required_members) or [  # an empty structure is not sent at all
            next(m for m, s in shape.members.items() if s.type_name == "string")]
        return {m: _value(m, shape.members[m]) for m in members}
    if kind == "list":
        return [_value(name.rstrip("s"), shape.member)]  # type: ignore[attr-defined]
    if kind == "integer" or kind == "long":
        return max(int(shape.metadata.get("min", 1)), 1)
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return datetime.datetime.now(datetime.UTC)
    if kind == "blob":
        return b"dryrun"
    if shape.enum:
        return shape.enum[0]
    for suffix in ("Ids", "Id"):
        if name.endswith(suffix) and name[: -len(suffix)] in ID_PREFIXES:
            return f"{ID_PREFIXES[name[: -len(suffix)]]}-{HEX}"
    if name == "CidrIp" or name.endswith("CidrBlock"):
        return "10.9.0.0/24"
    if name in ("PublicIp", "PrivateIpAddress"):
        return "10.9.0.9"
    return "dryrun-" + uuid.uuid4().hex[:6]


def _dry_run_ops() -> list[tuple[str, dict[str, Any]]]:
    model = botocore.session.get_session().get_service_model("ec2")
    implemented = implemented_ec2()
    out = []
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.input_shape is None or "DryRun" not in op.input_shape.members \
                or name not in implemented:
            continue
        params = {m: _value(m, op.input_shape.members[m])
                  for m in op.input_shape.required_members}
        out.append((name, {**params, "DryRun": True}))
    return out


DRY_RUN_OPS = _dry_run_ops()


def _snake(name: str) -> str:
    return botocore.xform_name(name)


def _state(ec2: Any) -> dict[str, int]:
    return {
        "instances": sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]),
        "groups": len(ec2.describe_security_groups()["SecurityGroups"]),
        "keys": len(ec2.describe_key_pairs()["KeyPairs"]),
        "addresses": len(ec2.describe_addresses()["Addresses"]),
        "tags": len(ec2.describe_tags()["Tags"]),
        "volumes": len(ec2.describe_volumes()["Volumes"]),
        "snapshots": len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
        "images": len(ec2.describe_images(Owners=["self"])["Images"]),
    }


def _code(call: Any, params: dict[str, Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call(**params)
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def account(cloud: LiveCloud) -> tuple[Any, Any]:
    """The EC2 clients of a new account's admin and of an IAM user without any policy
    there: the account's state is small, so comparing it around every call is cheap."""
    key, secret, _ = second_account(cloud, f"dry{uuid.uuid4().hex[:8]}")
    admin = cloud.client("ec2", access_key=key, secret_key=secret)
    iam = cloud.client("iam", access_key=key, secret_key=secret)
    name = f"dry-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    user = iam.create_access_key(UserName=name)["AccessKey"]
    nobody = cloud.client("ec2", access_key=user["AccessKeyId"],
                          secret_key=user["SecretAccessKey"])
    return admin, nobody


def test_the_table_covers_the_operations_that_acted() -> None:
    names = {name for name, _ in DRY_RUN_OPS}
    for acted in ("RunInstances", "TerminateInstances", "CreateSecurityGroup",
                  "DeleteSecurityGroup", "CreateKeyPair", "ImportKeyPair", "DeleteKeyPair",
                  "AllocateAddress", "ReleaseAddress", "CreateTags", "DeleteTags",
                  "DescribeInstances", "CreateVolume", "DeleteVolume"):
        assert acted in names, acted


@pytest.mark.parametrize(("operation", "params"), DRY_RUN_OPS, ids=[n for n, _ in DRY_RUN_OPS])
def test_dry_run_changes_nothing(account: tuple[Any, Any], operation: str,
                                 params: dict[str, Any]) -> None:
    admin, nobody = account
    before = _state(admin)
    assert _code(getattr(admin, _snake(operation)), params) == ("DryRunOperation", 412)
    assert _code(getattr(nobody, _snake(operation)), params) == ("UnauthorizedOperation", 403)
    assert _state(admin) == before


def test_dry_run_of_real_resources_keeps_them(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    group = ec2.create_security_group(GroupName=f"dry-{uuid.uuid4().hex[:6]}",
                                      Description="kept")["GroupId"]
    name = f"dry-{uuid.uuid4().hex[:6]}"
    ec2.create_key_pair(KeyName=name)
    ec2.create_tags(Resources=[group], Tags=[{"Key": "k", "Value": "v"}])
    for call, params in ((ec2.delete_security_group, {"GroupId": group}),
                         (ec2.delete_key_pair, {"KeyName": name}),
                         (ec2.delete_tags, {"Resources": [group], "Tags": [{"Key": "k"}]})):
        assert _code(call, {**params, "DryRun": True}) == ("DryRunOperation", 412)
    described = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert described["Tags"] == [{"Key": "k", "Value": "v"}]
    assert ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]


def test_unimplemented_operation_is_not_a_dry_run(cloud: LiveCloud) -> None:
    model = botocore.session.get_session().get_service_model("ec2")
    implemented = implemented_ec2()
    missing = next(n for n in ("CreateVpnGateway", "CreateTransitGateway", "CreateFleet")
                   if n in model.operation_names and n not in implemented)
    op = model.operation_model(missing)
    assert op.input_shape is not None
    params = {m: _value(m, op.input_shape.members[m]) for m in op.input_shape.required_members}
    code, status = _code(getattr(cloud.client("ec2"), _snake(missing)),
                         {**params, "DryRun": True})
    assert (code, status) == ("NotImplemented", 501)
