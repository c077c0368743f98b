"""Instance details tools read, through boto3 and the AWS CLI on the fake node.

- RunInstances honours ``PrivateIpAddress`` (and the first network interface's): the
  address when free and in the private subnet, else EC2's errors.
- DNS names as Eucalyptus named them: ``euca-A-B-C-D<cloud.vmstate.instance_subdomain>``
  under ``system.dns.dnsdomain`` (public) or ``internal`` (private).
- An instance or image without tags shows no ``Tags`` (EC2 leaves out an empty tagSet).
- Resource ids: prefix and 8 or 17 lower-case hex digits for every kind; a malformed
  one answers ``Invalid<Kind>ID.Malformed``, a well-formed unknown one NotFound with
  the id as sent (``ami-`` is not rewritten to ``emi-``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.support import LiveCloud


@pytest.fixture(scope="module")
def images(sqlite_cloud: LiveCloud) -> dict[str, str]:
    return register_image_set(sqlite_cloud, sqlite_cloud.data_dir / "details-imgs")


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return str(err.value.response["Error"]["Code"]), str(err.value.response["Error"]["Message"])


def _dashed(ip: str) -> str:
    return ip.replace(".", "-")


def test_run_instances_private_ip_address(sqlite_cloud: LiveCloud,
                                          images: dict[str, str]) -> None:
    ec2 = sqlite_cloud.client("ec2")
    emi = images["emi"]
    first = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1,
                              PrivateIpAddress="10.111.200.7")["Instances"][0]
    assert first["PrivateIpAddress"] == "10.111.200.7"
    assert first["NetworkInterfaces"][0]["PrivateIpAddress"] == "10.111.200.7"
    shown = ec2.describe_instances(InstanceIds=[first["InstanceId"]])
    assert shown["Reservations"][0]["Instances"][0]["PrivateIpAddress"] == "10.111.200.7"
    assert _error(ec2.run_instances, ImageId=emi, MinCount=1, MaxCount=1,
                  PrivateIpAddress="10.111.200.7") == (
        "InvalidIPAddress.InUse", "Address 10.111.200.7 is in use.")
    # the first network interface's address, and the AWS CLI's --private-ip-address
    second = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "PrivateIpAddress": "10.111.200.8"}])["Instances"][0]
    assert second["PrivateIpAddress"] == "10.111.200.8"
    third = json.loads(sqlite_cloud.aws("ec2", "run-instances", "--image-id", emi,
                                        "--private-ip-address", "10.111.200.9").stdout)
    assert third["Instances"][0]["PrivateIpAddress"] == "10.111.200.9"
    for bad, message in (("192.168.1.5", "does not fall within the subnet's address range"),
                         ("10.111.0.1", "reserved address range"),
                         ("10.111.255.255", "reserved address range"),
                         ("10.111.300.1", "is invalid"), ("not-an-ip", "is invalid")):
        code, text = _error(ec2.run_instances, ImageId=emi, MinCount=1, MaxCount=1,
                            PrivateIpAddress=bad)
        assert code == "InvalidParameterValue" and message in text, (bad, text)
    assert _error(ec2.run_instances, ImageId=emi, MinCount=1, MaxCount=2,
                  PrivateIpAddress="10.111.200.10")[0] == "InvalidParameterCombination"
    assert _error(ec2.run_instances, ImageId=emi, MinCount=1, MaxCount=1,
                  PrivateIpAddress="10.111.200.10", NetworkInterfaces=[
                      {"DeviceIndex": 0, "PrivateIpAddress": "10.111.200.11"}]
                  )[0] == "InvalidParameterCombination"
    ids = [first["InstanceId"], second["InstanceId"], third["Instances"][0]["InstanceId"]]
    ec2.terminate_instances(InstanceIds=ids)
    wait_for(lambda: set(states(sqlite_cloud, ids).values()) == {"terminated"})
    again = ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1,
                              PrivateIpAddress="10.111.200.7")["Instances"][0]
    assert again["PrivateIpAddress"] == "10.111.200.7"  # released with its instance
    # the address filter finds the live holder only, not the terminated one that had it
    by_ip = ec2.describe_instances(Filters=[{"Name": "private-ip-address",
                                             "Values": ["10.111.200.7"]}])
    assert [i["InstanceId"] for r in by_ip["Reservations"] for i in r["Instances"]] == [
        again["InstanceId"]]
    ec2.terminate_instances(InstanceIds=[again["InstanceId"]])


def _names(ec2: Any, iid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    item = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return item, item["NetworkInterfaces"][0]


def test_dns_names_follow_the_cloud_domain(sqlite_cloud: LiveCloud,
                                           images: dict[str, str]) -> None:
    ec2 = sqlite_cloud.client("ec2")
    run = ec2.run_instances(ImageId=images["emi"], MinCount=1, MaxCount=1)["Instances"][0]
    iid, private = run["InstanceId"], run["PrivateIpAddress"]
    public = run["PublicIpAddress"]
    assert run["PrivateDnsName"] == f"euca-{_dashed(private)}.eucalyptus.internal"
    assert run["PublicDnsName"] == f"euca-{_dashed(public)}.eucalyptus.localhost"
    item, nic = _names(ec2, iid)
    assert "Tags" not in item and "Tags" not in run  # EC2 leaves out an empty tagSet
    assert item["PrivateDnsName"] == nic["PrivateDnsName"] == run["PrivateDnsName"]
    assert item["PublicDnsName"] == nic["Association"]["PublicDnsName"] == run["PublicDnsName"]
    by_name = ec2.describe_instances(Filters=[{"Name": "private-dns-name",
                                               "Values": [run["PrivateDnsName"]]}])
    assert [i["InstanceId"] for r in by_name["Reservations"] for i in r["Instances"]] == [iid]
    sqlite_cloud.set_properties("system.dns.dnsdomain=cloud.example.test")
    sqlite_cloud.set_properties("cloud.vmstate.instance_subdomain=.vms")
    try:
        want = f"euca-{_dashed(public)}.vms.cloud.example.test"
        item, nic = wait_for(lambda: (lambda got: got if got[0]["PublicDnsName"] == want
                                      else None)(_names(ec2, iid)))
        assert nic["Association"]["PublicDnsName"] == want
        assert item["PrivateDnsName"] == nic["PrivateDnsName"] == \
            f"euca-{_dashed(private)}.vms.internal"
        by_dns = ec2.describe_instances(Filters=[{"Name": "dns-name", "Values": [want]}])
        assert [i["InstanceId"] for r in by_dns["Reservations"] for i in r["Instances"]] == [iid]
        refused = sqlite_cloud.cli("property", "set", "system.dns.dnsdomain=Bad Domain!",
                                   check=False)
        assert refused.returncode != 0
    finally:
        sqlite_cloud.reset_properties("system.dns.dnsdomain")
        sqlite_cloud.reset_properties("cloud.vmstate.instance_subdomain")
    ec2.terminate_instances(InstanceIds=[iid])


def test_image_ids_kept_as_sent_and_checked(sqlite_cloud: LiveCloud,
                                            images: dict[str, str]) -> None:
    ec2 = sqlite_cloud.client("ec2")
    digits = images["emi"].split("-", 1)[1]
    for prefix in ("ami", "emi"):
        image = ec2.describe_images(ImageIds=[f"{prefix}-{digits}"])["Images"][0]
        assert image["ImageId"] == images["emi"] and "Tags" not in image
    assert ec2.describe_images(ImageIds=["aki-" + images["eki"].split("-", 1)[1]])[
        "Images"][0]["ImageId"] == images["eki"]
    assert _error(ec2.run_instances, ImageId="ami-abcd1234", MinCount=1, MaxCount=1) == (
        "InvalidAMIID.NotFound", "The image id '[ami-abcd1234]' does not exist")
    assert _error(ec2.describe_images, ImageIds=["ami-abcd1234"]) == (
        "InvalidAMIID.NotFound", "The image id '[ami-abcd1234]' does not exist")
    for bad in ("ami-abcd12345", "ami-ABCD1234", "ami-abcd123", "xmi-abcd1234",
                "ami-0123456789abcdef", "ami-abcd1234\n"):
        code, text = _error(ec2.describe_images, ImageIds=[bad])
        assert code == "InvalidAMIID.Malformed" and bad in text, bad


@pytest.mark.parametrize(("call", "kwargs", "code"), [
    ("describe_instances", {"InstanceIds": ["i-abcd123"]}, "InvalidInstanceID.Malformed"),
    ("describe_instances", {"InstanceIds": ["i-abcd12345"]}, "InvalidInstanceID.Malformed"),
    ("terminate_instances", {"InstanceIds": ["i-ABCD1234"]}, "InvalidInstanceID.Malformed"),
    ("get_console_output", {"InstanceId": "i-abcd1234abcd1234"},
     "InvalidInstanceID.Malformed"),
    ("describe_volumes", {"VolumeIds": ["vol-abcd12345"]}, "InvalidVolumeID.Malformed"),
    ("describe_snapshots", {"SnapshotIds": ["snap-abcd"]}, "InvalidSnapshotID.Malformed"),
    ("describe_security_groups", {"GroupIds": ["sg-abcd12345"]}, "InvalidGroupId.Malformed"),
    ("delete_security_group", {"GroupId": "web"}, "InvalidGroupId.Malformed"),
    ("release_address", {"AllocationId": "eipalloc-xyz"}, "InvalidAllocationID.Malformed"),
    ("describe_addresses", {"AllocationIds": ["eipalloc-abcd12345"]},
     "InvalidAllocationID.Malformed"),
    ("create_tags", {"Resources": ["i-abcd12345"], "Tags": [{"Key": "k", "Value": "v"}]},
     "InvalidID"),
])
def test_malformed_ids(sqlite_cloud: LiveCloud, call: str, kwargs: dict[str, Any],
                       code: str) -> None:
    got, text = _error(getattr(sqlite_cloud.client("ec2"), call), **kwargs)
    assert got == code
    sent = next(iter(kwargs.values()))
    assert (sent[0] if isinstance(sent, list) else sent) in text


@pytest.mark.parametrize(("call", "kwargs", "code"), [
    ("describe_instances", {"InstanceIds": ["i-abcd1234"]}, "InvalidInstanceID.NotFound"),
    ("describe_instances", {"InstanceIds": ["i-0123456789abcdef0"]},
     "InvalidInstanceID.NotFound"),
    ("describe_volumes", {"VolumeIds": ["vol-abcd1234"]}, "InvalidVolume.NotFound"),
    ("describe_snapshots", {"SnapshotIds": ["snap-0123456789abcdef0"]},
     "InvalidSnapshot.NotFound"),
    ("describe_security_groups", {"GroupIds": ["sg-abcd1234"]}, "InvalidGroup.NotFound"),
    ("release_address", {"AllocationId": "eipalloc-abcd1234"}, "InvalidAllocationID.NotFound"),
    ("describe_key_pairs", {"KeyPairIds": ["key-abcd1234"]}, "InvalidKeyPair.NotFound"),
])
def test_unknown_well_formed_ids(sqlite_cloud: LiveCloud, call: str, kwargs: dict[str, Any],
                                 code: str) -> None:
    got, text = _error(getattr(sqlite_cloud.client("ec2"), call), **kwargs)
    assert got == code
    sent = next(iter(kwargs.values()))
    assert (sent[0] if isinstance(sent, list) else sent) in text
