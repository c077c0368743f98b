"""CloudFormation building a VPC network: a template written with troposphere and clean
under cfn-lint makes a VPC, two subnets in the cloud's zones
(zone parameters of type AWS::EC2::AvailabilityZone::Name; the fake cloud
may have a single zone), an internet gateway attached with a default route, the subnets associated with the route
table, a security group in the VPC with its own egress and a classic load balancer in
the subnets behind it; the Ref/GetAtt values of each
type match what EC2 describes, and deleting the stack removes all of it. On top of it,
an Auto Scaling group of 2 behind the load balancer with a step policy and a CPU alarm:
the alarm in ALARM scales the group to 3, and deleting the stack removes the group and
its instances too."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cfnlint import api as cfnlint_api
from troposphere import GetAtt, Output, Parameter, Ref, Tags, Template, autoscaling, cloudwatch, ec2
from troposphere import elasticloadbalancing as elb

from tests.api.autoscaling_helpers import image
from tests.api.cfn_helpers import events, physical, settle, unique
from tests.support import LiveCloud


def _network_template() -> Template:
    t = Template(Description="a VPC with two public subnets")
    zones = [t.add_parameter(Parameter(f"Zone{i}", Type="AWS::EC2::AvailabilityZone::Name"))
             for i in (0, 1)]
    vpc = t.add_resource(ec2.VPC("Vpc", CidrBlock="10.20.0.0/16", EnableDnsSupport=True,
                                 EnableDnsHostnames=True, Tags=Tags(tier="net")))
    subnets = [t.add_resource(ec2.Subnet(
        f"Subnet{i}", VpcId=Ref(vpc), CidrBlock=f"10.20.{i}.0/24",
        AvailabilityZone=Ref(zones[i]), MapPublicIpOnLaunch=True))
        for i in (0, 1)]
    igw = t.add_resource(ec2.InternetGateway("Igw"))
    attach = t.add_resource(ec2.VPCGatewayAttachment("IgwAttach", VpcId=Ref(vpc),
                                                     InternetGatewayId=Ref(igw)))
    table = t.add_resource(ec2.RouteTable("Public", VpcId=Ref(vpc)))
    t.add_resource(ec2.Route("Default", DependsOn=attach, RouteTableId=Ref(table),
                             DestinationCidrBlock="0.0.0.0/0", GatewayId=Ref(igw)))
    for i, subnet in enumerate(subnets):
        t.add_resource(ec2.SubnetRouteTableAssociation(
            f"Assoc{i}", SubnetId=Ref(subnet), RouteTableId=Ref(table)))
    t.add_resource(ec2.SecurityGroup(
        "Web", GroupDescription="web", VpcId=Ref(vpc),
        SecurityGroupIngress=[ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=80,
                                                    ToPort=80, CidrIp="0.0.0.0/0")],
        SecurityGroupEgress=[ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=443,
                                                   ToPort=443, CidrIp="10.20.0.0/16")]))
    t.add_resource(elb.LoadBalancer(
        "Lb", DependsOn=attach, Subnets=[Ref(subnets[0])],  # one a zone (the cloud may have one)
        SecurityGroups=[Ref("Web")], Scheme="internet-facing",
        Listeners=[elb.Listener(LoadBalancerPort="80", InstancePort="8080", Protocol="HTTP")],
        HealthCheck=elb.HealthCheck(Target="HTTP:8080/health", HealthyThreshold="2",
                                    UnhealthyThreshold="3", Interval="10", Timeout="5")))
    outputs = {
        "VpcRef": Ref(vpc), "VpcId": GetAtt(vpc, "VpcId"),
        "VpcCidr": GetAtt(vpc, "CidrBlock"),
        "VpcDefaultSg": GetAtt(vpc, "DefaultSecurityGroup"),
        "VpcDefaultAcl": GetAtt(vpc, "DefaultNetworkAcl"),
        "Subnet0": Ref(subnets[0]), "Subnet1": Ref(subnets[1]),
        "Subnet0Zone": GetAtt(subnets[0], "AvailabilityZone"),
        "Subnet0Vpc": GetAtt(subnets[0], "VpcId"),
        "Subnet0Cidr": GetAtt(subnets[0], "CidrBlock"),
        "IgwRef": Ref(igw), "IgwId": GetAtt(igw, "InternetGatewayId"),
        "TableRef": Ref(table), "TableId": GetAtt(table, "RouteTableId"),
        "Assoc0": Ref("Assoc0"), "Assoc0Id": GetAtt("Assoc0", "Id"),
        "WebRef": Ref("Web"), "WebVpc": GetAtt("Web", "VpcId"),
        "LbRef": Ref("Lb"), "LbDns": GetAtt("Lb", "DNSName"),
        "LbZoneName": GetAtt("Lb", "CanonicalHostedZoneName"),
        "LbZoneId": GetAtt("Lb", "CanonicalHostedZoneNameID"),
        "LbSourceGroup": GetAtt("Lb", "SourceSecurityGroup.GroupName"),
        "LbSourceOwner": GetAtt("Lb", "SourceSecurityGroup.OwnerAlias"),
    }
    for key, value in outputs.items():
        t.add_output(Output(key, Value=value))
    return t


def _failures(cloud: LiveCloud, name: str) -> list[tuple[str, Any]]:
    return [(e["LogicalResourceId"], e.get("ResourceStatusReason"))
            for e in events(cloud, name) if e["ResourceStatus"].endswith("FAILED")]


def test_vpc_network_stack_refs_and_delete(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    text = _network_template().to_json()
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    assert [str(f) for f in findings] == []
    cf, ec2c = cloud.client("cloudformation"), cloud.client("ec2")
    zones = sorted(z["ZoneName"] for z in
                   ec2c.describe_availability_zones()["AvailabilityZones"])
    name = unique("net")
    stack_id = cf.create_stack(StackName=name, TemplateBody=text, Parameters=[
        {"ParameterKey": "Zone0", "ParameterValue": zones[0]},
        {"ParameterKey": "Zone1", "ParameterValue": zones[-1]}])["StackId"]
    stack = settle(cloud, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(cloud, name)
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    vpc_id = out["VpcRef"]
    vpc = ec2c.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    default_sg = ec2c.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    default_acl = ec2c.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "default", "Values": ["true"]}])["NetworkAcls"][0]["NetworkAclId"]
    dns = ec2c.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    assert dns["EnableDnsHostnames"]["Value"] is True
    subnets = {s["SubnetId"]: s for s in ec2c.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    first = subnets[out["Subnet0"]]
    igw = ec2c.describe_internet_gateways(InternetGatewayIds=[out["IgwRef"]])[
        "InternetGateways"][0]
    table = ec2c.describe_route_tables(RouteTableIds=[out["TableRef"]])["RouteTables"][0]
    web = ec2c.describe_security_groups(GroupIds=[out["WebRef"]])["SecurityGroups"][0]
    elbc = cloud.client("elb")
    lb = elbc.describe_load_balancers(LoadBalancerNames=[out["LbRef"]])[
        "LoadBalancerDescriptions"][0]

    checks = [  # (output, expected): Ref and GetAtt of each new type
        ("VpcId", vpc_id), ("VpcCidr", vpc["CidrBlock"]), ("VpcDefaultSg", default_sg),
        ("VpcDefaultAcl", default_acl), ("Subnet0Zone", first["AvailabilityZone"]),
        ("Subnet0Vpc", vpc_id), ("Subnet0Cidr", "10.20.0.0/24"),
        ("IgwId", igw["InternetGatewayId"]), ("TableId", table["RouteTableId"]),
        ("Assoc0Id", out["Assoc0"]), ("WebVpc", vpc_id), ("LbDns", lb["DNSName"]),
        ("LbZoneName", lb["CanonicalHostedZoneName"]),
        ("LbZoneId", lb["CanonicalHostedZoneNameID"]),
        ("LbSourceGroup", lb["SourceSecurityGroup"]["GroupName"]),
        ("LbSourceOwner", lb["SourceSecurityGroup"]["OwnerAlias"]),
    ]
    assert [(k, out[k]) for k, _ in checks] == checks
    assert vpc["CidrBlock"] == "10.20.0.0/16"
    assert {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}["tier"] == "net"
    assert set(subnets) == {out["Subnet0"], out["Subnet1"]}
    assert [subnets[out[f"Subnet{i}"]]["AvailabilityZone"] for i in (0, 1)] == \
        [zones[0], zones[-1]]
    assert all(s["MapPublicIpOnLaunch"] for s in subnets.values())
    assert igw["Attachments"][0]["VpcId"] == vpc_id
    routes = {r.get("DestinationCidrBlock"): r.get("GatewayId") for r in table["Routes"]}
    assert routes["0.0.0.0/0"] == out["IgwRef"]
    associations = {a["SubnetId"]: a["RouteTableAssociationId"]
                    for a in table["Associations"] if a.get("SubnetId")}
    assert set(associations) == set(subnets)
    assert associations[out["Subnet0"]] == out["Assoc0"]
    assert web["VpcId"] == vpc_id
    assert [(p["IpProtocol"], p.get("FromPort"), [r["CidrIp"] for r in p["IpRanges"]])
            for p in web["IpPermissionsEgress"]] == [("tcp", 443, ["10.20.0.0/16"])]
    assert out["LbRef"].startswith(f"{name}-Lb-"[:19]) and len(out["LbRef"]) <= 32
    assert lb["Subnets"] == [out["Subnet0"]]
    assert lb["SecurityGroups"] == [out["WebRef"]] and lb["Scheme"] == "internet-facing"
    assert [(d["Listener"]["LoadBalancerPort"], d["Listener"]["InstancePort"])
            for d in lb["ListenerDescriptions"]] == [(80, 8080)]
    assert lb["HealthCheck"] == {"Target": "HTTP:8080/health", "Interval": 10, "Timeout": 5,
                                 "UnhealthyThreshold": 3, "HealthyThreshold": 2}

    cf.delete_stack(StackName=name)
    gone = settle(cloud, stack_id)
    assert gone["StackStatus"] == "DELETE_COMPLETE", _failures(cloud, stack_id)
    with pytest.raises(ClientError) as missing:
        elbc.describe_load_balancers(LoadBalancerNames=[out["LbRef"]])
    assert missing.value.response["Error"]["Code"] == "LoadBalancerNotFound"
    assert ec2c.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []
    assert ec2c.describe_internet_gateways(Filters=[
        {"Name": "internet-gateway-id", "Values": [out["IgwRef"]]}])["InternetGateways"] == []
    assert ec2c.describe_security_groups(Filters=[
        {"Name": "group-id", "Values": [out["WebRef"]]}])["SecurityGroups"] == []


def _scaling_template() -> Template:
    t = _network_template()
    emi = t.add_parameter(Parameter("ImageId", Type="AWS::EC2::Image::Id"))
    config = t.add_resource(autoscaling.LaunchConfiguration(
        "Config", ImageId=Ref(emi), InstanceType="t1.micro", SecurityGroups=[Ref("Web")]))
    group = t.add_resource(autoscaling.AutoScalingGroup(
        "Group", LaunchConfigurationName=Ref(config), MinSize="2", MaxSize="4",
        DesiredCapacity="2", VPCZoneIdentifier=[Ref("Subnet0"), Ref("Subnet1")],
        LoadBalancerNames=[Ref("Lb")], HealthCheckType="EC2",
        Tags=[autoscaling.Tag("role", "web", True)]))
    policy = t.add_resource(autoscaling.ScalingPolicy(
        "ScaleUp", AutoScalingGroupName=Ref(group), PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", StepAdjustments=[autoscaling.StepAdjustments(
            MetricIntervalLowerBound=0, ScalingAdjustment=1)]))
    t.add_resource(cloudwatch.Alarm(
        "CpuHigh", Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average",
        Period=60, EvaluationPeriods=1, Threshold=70,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[cloudwatch.MetricDimension(Name="AutoScalingGroupName",
                                               Value=Ref(group))],
        AlarmActions=[Ref(policy)]))
    for key, value in {"GroupRef": Ref(group), "ConfigRef": Ref(config),
                       "PolicyRef": Ref(policy), "PolicyArn": GetAtt(policy, "Arn"),
                       "PolicyName": GetAtt(policy, "PolicyName"),
                       "AlarmRef": Ref("CpuHigh"), "AlarmArn": GetAtt("CpuHigh", "Arn"),
                       }.items():
        t.add_output(Output(key, Value=value))
    return t


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_vpc_load_balancer_and_group_scaling_on_cpu(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    text = _scaling_template().to_json()
    # W3697 only warns that launch configurations are in maintenance mode (AWS favours
    # launch templates); everything else must be clean
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(
        regions=["us-east-1"], ignore_checks=["W3697"]))
    assert [str(f) for f in findings] == []
    cf, ec2c = cloud.client("cloudformation"), cloud.client("ec2")
    asg, cw, elbc = (cloud.client(n) for n in ("autoscaling", "cloudwatch", "elb"))
    zones = sorted(z["ZoneName"] for z in
                   ec2c.describe_availability_zones()["AvailabilityZones"])
    name = unique("web")
    stack_id = cf.create_stack(StackName=name, TemplateBody=text, Parameters=[
        {"ParameterKey": "Zone0", "ParameterValue": zones[0]},
        {"ParameterKey": "Zone1", "ParameterValue": zones[-1]},
        {"ParameterKey": "ImageId", "ParameterValue": image(cloud)}])["StackId"]
    stack = settle(cloud, name, timeout=180)
    assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(cloud, name)
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def described() -> dict[str, Any]:
        return dict(asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[out["GroupRef"]])["AutoScalingGroups"][0])

    group = described()
    members = sorted(i["InstanceId"] for i in group["Instances"]
                     if i["LifecycleState"] == "InService")
    assert len(members) == 2  # CREATE_COMPLETE waited for the capacity
    assert group["LaunchConfigurationName"] == out["ConfigRef"]
    reservations = ec2c.describe_instances(InstanceIds=members)["Reservations"]
    placed = {i["SubnetId"] for r in reservations for i in r["Instances"]}
    assert placed <= {out["Subnet0"], out["Subnet1"]}
    registered = elbc.describe_load_balancers(LoadBalancerNames=[out["LbRef"]])[
        "LoadBalancerDescriptions"][0]["Instances"]
    assert sorted(i["InstanceId"] for i in registered) == members
    policy = asg.describe_policies(AutoScalingGroupName=out["GroupRef"])["ScalingPolicies"][0]
    alarm = cw.describe_alarms(AlarmNames=[out["AlarmRef"]])["MetricAlarms"][0]
    checks = [("PolicyRef", policy["PolicyARN"]), ("PolicyArn", policy["PolicyARN"]),
              ("PolicyName", policy["PolicyName"]), ("AlarmArn", alarm["AlarmArn"])]
    assert [(k, out[k]) for k, _ in checks] == checks
    assert alarm["AlarmActions"] == [out["PolicyRef"]]
    assert alarm["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": out["GroupRef"]}]

    cw.set_alarm_state(AlarmName=out["AlarmRef"], StateValue="ALARM",
                       StateReason="test: busy",
                       StateReasonData='{"recentDatapoints": [90.0], "threshold": 70.0}')
    _wait(lambda: described()["DesiredCapacity"] == 3, 60, "the alarm scaled the group")
    _wait(lambda: len([i for i in described()["Instances"]
                       if i["LifecycleState"] == "InService"]) == 3, 90, "3 in service")
    every = sorted(i["InstanceId"] for i in described()["Instances"])

    cf.delete_stack(StackName=name)
    gone = settle(cloud, stack_id, timeout=180)
    assert gone["StackStatus"] == "DELETE_COMPLETE", _failures(cloud, stack_id)
    assert asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=[out["GroupRef"]])["AutoScalingGroups"] == []
    states = {i["State"]["Name"] for r in ec2c.describe_instances(
        InstanceIds=every)["Reservations"] for i in r["Instances"]}
    assert states == {"terminated"}
    assert cw.describe_alarms(AlarmNames=[out["AlarmRef"]])["MetricAlarms"] == []
    with pytest.raises(ClientError):
        elbc.describe_load_balancers(LoadBalancerNames=[out["LbRef"]])
    assert ec2c.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [out["VpcRef"]]}])[
        "Vpcs"] == []


def test_launch_template_versions_and_group_from_it(sqlite_cloud: LiveCloud) -> None:
    """A launch template's Ref and version attributes; an update of its data adds a
    version that becomes the default; a group launches from it by id and version."""
    cloud = sqlite_cloud
    cf, ec2c, asg = (cloud.client(n) for n in ("cloudformation", "ec2", "autoscaling"))
    zone = ec2c.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]

    def template(instance_type: str) -> str:
        t = Template()
        emi = t.add_parameter(Parameter("ImageId", Type="AWS::EC2::Image::Id"))
        where = t.add_parameter(Parameter("Zone", Type="AWS::EC2::AvailabilityZone::Name"))
        lt = t.add_resource(ec2.LaunchTemplate("Lt", LaunchTemplateData=ec2.LaunchTemplateData(
            ImageId=Ref(emi), InstanceType=instance_type)))
        t.add_resource(autoscaling.AutoScalingGroup(
            "Group", MinSize="1", MaxSize="2", AvailabilityZones=[Ref(where)],
            LaunchTemplate=autoscaling.LaunchTemplateSpecification(
                LaunchTemplateId=Ref(lt), Version=GetAtt(lt, "LatestVersionNumber"))))
        t.add_resource(autoscaling.ScheduledAction(
            "Nightly", AutoScalingGroupName=Ref("Group"), Recurrence="0 5 * * *",
            MinSize=1, MaxSize=2))
        t.add_resource(autoscaling.LifecycleHook(
            "Drain", AutoScalingGroupName=Ref("Group"), HeartbeatTimeout=60,
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING", DefaultResult="CONTINUE"))
        for key, value in {"LtRef": Ref(lt), "ActionRef": Ref("Nightly"), "HookRef": Ref("Drain"), "Latest": GetAtt(lt, "LatestVersionNumber"),
                           "Default": GetAtt(lt, "DefaultVersionNumber"),
                           "GroupRef": Ref("Group")}.items():
            t.add_output(Output(key, Value=value))
        text = t.to_json()
        findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
        assert [str(f) for f in findings] == []
        return text

    name = unique("lt")
    params = [{"ParameterKey": "ImageId", "ParameterValue": image(cloud)},
              {"ParameterKey": "Zone", "ParameterValue": zone}]
    stack_id = cf.create_stack(StackName=name, TemplateBody=template("t1.micro"),
                               Parameters=params)["StackId"]
    stack = settle(cloud, name, timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(cloud, name)
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    found = ec2c.describe_launch_templates(LaunchTemplateIds=[out["LtRef"]])[
        "LaunchTemplates"][0]
    assert (out["Latest"], out["Default"]) == ("1", "1") == (
        str(found["LatestVersionNumber"]), str(found["DefaultVersionNumber"]))
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[out["GroupRef"]])[
        "AutoScalingGroups"][0]
    assert group["LaunchTemplate"]["LaunchTemplateId"] == out["LtRef"]
    assert len(group["Instances"]) == 1
    action = asg.describe_scheduled_actions(AutoScalingGroupName=out["GroupRef"])[
        "ScheduledUpdateGroupActions"]
    assert [(a["ScheduledActionName"], a["Recurrence"]) for a in action] == [
        (out["ActionRef"], "0 5 * * *")]
    hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=out["GroupRef"])[
        "LifecycleHooks"]
    assert [(h["LifecycleHookName"], h["HeartbeatTimeout"]) for h in hooks] == [
        (out["HookRef"], 60)]

    cf.update_stack(StackName=name, TemplateBody=template("m1.small"), Parameters=params)
    stack = settle(cloud, name, timeout=120)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", _failures(cloud, name)
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert (out["Latest"], out["Default"]) == ("2", "2")
    found = ec2c.describe_launch_templates(LaunchTemplateIds=[out["LtRef"]])[
        "LaunchTemplates"][0]
    assert (found["LatestVersionNumber"], found["DefaultVersionNumber"]) == (2, 2)
    versions = ec2c.describe_launch_template_versions(
        LaunchTemplateId=out["LtRef"], Versions=["2"])["LaunchTemplateVersions"]
    assert versions[0]["LaunchTemplateData"]["InstanceType"] == "m1.small"
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[out["GroupRef"]])[
        "AutoScalingGroups"][0]
    assert group["LaunchTemplate"]["Version"] == "2"

    cf.delete_stack(StackName=name)
    gone = settle(cloud, stack_id, timeout=120)
    assert gone["StackStatus"] == "DELETE_COMPLETE", _failures(cloud, stack_id)
    with pytest.raises(ClientError):
        ec2c.describe_launch_templates(LaunchTemplateIds=[out["LtRef"]])


def test_acls_dhcp_options_nat_and_interfaces(sqlite_cloud: LiveCloud) -> None:
    """Network ACLs and entries on a subnet, DHCP options on the VPC, a NAT gateway with
    an Elastic IP, a network interface: Ref/GetAtt match EC2; delete removes them."""
    cloud = sqlite_cloud
    cf, ec2c = cloud.client("cloudformation"), cloud.client("ec2")
    t = Template()
    vpc = t.add_resource(ec2.VPC("Vpc", CidrBlock="10.30.0.0/16"))
    subnet = t.add_resource(ec2.Subnet("Net", VpcId=Ref(vpc), CidrBlock="10.30.1.0/24"))
    acl = t.add_resource(ec2.NetworkAcl("Acl", VpcId=Ref(vpc)))
    t.add_resource(ec2.NetworkAclEntry(
        "AllowHttp", NetworkAclId=Ref(acl), RuleNumber=100, Protocol=6, RuleAction="allow",
        CidrBlock="0.0.0.0/0", PortRange=ec2.PortRange(From=80, To=80)))
    t.add_resource(ec2.SubnetNetworkAclAssociation("AclAssoc", SubnetId=Ref(subnet),
                                                   NetworkAclId=Ref(acl)))
    dhcp = t.add_resource(ec2.DHCPOptions("Dhcp", DomainName="corp.example",
                                          DomainNameServers=["AmazonProvidedDNS"]))
    t.add_resource(ec2.VPCDHCPOptionsAssociation("DhcpAssoc", VpcId=Ref(vpc),
                                                 DhcpOptionsId=Ref(dhcp)))
    igw = t.add_resource(ec2.InternetGateway("Igw"))
    attach = t.add_resource(ec2.VPCGatewayAttachment("Attach", VpcId=Ref(vpc),
                                                     InternetGatewayId=Ref(igw)))
    eip = t.add_resource(ec2.EIP("Ip", Domain="vpc", DependsOn=attach))
    t.add_resource(ec2.NatGateway("Nat", SubnetId=Ref(subnet),
                                  AllocationId=GetAtt(eip, "AllocationId")))
    t.add_resource(ec2.NetworkInterface("Eni", SubnetId=Ref(subnet), Description="side",
                                        GroupSet=[GetAtt(vpc, "DefaultSecurityGroup")],
                                        SecondaryPrivateIpAddressCount=1))
    for key, value in {"Acl": Ref(acl), "AclId": GetAtt(acl, "Id"),
                       "Entry": GetAtt("AllowHttp", "Id"), "AclAssoc": Ref("AclAssoc"),
                       "Dhcp": Ref(dhcp), "DhcpId": GetAtt(dhcp, "DhcpOptionsId"),
                       "Nat": Ref("Nat"), "NatId": GetAtt("Nat", "NatGatewayId"),
                       "Eni": Ref("Eni"), "EniIp": GetAtt("Eni", "PrimaryPrivateIpAddress"),
                       "EniVpc": GetAtt("Eni", "VpcId"), "Vpc": Ref(vpc),
                       "Subnet": Ref(subnet)}.items():
        t.add_output(Output(key, Value=value))
    text = t.to_json()
    findings = cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    assert [str(f) for f in findings] == []
    name = unique("acl")
    stack_id = cf.create_stack(StackName=name, TemplateBody=text)["StackId"]
    stack = settle(cloud, name, timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(cloud, name)
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    found = ec2c.describe_network_acls(NetworkAclIds=[out["Acl"]])["NetworkAcls"][0]
    entry = [e for e in found["Entries"] if e["RuleNumber"] == 100 and not e["Egress"]][0]
    assert (entry["Protocol"], entry["PortRange"], entry["RuleAction"]) == (
        "6", {"From": 80, "To": 80}, "allow")
    assert [(a["SubnetId"], a["NetworkAclAssociationId"]) for a in found["Associations"]] \
        == [(out["Subnet"], out["AclAssoc"])]
    vpc_found = ec2c.describe_vpcs(VpcIds=[out["Vpc"]])["Vpcs"][0]
    assert vpc_found["DhcpOptionsId"] == out["Dhcp"]
    options = ec2c.describe_dhcp_options(DhcpOptionsIds=[out["Dhcp"]])["DhcpOptions"][0]
    assert {c["Key"]: [v["Value"] for v in c["Values"]]
            for c in options["DhcpConfigurations"]}["domain-name"] == ["corp.example"]
    nat = ec2c.describe_nat_gateways(NatGatewayIds=[out["Nat"]])["NatGateways"][0]
    assert nat["State"] == "available" and nat["SubnetId"] == out["Subnet"]
    eni = ec2c.describe_network_interfaces(NetworkInterfaceIds=[out["Eni"]])[
        "NetworkInterfaces"][0]
    assert len(eni["PrivateIpAddresses"]) == 2
    checks = [("AclId", out["Acl"]), ("Entry", f"{out['Acl']}|100|false"),
              ("DhcpId", out["Dhcp"]), ("NatId", nat["NatGatewayId"]),
              ("EniIp", eni["PrivateIpAddress"]), ("EniVpc", out["Vpc"])]
    assert [(k, out[k]) for k, _ in checks] == checks

    cf.delete_stack(StackName=name)
    gone = settle(cloud, stack_id, timeout=120)
    assert gone["StackStatus"] == "DELETE_COMPLETE", _failures(cloud, stack_id)
    assert ec2c.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [out["Vpc"]]}])[
        "Vpcs"] == []
    assert ec2c.describe_dhcp_options(Filters=[
        {"Name": "dhcp-options-id", "Values": [out["Dhcp"]]}])["DhcpOptions"] == []
    states = [n["State"] for n in ec2c.describe_nat_gateways(Filters=[
        {"Name": "nat-gateway-id", "Values": [out["Nat"]]}])["NatGateways"]]
    assert states in ([], ["deleted"])


def _lb_template(**lb: Any) -> str:
    t = Template()
    zone = t.add_parameter(Parameter("Zone", Type="AWS::EC2::AvailabilityZone::Name"))
    t.add_resource(elb.LoadBalancer(
        "Lb", AvailabilityZones=[Ref(zone)],
        Listeners=[elb.Listener(LoadBalancerPort="80", InstancePort="8080", Protocol="HTTP")],
        **lb))
    return str(t.to_json())


def test_load_balancer_attributes_from_the_template_and_on_update(
        sqlite_cloud: LiveCloud) -> None:
    """CrossZone, ConnectionDrainingPolicy and ConnectionSettings become the load
    balancer's attributes at creation (they were dropped: a cross-zone template got a
    load balancer whose second zone's node had no instance); an update changes them in
    place (same load balancer) and removing them restores AWS's defaults."""
    cloud = sqlite_cloud
    cf, elbc, ec2c = (cloud.client(s) for s in ("cloudformation", "elb", "ec2"))
    zone = ec2c.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    name = unique("lbattrs")
    params = [{"ParameterKey": "Zone", "ParameterValue": zone}]
    stack_id = cf.create_stack(StackName=name, Parameters=params, TemplateBody=_lb_template(
        CrossZone=True, ConnectionDrainingPolicy=elb.ConnectionDrainingPolicy(
            Enabled=True, Timeout=45), ConnectionSettings=elb.ConnectionSettings(
            IdleTimeout=120)))["StackId"]
    assert settle(cloud, name)["StackStatus"] == "CREATE_COMPLETE", _failures(cloud, name)
    lb_name = physical(cloud, name, "Lb")

    def attributes() -> dict[str, Any]:
        found: dict[str, Any] = elbc.describe_load_balancer_attributes(
            LoadBalancerName=lb_name)["LoadBalancerAttributes"]
        return found

    got = attributes()
    assert got["CrossZoneLoadBalancing"] == {"Enabled": True}
    assert got["ConnectionDraining"] == {"Enabled": True, "Timeout": 45}
    assert got["ConnectionSettings"] == {"IdleTimeout": 120}
    cf.update_stack(StackName=name, Parameters=params, TemplateBody=_lb_template(
        CrossZone=False, ConnectionSettings=elb.ConnectionSettings(IdleTimeout=30)))
    assert settle(cloud, name)["StackStatus"] == "UPDATE_COMPLETE", _failures(cloud, name)
    assert physical(cloud, name, "Lb") == lb_name  # in place, no replacement
    got = attributes()
    assert got["CrossZoneLoadBalancing"] == {"Enabled": False}
    assert got["ConnectionDraining"]["Enabled"] is False
    assert got["ConnectionSettings"] == {"IdleTimeout": 30}
    cf.delete_stack(StackName=name)
    assert settle(cloud, stack_id)["StackStatus"] == "DELETE_COMPLETE"
