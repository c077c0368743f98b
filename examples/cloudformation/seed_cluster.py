"""The seed scenario's template, written with troposphere: ``python3 seed_cluster.py``
prints it (``seed-cluster.json`` beside this file is its output, checked by the tests).

A VPC with a public subnet in each of two zones, an internet gateway and a default
route, a load balancer in both subnets, and an Auto Scaling group of ``ClusterSize``
instances (a launch configuration with user data) behind it. Each instance serves its
instance id over HTTP on port 8080 (busybox httpd) and signals the stack's wait
condition with a cfn-signal document (an HTTP PUT to the handle's URL, as
``curl -X PUT -H 'Content-Type:' --data-binary @signal.json URL`` sends it); the stack
completes when ``ClusterSize`` instances have signalled. The group scales on CPU: an
alarm on the group's average ``CPUUtilization`` above ``ScaleOutCpu`` % for a minute runs
a step policy that adds a server, up to ``MaxClusterSize`` (each server also serves
``/cgi-bin/burn``, which keeps its CPU busy for two minutes: load to scale on).
Parameters: image, key pair, size, the most servers, the CPU threshold, instance type,
zones, and how many of the zones the group spans.
"""

from __future__ import annotations

from troposphere import (
    Base64,
    Equals,
    GetAtt,
    If,
    Join,
    Output,
    Parameter,
    Ref,
    Select,
    Sub,
    Tags,
    Template,
    autoscaling,
    cloudformation,
    cloudwatch,
    ec2,
)
from troposphere import elasticloadbalancing as elb

# The guest's user data: serve the instance id (and a CGI that keeps the CPU busy for two
# minutes), then PUT a cfn-signal document to the wait condition handle (busybox nc
# speaks the HTTP a curl -X PUT would), until accepted.
USER_DATA = r"""#!/bin/sh
mkdir -p /www/cgi-bin
until wget -q -O /www/index.html http://169.254.169.254/latest/meta-data/instance-id; do
  sleep 1
done
cat > /www/cgi-bin/burn <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
( yes > /dev/null & pid=$!; sleep 120; kill $pid ) > /dev/null 2>&1 &
echo "$(cat /www/index.html) busy for 120 s"
CGI
chmod 755 /www/cgi-bin/burn
busybox httpd -p 8080 -h /www
id=$(cat /www/index.html)
url='${Handle}'
body="{\"Status\":\"SUCCESS\",\"UniqueId\":\"$id\",\"Data\":\"$id serving\",\"Reason\":\"httpd up\"}"
rest=${!url#*://}
hostport=${!rest%%/*}
path=/${!rest#*/}
host=${!hostport%:*}
port=${!hostport##*:}
[ "$port" = "$hostport" ] && port=80
n=0
while [ $n -lt 120 ]; do
  n=$((n+1))
  answer=$(printf 'PUT %s HTTP/1.0\r\nHost: %s\r\nContent-Type:\r\nContent-Length: %d\r\n\r\n%s' \
    "$path" "$hostport" "${!#body}" "$body" | nc -w 5 "$host" "$port" | head -n 1)
  case "$answer" in *" 200"*) echo "cfn-signal sent" > /dev/console; break;; esac
  sleep 2
done
"""


def template() -> Template:
    t = Template(Description="The seed scenario: a VPC over two zones, an Auto Scaling "
                             "group of web servers behind a load balancer, a wait condition "
                             "signalled by each server")
    image = t.add_parameter(Parameter("ImageId", Type="AWS::EC2::Image::Id",
                                      Description="the servers' image (EMI)"))
    key = t.add_parameter(Parameter("KeyName", Type="AWS::EC2::KeyPair::KeyName",
                                    Description="the key pair to log in with"))
    size = t.add_parameter(Parameter("ClusterSize", Type="Number", Default="3",
                                     MinValue=1, MaxValue=10,
                                     Description="how many servers"))
    most = t.add_parameter(Parameter("MaxClusterSize", Type="Number", Default="4",
                                     MinValue=1, MaxValue=10,
                                     Description="the most servers CPU load may grow the "
                                                 "group to (at least ClusterSize)"))
    cpu = t.add_parameter(Parameter("ScaleOutCpu", Type="Number", Default="70",
                                    MinValue=1, MaxValue=100,
                                    Description="the group's average CPU % above which "
                                                "(for a minute) it grows by one server"))
    itype = t.add_parameter(Parameter("InstanceType", Type="String", Default="t1.micro",
                                      Description="the servers' instance type"))
    zones = t.add_parameter(Parameter("Zones", Type="List<AWS::EC2::AvailabilityZone::Name>",
                                      Description="two availability zones"))
    spread = t.add_parameter(Parameter(
        "GroupZones", Type="Number", Default="2", AllowedValues=["1", "2"],
        Description="how many of the zones the group spans (1: the first zone only)"))
    t.add_condition("OneZone", Equals(Ref(spread), "1"))

    vpc = t.add_resource(ec2.VPC("Vpc", CidrBlock="10.30.0.0/16", EnableDnsSupport=True,
                                 EnableDnsHostnames=True, Tags=Tags(Name="seed")))
    subnets = [t.add_resource(ec2.Subnet(
        f"Subnet{i}", VpcId=Ref(vpc), CidrBlock=f"10.30.{i}.0/24",
        AvailabilityZone=Select(i, Ref(zones)), MapPublicIpOnLaunch=True))
        for i in (0, 1)]
    igw = t.add_resource(ec2.InternetGateway("Igw"))
    attach = t.add_resource(ec2.VPCGatewayAttachment("IgwAttach", VpcId=Ref(vpc),
                                                     InternetGatewayId=Ref(igw)))
    table = t.add_resource(ec2.RouteTable("Routes", VpcId=Ref(vpc)))
    t.add_resource(ec2.Route("DefaultRoute", DependsOn=attach, RouteTableId=Ref(table),
                             DestinationCidrBlock="0.0.0.0/0", GatewayId=Ref(igw)))
    for i, subnet in enumerate(subnets):
        t.add_resource(ec2.SubnetRouteTableAssociation(
            f"Subnet{i}Routes", SubnetId=Ref(subnet), RouteTableId=Ref(table)))
    lb_group = t.add_resource(ec2.SecurityGroup(
        "LbGroup", GroupDescription="HTTP from anywhere to the load balancer", VpcId=Ref(vpc),
        SecurityGroupIngress=[ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=80,
                                                    ToPort=80, CidrIp="0.0.0.0/0")]))
    servers = t.add_resource(ec2.SecurityGroup(
        "ServerGroup", GroupDescription="the servers: HTTP from the load balancer, ssh "
                                        "inside the VPC", VpcId=Ref(vpc),
        SecurityGroupIngress=[
            ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=8080, ToPort=8080,
                                  SourceSecurityGroupId=Ref(lb_group)),
            ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=22, ToPort=22,
                                  CidrIp="10.30.0.0/16")]))
    lb = t.add_resource(elb.LoadBalancer(
        "Lb", DependsOn=attach, Subnets=[Ref(s) for s in subnets],
        SecurityGroups=[Ref(lb_group)], Scheme="internet-facing", CrossZone=True,
        Listeners=[elb.Listener(LoadBalancerPort="80", InstancePort="8080", Protocol="HTTP")],
        HealthCheck=elb.HealthCheck(Target="HTTP:8080/index.html", HealthyThreshold="2",
                                    UnhealthyThreshold="2", Interval="5", Timeout="3")))
    handle = t.add_resource(cloudformation.WaitConditionHandle("ServersReadyHandle"))
    config = t.add_resource(autoscaling.LaunchConfiguration(
        "Servers", ImageId=Ref(image), KeyName=Ref(key), InstanceType=Ref(itype),
        SecurityGroups=[Ref(servers)], AssociatePublicIpAddress=True,
        UserData=Base64(Sub(USER_DATA, Handle=Ref(handle))),
        # cfn-lint warns that launch configurations are in maintenance mode (AWS favours
        # launch templates); the seed scenario is a launch configuration's
        Metadata={"cfn-lint": {"config": {"ignore_checks": ["W3697"]}}}))
    group = t.add_resource(autoscaling.AutoScalingGroup(
        "Group", DependsOn="DefaultRoute", LaunchConfigurationName=Ref(config),
        MinSize=Ref(size), MaxSize=Ref(most), DesiredCapacity=Ref(size),
        VPCZoneIdentifier=If("OneZone", [Ref(subnets[0])], [Ref(s) for s in subnets]),
        LoadBalancerNames=[Ref(lb)], HealthCheckType="EC2",
        Tags=[autoscaling.Tag("Name", "seed-server", True)]))
    t.add_resource(cloudformation.WaitCondition(
        "ServersReady", DependsOn=group.title, Handle=Ref(handle), Count=Ref(size),
        Timeout="900"))
    scale_out = t.add_resource(autoscaling.ScalingPolicy(
        "ScaleOut", AutoScalingGroupName=Ref(group), PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", EstimatedInstanceWarmup=60,
        StepAdjustments=[autoscaling.StepAdjustments(MetricIntervalLowerBound=0,
                                                     ScalingAdjustment=1)]))
    t.add_resource(cloudwatch.Alarm(
        "CpuHigh", AlarmDescription="the servers are busy: add one",
        Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=Ref(cpu), ComparisonOperator="GreaterThanThreshold",
        Dimensions=[cloudwatch.MetricDimension(Name="AutoScalingGroupName",
                                               Value=Ref(group))],
        AlarmActions=[Ref(scale_out)]))
    t.add_output(Output("GroupName", Description="the Auto Scaling group", Value=Ref(group)))
    t.add_output(Output("LoadBalancerName", Value=Ref(lb)))
    t.add_output(Output("LoadBalancerDns", Description="where the servers answer",
                        Value=GetAtt(lb, "DNSName")))
    t.add_output(Output("Url", Value=Join("", ["http://", GetAtt(lb, "DNSName"), "/"])))
    t.add_output(Output("VpcId", Value=Ref(vpc)))
    return t


if __name__ == "__main__":
    print(template().to_json())
