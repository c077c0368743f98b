"""Addresses (EDGE elastic and launch-assigned public IPs) through boto3 and the AWS CLI."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.api.network_helpers import launch, terminate
from tests.support import LiveCloud


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_allocate_associate_move_release(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    a = launch(cloud, cloud.account_id)
    b = launch(cloud, cloud.account_id)
    assert a["public_ip"] and a["public_ip"].startswith("198.51.100.")
    eip = ec2.allocate_address(Domain="standard")
    assert eip["AllocationId"].startswith("eipalloc-") and eip["Domain"] == "standard"
    assoc = ec2.associate_address(AllocationId=eip["AllocationId"],
                                  InstanceId=a["instance_id"])["AssociationId"]
    got = ec2.describe_addresses(PublicIps=[eip["PublicIp"]])["Addresses"][0]
    assert got["InstanceId"] == a["instance_id"] and got["AssociationId"] == assoc
    assert got["PrivateIpAddress"] == a["private_ip"]
    with pytest.raises(ClientError) as exc:
        ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=b["instance_id"])
    assert _code(exc) == "Resource.AlreadyAssociated"
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=b["instance_id"],
                          AllowReassociation=True)
    got = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert got["InstanceId"] == b["instance_id"]
    with pytest.raises(ClientError) as exc:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert _code(exc) == "InvalidIPAddress.InUse"
    flt = ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [b["instance_id"]]}])
    assert [x["PublicIp"] for x in flt["Addresses"]] == [eip["PublicIp"]]
    ec2.disassociate_address(PublicIp=eip["PublicIp"])
    with pytest.raises(ClientError) as exc:
        ec2.disassociate_address(AssociationId="eipassoc-00000000000000000")
    assert _code(exc) == "InvalidAssociationID.NotFound"
    ec2.release_address(AllocationId=eip["AllocationId"])
    with pytest.raises(ClientError) as exc:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert _code(exc) == "InvalidAllocationID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])
    assert _code(exc) == "InvalidAllocationID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.associate_address(PublicIp="198.51.100.250", InstanceId=a["instance_id"])
    assert _code(exc) == "InvalidAddress.NotFound"
    verbose = ec2.describe_addresses(PublicIps=["verbose"])["Addresses"]
    assert len(verbose) == 241
    owners = {x["PublicIp"]: x["InstanceId"] for x in verbose}
    assert owners[a["public_ip"]].startswith(a["instance_id"])
    terminate(cloud, a["instance_id"])
    terminate(cloud, b["instance_id"])


def test_pool_exhaustion_and_cli(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    original = json.loads(cloud.cli("--output", "json", "property", "get",
                                    "cloud.network.network_configuration").stdout)
    cfg = dict(original["cloud.network.network_configuration"])
    used = {x["PublicIp"] for x in ec2.describe_addresses(PublicIps=["verbose"])["Addresses"]
            if x["InstanceId"] != "available"}
    free = [f"198.51.100.{n}" for n in range(10, 251) if f"198.51.100.{n}" not in used][:2]
    small = dict(cfg, PublicIps=sorted(used) + free)
    cloud.set_properties(f"cloud.network.network_configuration={json.dumps(small)}")
    bad = cloud.cli("property", "set", 'cloud.network.network_configuration={"Mode": "EDGE", '
                    '"PublicIps": ["x"]}', check=False)
    assert bad.returncode != 0
    try:
        time.sleep(1.5)  # the API process picks the property up within its poll interval
        allocs = [json.loads(cloud.aws("ec2", "allocate-address").stdout)["AllocationId"]
                  for _ in range(2)]
        with pytest.raises(ClientError) as exc:
            ec2.allocate_address()
        assert _code(exc) == "AddressLimitExceeded"
        for alloc in allocs:
            cloud.aws("ec2", "release-address", "--allocation-id", alloc)
    finally:
        cloud.set_properties("cloud.network.network_configuration="
                             + json.dumps(cfg))
    show = json.loads(cloud.cli("--output", "json", "network", "show").stdout)
    assert show["mode"] == "EDGE" and show["version"] > 1


def test_concurrent_allocations_get_distinct_addresses(sqlite_cloud: LiveCloud) -> None:
    """Allocations racing for the pool each get their own address, none an error."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [sqlite_cloud.client("ec2") for _ in range(8)]
    tagged = [{"ResourceType": "elastic-ip", "Tags": [{"Key": "race", "Value": "1"}]}]
    with ThreadPoolExecutor(len(clients)) as pool:
        made = list(pool.map(lambda c: c.allocate_address(Domain="vpc",
                                                          TagSpecifications=tagged), clients))
    try:
        assert len({m["PublicIp"] for m in made}) == len(made)
    finally:
        for m in made:
            clients[0].release_address(AllocationId=m["AllocationId"])

