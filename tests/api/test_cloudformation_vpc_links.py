"""AWS::EC2::VPCPeeringConnection and AWS::EC2::NetworkInterfaceAttachment through boto3
against a live cloud (fake guests): a peering within the account is accepted and
active, an interface is attached to an instance at its device index, and the stack's
deletion deletes the peering and detaches the interface."""

from __future__ import annotations

from cfnlint import api as cfnlint_api
from troposphere import GetAtt, Output, Parameter, Ref, Template, ec2

from tests.api.autoscaling_helpers import image
from tests.api.cfn_helpers import events, settle, unique
from tests.support import LiveCloud


def _template() -> str:
    t = Template(Description="peered VPCs and a second interface")
    emi = t.add_parameter(Parameter("ImageId", Type="AWS::EC2::Image::Id"))
    zone = t.add_parameter(Parameter("Zone", Type="AWS::EC2::AvailabilityZone::Name"))
    left = t.add_resource(ec2.VPC("Left", CidrBlock="10.20.0.0/16"))
    right = t.add_resource(ec2.VPC("Right", CidrBlock="10.21.0.0/16"))
    peering = t.add_resource(ec2.VPCPeeringConnection("Peering", VpcId=Ref(left),
                                                      PeerVpcId=Ref(right)))
    subnet = t.add_resource(ec2.Subnet("Subnet", VpcId=Ref(left), CidrBlock="10.20.1.0/24",
                                       AvailabilityZone=Ref(zone)))
    eni = t.add_resource(ec2.NetworkInterface("Eni", SubnetId=Ref(subnet)))
    server = t.add_resource(ec2.Instance("Server", ImageId=Ref(emi), InstanceType="t1.micro",
                                         SubnetId=Ref(subnet)))
    attach = t.add_resource(ec2.NetworkInterfaceAttachment(
        "Attach", InstanceId=Ref(server), NetworkInterfaceId=Ref(eni), DeviceIndex="1"))
    t.add_output(Output("Peering", Value=Ref(peering)))
    t.add_output(Output("PeeringId", Value=GetAtt(peering, "Id")))
    t.add_output(Output("Attachment", Value=Ref(attach)))
    t.add_output(Output("Eni", Value=Ref(eni)))
    t.add_output(Output("Server", Value=Ref(server)))
    return t.to_json()


def test_peering_and_interface_attachment(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    text = _template()
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    assert [str(f) for f in findings] == []
    cf, ec2c = cloud.client("cloudformation"), cloud.client("ec2")
    zone = ec2c.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    name = unique("links")
    stack_id = cf.create_stack(StackName=name, TemplateBody=text, Parameters=[
        {"ParameterKey": "ImageId", "ParameterValue": image(cloud)},
        {"ParameterKey": "Zone", "ParameterValue": zone}])["StackId"]
    stack = settle(cloud, name, timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in events(cloud, name)
        if e["ResourceStatus"].endswith("FAILED")]
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert out["Peering"] == out["PeeringId"] and out["Peering"].startswith("pcx-")
    pcx = ec2c.describe_vpc_peering_connections(
        VpcPeeringConnectionIds=[out["Peering"]])["VpcPeeringConnections"][0]
    assert pcx["Status"]["Code"] == "active"
    assert {t["Key"] for t in pcx.get("Tags", [])} >= {"aws:cloudformation:logical-id"}
    eni = ec2c.describe_network_interfaces(
        NetworkInterfaceIds=[out["Eni"]])["NetworkInterfaces"][0]
    assert eni["Attachment"]["AttachmentId"] == out["Attachment"]
    assert (eni["Attachment"]["InstanceId"], eni["Attachment"]["DeviceIndex"],
            eni["Attachment"]["DeleteOnTermination"]) == (out["Server"], 1, True)

    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id, timeout=120)["StackStatus"] == "DELETE_COMPLETE"
    pcx = ec2c.describe_vpc_peering_connections(Filters=[
        {"Name": "vpc-peering-connection-id", "Values": [out["Peering"]]}])[
            "VpcPeeringConnections"]
    assert [p["Status"]["Code"] for p in pcx] in ([], ["deleted"])
    assert ec2c.describe_network_interfaces(Filters=[
        {"Name": "network-interface-id", "Values": [out["Eni"]]}])["NetworkInterfaces"] == []
