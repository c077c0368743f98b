"""RunInstances in a VPC: the default subnet when none is named, SubnetId, launch-time
NetworkInterfaces, the public address rule, and what termination releases."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.api.network_helpers import second_account
from tests.api.test_compute_instances import register_image_set, states, wait_for
from tests.support import LiveCloud


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def vpc_images(vpc_cloud: LiveCloud) -> dict[str, str]:
    return register_image_set(vpc_cloud, vpc_cloud.data_dir / "vpc-imgs")


def test_run_instances_lands_in_the_default_subnet(vpc_cloud: LiveCloud,
                                                  vpc_images: dict[str, str]) -> None:
    ec2 = vpc_cloud.client("ec2")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"][0]["VpcId"]
    res = ec2.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1)
    inst = res["Instances"][0]
    assert inst["VpcId"] == default_vpc
    subnet = ec2.describe_subnets(SubnetIds=[inst["SubnetId"]])["Subnets"][0]
    assert subnet["DefaultForAz"] is True
    assert subnet["AvailabilityZone"] == inst["Placement"]["AvailabilityZone"]
    card = inst["NetworkInterfaces"][0]
    assert card["Attachment"]["DeviceIndex"] == 0 and card["SubnetId"] == inst["SubnetId"]
    assert inst["PrivateIpAddress"] == card["PrivateIpAddress"] == "172.31.0.4" or \
        inst["PrivateIpAddress"].startswith("172.31.")
    assert inst.get("PublicIpAddress")  # default subnets map public addresses
    default_group = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [default_vpc]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    assert [g["GroupId"] for g in inst["SecurityGroups"]] == [default_group]
    iid = inst["InstanceId"]
    seen = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert seen["VpcId"] == default_vpc and seen["SubnetId"] == inst["SubnetId"]
    eni_id = card["NetworkInterfaceId"]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    assert eni["Status"] == "in-use" and eni["Attachment"]["InstanceId"] == iid
    with pytest.raises(ClientError) as exc:
        ec2.detach_network_interface(AttachmentId=eni["Attachment"]["AttachmentId"])
    assert _code(exc) == "OperationNotPermitted"
    ec2.terminate_instances(InstanceIds=[iid])
    wait_for(lambda: states(vpc_cloud, [iid])[iid] == "terminated")
    with pytest.raises(ClientError) as exc:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])
    assert _code(exc) == "InvalidNetworkInterfaceID.NotFound"


def test_subnet_and_launch_time_interfaces(vpc_cloud: LiveCloud,
                                           vpc_images: dict[str, str]) -> None:
    ec2 = vpc_cloud.client("ec2")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    vpc_id = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    private = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.80.1.0/24",
                                AvailabilityZone=zone)["Subnet"]["SubnetId"]
    second = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.80.2.0/24",
                               AvailabilityZone=zone)["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="app", Description="a", VpcId=vpc_id)["GroupId"]
    one = ec2.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1,
                            SubnetId=private, SecurityGroupIds=[group])["Instances"][0]
    assert one["SubnetId"] == private and one["VpcId"] == vpc_id
    assert one["PrivateIpAddress"] == "10.80.1.4"
    assert not one.get("PublicIpAddress")  # the subnet maps no public address
    assert [g["GroupId"] for g in one["SecurityGroups"]] == [group]
    by_vpc = ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    assert [i["InstanceId"] for r in by_vpc["Reservations"] for i in r["Instances"]] == [
        one["InstanceId"]]
    by_ip = ec2.describe_instances(Filters=[
        {"Name": "private-ip-address", "Values": ["10.80.1.4"]},
        {"Name": "subnet-id", "Values": [private]}])["Reservations"]
    assert [i["InstanceId"] for r in by_ip for i in r["Instances"]] == [one["InstanceId"]]
    kept = ec2.create_network_interface(SubnetId=second)["NetworkInterface"][
        "NetworkInterfaceId"]
    two = ec2.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1,
                            NetworkInterfaces=[
                                {"DeviceIndex": 0, "SubnetId": private,
                                 "PrivateIpAddress": "10.80.1.50",
                                 "AssociatePublicIpAddress": True},
                                {"DeviceIndex": 1, "NetworkInterfaceId": kept}])["Instances"][0]
    cards = {c["Attachment"]["DeviceIndex"]: c for c in two["NetworkInterfaces"]}
    assert cards[0]["PrivateIpAddress"] == "10.80.1.50" and cards[1]["NetworkInterfaceId"] == kept
    assert two.get("PublicIpAddress")
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1,
                          SubnetId="subnet-0123456789abcdef0")
    assert _code(exc) == "InvalidSubnetID.NotFound"
    with pytest.raises(ClientError) as exc:  # a group of another VPC
        default_group = ec2.describe_security_groups(Filters=[
            {"Name": "group-name", "Values": ["default"]},
            {"Name": "vpc-id", "Values": [ec2.describe_vpcs(Filters=[
                {"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]]}])[
            "SecurityGroups"][0]["GroupId"]
        ec2.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1,
                          SubnetId=private, SecurityGroupIds=[default_group])
    assert _code(exc) == "InvalidParameter"
    # a route to an instance goes to its primary interface
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0",
                     InstanceId=one["InstanceId"])
    route = [r for r in ec2.describe_route_tables(RouteTableIds=[main])["RouteTables"][0][
        "Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"][0]
    assert route["InstanceId"] == one["InstanceId"] and route["State"] == "active"
    assert route["NetworkInterfaceId"] == one["NetworkInterfaces"][0]["NetworkInterfaceId"]
    # hot attach and detach of an interface on a launched instance
    extra = ec2.create_network_interface(SubnetId=second)["NetworkInterface"][
        "NetworkInterfaceId"]
    attachment = ec2.attach_network_interface(NetworkInterfaceId=extra,
                                              InstanceId=one["InstanceId"],
                                              DeviceIndex=1)["AttachmentId"]
    with pytest.raises(ClientError) as exc:  # attached to the other instance
        ec2.attach_network_interface(NetworkInterfaceId=kept, InstanceId=one["InstanceId"],
                                     DeviceIndex=2)
    assert _code(exc) == "InvalidNetworkInterface.InUse"
    spare = ec2.create_network_interface(SubnetId=second)["NetworkInterface"][
        "NetworkInterfaceId"]
    with pytest.raises(ClientError) as exc:  # the index is taken
        ec2.attach_network_interface(NetworkInterfaceId=spare, InstanceId=one["InstanceId"],
                                     DeviceIndex=1)
    assert _code(exc) == "InvalidParameterValue"
    ec2.delete_network_interface(NetworkInterfaceId=spare)
    seen = ec2.describe_instances(InstanceIds=[one["InstanceId"]])["Reservations"][0][
        "Instances"][0]
    assert [c["NetworkInterfaceId"] for c in seen["NetworkInterfaces"]][1] == extra
    ec2.detach_network_interface(AttachmentId=attachment)
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[extra])[
        "NetworkInterfaces"][0]["Status"] == "available"
    ec2.delete_network_interface(NetworkInterfaceId=extra)
    ids = [one["InstanceId"], two["InstanceId"]]
    ec2.terminate_instances(InstanceIds=ids)
    wait_for(lambda: set(states(vpc_cloud, ids).values()) == {"terminated"})
    left = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkInterfaces"]
    assert [(e["NetworkInterfaceId"], e["Status"]) for e in left] == [(kept, "available")]


def test_other_account_cannot_launch_into_a_subnet(vpc_cloud: LiveCloud,
                                                   vpc_images: dict[str, str]) -> None:
    ec2 = vpc_cloud.client("ec2")
    access, secret, _ = second_account(vpc_cloud, "vpc-launch-b")
    ec2_b = vpc_cloud.session(access, secret).client("ec2", endpoint_url=vpc_cloud.endpoint)
    mine = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
        "Subnets"][0]["SubnetId"]
    for image in ("emi", "eki", "eri"):  # B may launch A's images: only the subnet is A's
        ec2.modify_image_attribute(ImageId=vpc_images[image],
                                   LaunchPermission={"Add": [{"Group": "all"}]})
    with pytest.raises(ClientError) as exc:
        ec2_b.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1, SubnetId=mine)
    assert _code(exc) == "InvalidSubnetID.NotFound"
    theirs = ec2_b.describe_vpcs()["Vpcs"]
    assert len(theirs) == 1 and theirs[0]["IsDefault"] is True
    assert theirs[0]["VpcId"] not in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    with pytest.raises(ClientError) as exc:
        ec2_b.create_network_interface(SubnetId=mine)
    assert _code(exc) == "InvalidSubnetID.NotFound"


def test_an_accounts_first_call_run_instances_lands_in_its_default_vpc(
        vpc_cloud: LiveCloud, vpc_images: dict[str, str]) -> None:
    """No DescribeVpcs (or other VPC call) first: the account's default VPC exists before
    its first launch, as on AWS (an Auto Scaling group's launch may be its first call)."""
    ec2 = vpc_cloud.client("ec2")
    access, secret, _ = second_account(vpc_cloud, "vpc-first-launch")
    for image in ("emi", "eki", "eri"):
        ec2.modify_image_attribute(ImageId=vpc_images[image],
                                   LaunchPermission={"Add": [{"Group": "all"}]})
    ec2_b = vpc_cloud.session(access, secret).client("ec2", endpoint_url=vpc_cloud.endpoint)
    inst = ec2_b.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1)[
        "Instances"][0]
    (vpc,) = ec2_b.describe_vpcs()["Vpcs"]
    assert vpc["IsDefault"] is True and inst["VpcId"] == vpc["VpcId"]
    assert inst["PrivateIpAddress"].startswith("172.31.")
    ec2_b.terminate_instances(InstanceIds=[inst["InstanceId"]])


def test_a_guest_starts_once_its_host_agent_applied_its_interfaces(
        vpc_cloud: LiveCloud, vpc_images: dict[str, str]) -> None:
    """A guest boots with its network in place, as on AWS: the compute controller starts
    it only once the VPC host agent of its node reports (``hosts/<node>`` in ZooKeeper) a
    topology version at least the one published with the guest's interface. Here the
    fake node ``local`` gets a status of its own, lagging behind: the instance stays
    pending; when the status catches up with the published version it runs."""
    from kazoo.client import KazooClient

    from netd.vpc import topology as topo

    port = (vpc_cloud.data_dir / "zookeeper" / "port").read_text().strip()
    zk = KazooClient(hosts=f"127.0.0.1:{port}")
    zk.start(timeout=10)
    status = f"{topo.HOSTS_PATH}/local"
    try:
        topo.TopologyReader(zk).report(topo.HostStatus(host="local", version=0))
        ec2 = vpc_cloud.client("ec2")
        iid = ec2.run_instances(ImageId=vpc_images["emi"], MinCount=1, MaxCount=1)[
            "Instances"][0]["InstanceId"]
        time.sleep(3)
        assert states(vpc_cloud, [iid])[iid] == "pending", "started before its network"
        published = topo.TopologyReader(zk).version()
        assert published > 0
        topo.TopologyReader(zk).report(topo.HostStatus(host="local", version=published))
        wait_for(lambda: states(vpc_cloud, [iid])[iid] == "running", 20)
        ec2.terminate_instances(InstanceIds=[iid])
    finally:
        if zk.exists(status):
            zk.delete(status)  # the fake node has no agent: nothing to wait for again
        zk.stop()
        zk.close()
