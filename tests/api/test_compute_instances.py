"""Images, instance types and instances on the all-in-one fake node, through boto3 and
the AWS CLI (the node is libvirt's test:/// driver behind the real LocalNodeClient)."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def fake_artifacts(directory: Path) -> dict[str, Path]:
    """Files that sniff as a kernel (bzImage magic), a ramdisk (gzip) and a root disk."""
    directory.mkdir(parents=True, exist_ok=True)
    kernel = bytearray(4096)
    kernel[0x202:0x206] = b"HdrS"
    paths = {"kernel": directory / "vmlinuz", "ramdisk": directory / "initrd.gz",
             "machine": directory / "root.img"}
    paths["kernel"].write_bytes(bytes(kernel))
    paths["ramdisk"].write_bytes(gzip.compress(b"070701"))
    paths["machine"].write_bytes(b"\0" * 65536)
    return paths


def register_image_set(cloud: LiveCloud, directory: Path) -> dict[str, str]:
    ec2 = cloud.client("ec2")
    paths = fake_artifacts(directory)
    eki = ec2.register_image(Name=f"k-{directory.name}", ImageLocation=f"file://{paths['kernel']}")
    eri = ec2.register_image(Name=f"r-{directory.name}", ImageLocation=f"file://{paths['ramdisk']}")
    emi = ec2.register_image(Name=f"m-{directory.name}", ImageLocation=f"file://{paths['machine']}",
                             KernelId=eki["ImageId"], RamdiskId=eri["ImageId"])
    return {"eki": eki["ImageId"], "eri": eri["ImageId"], "emi": emi["ImageId"]}


def wait_for(fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def states(cloud: LiveCloud, ids: list[str]) -> dict[str, str]:
    out = cloud.client("ec2").describe_instances(InstanceIds=ids)
    return {i["InstanceId"]: i["State"]["Name"] for r in out["Reservations"] for i in r["Instances"]}


@pytest.fixture(scope="module")
def image_set(sqlite_cloud: LiveCloud) -> dict[str, str]:
    return register_image_set(sqlite_cloud, sqlite_cloud.data_dir / "imgs")


def test_images_register_describe_permissions(sqlite_cloud: LiveCloud,
                                              image_set: dict[str, str]) -> None:
    ec2 = sqlite_cloud.client("ec2")
    assert image_set["eki"].startswith("eki-") and image_set["emi"].startswith("emi-")
    img = ec2.describe_images(ImageIds=[image_set["emi"]])["Images"][0]
    assert img["ImageType"] == "machine" and img["KernelId"] == image_set["eki"]
    alias = "ami-" + image_set["emi"].split("-", 1)[1]
    assert ec2.describe_images(ImageIds=[alias])["Images"][0]["ImageId"] == image_set["emi"]
    kernels = ec2.describe_images(Owners=["self"], Filters=[
        {"Name": "image-type", "Values": ["kernel"]}])["Images"]
    assert image_set["eki"] in [k["ImageId"] for k in kernels]
    ec2.modify_image_attribute(ImageId=image_set["emi"], LaunchPermission={
        "Add": [{"Group": "all"}, {"UserId": "123456789012"}]})
    perms = ec2.describe_image_attribute(ImageId=image_set["emi"],
                                         Attribute="launchPermission")["LaunchPermissions"]
    assert {"Group": "all"} in perms and {"UserId": "123456789012"} in perms
    assert ec2.describe_images(ImageIds=[image_set["emi"]])["Images"][0]["Public"] is True
    ec2.reset_image_attribute(ImageId=image_set["emi"], Attribute="launchPermission")
    assert ec2.describe_image_attribute(ImageId=image_set["emi"], Attribute="launchPermission")[
        "LaunchPermissions"] == []
    with pytest.raises(ClientError) as err:
        ec2.describe_images(ImageIds=["emi-0000000000000000f"])
    assert _code(err) == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as err:  # RegisterImage reads the manifest from S3
        ec2.register_image(Name="gone", ImageLocation="bucket/gone.manifest.xml",
                           KernelId=image_set["eki"])
    assert _code(err) == "InvalidManifest"
    root = sqlite_cloud.data_dir / "imgs" / "root.img"
    extra = ec2.register_image(Name="gone", ImageLocation=f"file://{root}",
                               KernelId=image_set["eki"])["ImageId"]
    ec2.deregister_image(ImageId=extra)
    with pytest.raises(ClientError) as err:
        ec2.describe_images(ImageIds=[extra])
    assert _code(err) == "InvalidAMIID.NotFound"


def test_instance_types_legacy_and_capacity(sqlite_cloud: LiveCloud) -> None:
    ec2 = sqlite_cloud.client("ec2")
    types = {t["InstanceType"]: t for t in ec2.describe_instance_types(
        InstanceTypes=["m1.small", "hs1.8xlarge", "t2.micro"])["InstanceTypes"]}
    assert types["m1.small"]["VCpuInfo"]["DefaultVCpus"] == 1
    assert types["hs1.8xlarge"]["MemoryInfo"]["SizeInMiB"] == 119808
    verbose = ec2.describe_instance_types(InstanceTypes=["verbose", "c1.medium"])["InstanceTypes"]
    availability = verbose[0]["Availability"]
    assert availability[0]["Max"] >= availability[0]["Available"] > 0
    changed = ec2.modify_instance_type_attribute(Name="c1.medium", Memory=1024)
    assert changed["PreviousInstanceType"]["Memory"] == 512
    assert ec2.describe_instance_types(InstanceTypes=["c1.medium"])["InstanceTypes"][0][
        "MemoryInfo"]["SizeInMiB"] == 1024
    ec2.modify_instance_type_attribute(Name="c1.medium", Reset=True)
    with pytest.raises(ClientError) as err:
        ec2.describe_instance_types(InstanceTypes=["x9.huge"])
    assert _code(err) == "InvalidInstanceType"


def test_run_describe_terminate_flow(sqlite_cloud: LiveCloud, image_set: dict[str, str]) -> None:
    ec2 = sqlite_cloud.client("ec2")
    ec2.create_key_pair(KeyName="flow-key")
    res = ec2.run_instances(ImageId=image_set["emi"], MinCount=3, MaxCount=3,
                            InstanceType="m1.small", KeyName="flow-key", UserData="#!/bin/sh\necho hi",
                            ClientToken="flow-token", TagSpecifications=[{
                                "ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}])
    ids = [i["InstanceId"] for i in res["Instances"]]
    assert {i["State"]["Name"] for i in res["Instances"]} == {"pending"}
    assert res["Instances"][0]["Tags"] == [{"Key": "app", "Value": "web"}]
    again = ec2.run_instances(ImageId=image_set["emi"], MinCount=3, MaxCount=3,
                              ClientToken="flow-token")
    assert again["ReservationId"] == res["ReservationId"]
    wait_for(lambda: set(states(sqlite_cloud, ids).values()) == {"running"})
    found = ec2.describe_instances(Filters=[{"Name": "tag:app", "Values": ["web"]},
                                            {"Name": "instance-state-name", "Values": ["running"]},
                                            {"Name": "key-name", "Values": ["flow-key"]}])
    assert sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]) == sorted(ids)
    one = found["Reservations"][0]["Instances"][0]
    by_ip = ec2.describe_instances(Filters=[{"Name": "private-ip-address",
                                             "Values": [one["PrivateIpAddress"]]}])
    assert [i["InstanceId"] for r in by_ip["Reservations"] for i in r["Instances"]] == [
        one["InstanceId"]]
    data = ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="userData")
    assert base64.b64decode(data["UserData"]["Value"]) == b"#!/bin/sh\necho hi"
    out = ec2.get_console_output(InstanceId=ids[0])
    assert "booted" in out["Output"]
    status = ec2.describe_instance_status(InstanceIds=ids)["InstanceStatuses"]
    assert {s["InstanceStatus"]["Status"] for s in status} == {"ok"}
    with pytest.raises(ClientError) as err:
        ec2.stop_instances(InstanceIds=[ids[0]])
    assert _code(err) == "UnsupportedOperation"
    ec2.modify_instance_attribute(InstanceId=ids[0], DisableApiTermination={"Value": True})
    with pytest.raises(ClientError) as err:
        ec2.terminate_instances(InstanceIds=ids)
    assert _code(err) == "OperationNotPermitted"
    ec2.modify_instance_attribute(InstanceId=ids[0], DisableApiTermination={"Value": False})
    term = json.loads(sqlite_cloud.aws("ec2", "terminate-instances", "--instance-ids", *ids).stdout)
    assert {t["CurrentState"]["Name"] for t in term["TerminatingInstances"]} == {"shutting-down"}
    wait_for(lambda: set(states(sqlite_cloud, ids).values()) == {"terminated"})
    gone = ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]
    assert gone["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert gone["StateTransitionReason"].startswith("User initiated (")
    node_dir = sqlite_cloud.data_dir / "node" / "images" / "instances"
    wait_for(lambda: not any((node_dir / i).exists() for i in ids))


def test_run_errors_and_pagination(sqlite_cloud: LiveCloud, image_set: dict[str, str]) -> None:
    ec2 = sqlite_cloud.client("ec2")
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image_set["emi"], MinCount=1, MaxCount=1, KeyName="nokey")
    assert _code(err) == "InvalidKeyPair.NotFound"
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId="emi-00000000", MinCount=1, MaxCount=1)
    assert _code(err) == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image_set["emi"], MinCount=1, MaxCount=1,
                          UserData="x" * 17000)
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image_set["emi"], MinCount=10000, MaxCount=10000,
                          InstanceType="hs1.8xlarge")
    assert _code(err) == "InsufficientInstanceCapacity"
    res = ec2.run_instances(ImageId=image_set["emi"], MinCount=7, MaxCount=7,
                            InstanceType="t1.micro")
    ids = sorted(i["InstanceId"] for i in res["Instances"])
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "reservation-id", "Values": [res["ReservationId"]]}],
        PaginationConfig={"PageSize": 5})
    seen = [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]
    assert seen == ids
    ec2.terminate_instances(InstanceIds=ids)


def test_run_and_terminate_on_each_database(cloud: LiveCloud) -> None:
    """The default local node (auto: the fake here) on SQLite and PostgreSQL."""
    ec2 = cloud.client("ec2")
    image = register_image_set(cloud, cloud.data_dir / "db-imgs")
    res = ec2.run_instances(ImageId=image["emi"], MinCount=2, MaxCount=2, InstanceType="t1.micro")
    ids = [i["InstanceId"] for i in res["Instances"]]
    wait_for(lambda: set(states(cloud, ids).values()) == {"running"})
    ec2.terminate_instances(InstanceIds=ids)
    wait_for(lambda: set(states(cloud, ids).values()) == {"terminated"})
