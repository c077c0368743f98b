"""ELB (classic) through boto3 and the AWS CLI against a live cloud: load balancers
(create idempotence, listener pairings, paging), listeners, health check, attributes,
policies, instances, tags, and the errors AWS answers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.test_compute_instances import register_image_set
from tests.support import LiveCloud

pytestmark = pytest.mark.both_databases

HTTP = {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def _name() -> str:
    return f"lb-{uuid.uuid4().hex[:8]}"


def _zone(cloud: LiveCloud) -> str:
    zones = cloud.client("ec2").describe_availability_zones()["AvailabilityZones"]
    return str(zones[0]["ZoneName"])


def _create(cloud: LiveCloud, name: str, **extra: Any) -> str:
    elb = cloud.client("elb")
    out = elb.create_load_balancer(LoadBalancerName=name, Listeners=[HTTP],
                                   AvailabilityZones=[_zone(cloud)], **extra)
    return str(out["DNSName"])


def test_create_describe_delete_and_dns_name(cloud: LiveCloud) -> None:
    elb, name = cloud.client("elb"), _name()
    dns = _create(cloud, name, Tags=[{"Key": "team", "Value": "web"}])
    assert dns.startswith(f"{name}-") and f".{cloud.region}.elb." in dns
    assert _create(cloud, name) == dns  # same configuration: idempotent
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=[_zone(cloud)],
                                 Listeners=[{**HTTP, "InstancePort": 9090}])
    assert _code(exc) == "DuplicateLoadBalancerName"
    desc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    assert desc["DNSName"] == dns and desc["Scheme"] == "internet-facing"
    assert desc["ListenerDescriptions"][0]["Listener"] == {
        "Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP",
        "InstancePort": 8080}
    assert desc["HealthCheck"] == {"Target": "TCP:8080", "Interval": 30, "Timeout": 5,
                                   "UnhealthyThreshold": 2, "HealthyThreshold": 10}
    assert elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"][0]["Tags"] == [
        {"Key": "team", "Value": "web"}]
    elb.delete_load_balancer(LoadBalancerName=name)
    elb.delete_load_balancer(LoadBalancerName=name)  # AWS: deleting twice succeeds
    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancers(LoadBalancerNames=[name])
    assert _code(exc) == "LoadBalancerNotFound" and _status(exc) == 400


@pytest.mark.parametrize("listener,code", [
    ({"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "TCP",
      "InstancePort": 80}, "ValidationError"),
    ({"Protocol": "SSL", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP",
      "InstancePort": 80}, "ValidationError"),
    ({"Protocol": "UDP", "LoadBalancerPort": 80, "InstancePort": 80}, "ValidationError"),
    ({"Protocol": "HTTP", "LoadBalancerPort": 81, "InstancePort": 80}, "ValidationError"),
    ({"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstancePort": 80}, "ValidationError"),
    ({"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstancePort": 80,
      "SSLCertificateId": "arn:aws:iam::000000000000:server-certificate/none"},
     "CertificateNotFound"),
])
@pytest.mark.sqlite_only("validation answered before any SQL")
def test_listener_pairings_refused(cloud: LiveCloud, listener: dict[str, Any],
                                   code: str) -> None:
    with pytest.raises(ClientError) as exc:
        cloud.client("elb").create_load_balancer(
            LoadBalancerName=_name(), Listeners=[listener], AvailabilityZones=[_zone(cloud)])
    assert _code(exc) == code


@pytest.mark.sqlite_only("validation answered before any SQL")
def test_bad_names_zones_and_schemes(cloud: LiveCloud) -> None:
    elb = cloud.client("elb")
    for name in ("-bad", "x" * 33, "under_score"):
        with pytest.raises(ClientError) as exc:
            elb.create_load_balancer(LoadBalancerName=name, Listeners=[HTTP],
                                     AvailabilityZones=[_zone(cloud)])
        assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(LoadBalancerName=_name(), Listeners=[HTTP],
                                 AvailabilityZones=["nowhere-1z"])
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer(LoadBalancerName=_name(), Listeners=[HTTP],
                                 AvailabilityZones=[_zone(cloud)], Scheme="sideways")
    assert _code(exc) == "InvalidScheme"


def test_paging_with_marker_and_page_size(cloud: LiveCloud) -> None:
    elb = cloud.client("elb")
    names = sorted(f"pg-{uuid.uuid4().hex[:6]}" for _ in range(5))
    for name in names:
        _create(cloud, name)
    try:
        seen: list[str] = []
        for page in elb.get_paginator("describe_load_balancers").paginate(
                PaginationConfig={"PageSize": 2}):
            assert len(page["LoadBalancerDescriptions"]) <= 2
            seen += [d["LoadBalancerName"] for d in page["LoadBalancerDescriptions"]]
        assert [n for n in seen if n in names] == names and len(seen) == len(set(seen))
        with pytest.raises(ClientError) as exc:
            elb.describe_load_balancers(PageSize=401)
        assert _code(exc) == "ValidationError"
        with pytest.raises(ClientError) as exc:
            elb.describe_load_balancers(Marker="garbage")
        assert _code(exc) == "ValidationError"
    finally:
        for name in names:
            elb.delete_load_balancer(LoadBalancerName=name)


def test_listeners_health_check_attributes(cloud: LiveCloud) -> None:
    elb, name = cloud.client("elb"), _name()
    _create(cloud, name)
    elb.create_load_balancer_listeners(LoadBalancerName=name, Listeners=[
        {"Protocol": "TCP", "LoadBalancerPort": 8443, "InstancePort": 9443}])
    elb.create_load_balancer_listeners(LoadBalancerName=name, Listeners=[HTTP])  # same: ok
    with pytest.raises(ClientError) as exc:
        elb.create_load_balancer_listeners(LoadBalancerName=name, Listeners=[
            {**HTTP, "InstancePort": 1234}])
    assert _code(exc) == "DuplicateListener"
    elb.delete_load_balancer_listeners(LoadBalancerName=name, LoadBalancerPorts=[8443])
    desc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    assert [d["Listener"]["LoadBalancerPort"] for d in desc["ListenerDescriptions"]] == [80]
    check = {"Target": "HTTP:8080/health", "Interval": 5, "Timeout": 2,
             "UnhealthyThreshold": 2, "HealthyThreshold": 3}
    assert elb.configure_health_check(LoadBalancerName=name,
                                      HealthCheck=check)["HealthCheck"] == check
    for bad in ({**check, "Target": "HTTP:8080"}, {**check, "Timeout": 5},
                {**check, "Target": "TCP:80/x"}):
        with pytest.raises(ClientError) as exc:
            elb.configure_health_check(LoadBalancerName=name, HealthCheck=bad)
        assert _code(exc) == "ValidationError"
    attrs = elb.describe_load_balancer_attributes(LoadBalancerName=name)
    assert attrs["LoadBalancerAttributes"]["ConnectionDraining"] == {"Enabled": False,
                                                                    "Timeout": 300}
    elb.modify_load_balancer_attributes(LoadBalancerName=name, LoadBalancerAttributes={
        "ConnectionDraining": {"Enabled": True, "Timeout": 30},
        "ConnectionSettings": {"IdleTimeout": 120},
        "AccessLog": {"Enabled": True, "S3BucketName": "logs", "EmitInterval": 5}})
    attrs = elb.describe_load_balancer_attributes(LoadBalancerName=name)[
        "LoadBalancerAttributes"]
    assert attrs["ConnectionDraining"] == {"Enabled": True, "Timeout": 30}
    assert attrs["ConnectionSettings"] == {"IdleTimeout": 120}
    assert attrs["AccessLog"]["EmitInterval"] == 5
    with pytest.raises(ClientError) as exc:
        elb.modify_load_balancer_attributes(LoadBalancerName=name, LoadBalancerAttributes={
            "AccessLog": {"Enabled": True, "S3BucketName": "logs", "EmitInterval": 7}})
    assert _code(exc) == "ValidationError"
    zone = _zone(cloud)
    with pytest.raises(ClientError) as exc:
        elb.disable_availability_zones_for_load_balancer(LoadBalancerName=name,
                                                         AvailabilityZones=[zone])
    assert _code(exc) == "ValidationError"
    with pytest.raises(ClientError) as exc:
        elb.apply_security_groups_to_load_balancer(LoadBalancerName=name,
                                                   SecurityGroups=["sg-12345678"])
    assert _code(exc) == "InvalidConfigurationRequest" and _status(exc) == 409
    elb.delete_load_balancer(LoadBalancerName=name)


def test_policies(cloud: LiveCloud) -> None:
    elb, name = cloud.client("elb"), _name()
    _create(cloud, name)
    elb.create_load_balancer_listeners(LoadBalancerName=name, Listeners=[
        {"Protocol": "TCP", "LoadBalancerPort": 2525, "InstancePort": 25}])
    types = elb.describe_load_balancer_policy_types()["PolicyTypeDescriptions"]
    assert {"LBCookieStickinessPolicyType", "ProxyProtocolPolicyType"} <= {
        t["PolicyTypeName"] for t in types}
    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancer_policy_types(PolicyTypeNames=["NopeType"])
    assert _code(exc) == "PolicyTypeNotFound"
    elb.create_lb_cookie_stickiness_policy(LoadBalancerName=name, PolicyName="sticky",
                                           CookieExpirationPeriod=60)
    elb.create_app_cookie_stickiness_policy(LoadBalancerName=name, PolicyName="app",
                                            CookieName="SESSION")
    elb.create_load_balancer_policy(
        LoadBalancerName=name, PolicyName="pp", PolicyTypeName="ProxyProtocolPolicyType",
        PolicyAttributes=[{"AttributeName": "ProxyProtocol", "AttributeValue": "true"}])
    with pytest.raises(ClientError) as exc:
        elb.create_lb_cookie_stickiness_policy(LoadBalancerName=name, PolicyName="sticky")
    assert _code(exc) == "DuplicatePolicyName"
    elb.set_load_balancer_policies_of_listener(LoadBalancerName=name, LoadBalancerPort=80,
                                               PolicyNames=["sticky"])
    with pytest.raises(ClientError) as exc:  # stickiness only on HTTP/HTTPS
        elb.set_load_balancer_policies_of_listener(LoadBalancerName=name,
                                                   LoadBalancerPort=2525,
                                                   PolicyNames=["app"])
    assert _code(exc) == "InvalidConfigurationRequest"
    with pytest.raises(ClientError) as exc:
        elb.set_load_balancer_policies_of_listener(LoadBalancerName=name,
                                                   LoadBalancerPort=9999, PolicyNames=[])
    assert _code(exc) == "ListenerNotFound"
    elb.set_load_balancer_policies_for_backend_server(LoadBalancerName=name,
                                                      InstancePort=25, PolicyNames=["pp"])
    desc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    assert desc["Policies"]["LBCookieStickinessPolicies"] == [
        {"PolicyName": "sticky", "CookieExpirationPeriod": 60}]
    assert desc["Policies"]["AppCookieStickinessPolicies"] == [
        {"PolicyName": "app", "CookieName": "SESSION"}]
    assert desc["BackendServerDescriptions"] == [{"InstancePort": 25, "PolicyNames": ["pp"]}]
    assert desc["ListenerDescriptions"][0]["PolicyNames"] == ["sticky"]
    with pytest.raises(ClientError) as exc:
        elb.delete_load_balancer_policy(LoadBalancerName=name, PolicyName="sticky")
    assert _code(exc) == "InvalidConfigurationRequest"
    got = elb.describe_load_balancer_policies(LoadBalancerName=name, PolicyNames=["pp"])
    assert got["PolicyDescriptions"][0]["PolicyAttributeDescriptions"] == [
        {"AttributeName": "ProxyProtocol", "AttributeValue": "true"}]
    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancer_policies(LoadBalancerName=name, PolicyNames=["gone"])
    assert _code(exc) == "PolicyNotFound"
    elb.delete_load_balancer(LoadBalancerName=name)


def test_tags(cloud: LiveCloud) -> None:
    elb, name = cloud.client("elb"), _name()
    _create(cloud, name)
    elb.add_tags(LoadBalancerNames=[name], Tags=[{"Key": f"k{i}", "Value": "v"}
                                                 for i in range(10)])
    with pytest.raises(ClientError) as exc:
        elb.add_tags(LoadBalancerNames=[name], Tags=[{"Key": "eleventh", "Value": "v"}])
    assert _code(exc) == "TooManyTags"
    with pytest.raises(ClientError) as exc:
        elb.add_tags(LoadBalancerNames=[name], Tags=[{"Key": "a"}, {"Key": "a"}])
    assert _code(exc) == "DuplicateTagKeys"
    elb.remove_tags(LoadBalancerNames=[name], Tags=[{"Key": f"k{i}"} for i in range(9)])
    tags = elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"][0]["Tags"]
    assert tags == [{"Key": "k9", "Value": "v"}]
    elb.delete_load_balancer(LoadBalancerName=name)


def test_instances_and_health_without_checks_passing(cloud: LiveCloud,
                                                     tmp_path: Path) -> None:
    elb, ec2, name = cloud.client("elb"), cloud.client("ec2"), _name()
    _create(cloud, name)
    images = register_image_set(cloud, tmp_path)
    iid = ec2.run_instances(ImageId=images["emi"], MinCount=1,
                            MaxCount=1)["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as exc:
        elb.register_instances_with_load_balancer(LoadBalancerName=name,
                                                  Instances=[{"InstanceId": "i-12345678"}])
    assert _code(exc) == "InvalidInstance"
    out = elb.register_instances_with_load_balancer(LoadBalancerName=name,
                                                    Instances=[{"InstanceId": iid}])
    assert out["Instances"] == [{"InstanceId": iid}]
    states = elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"]
    assert states[0]["InstanceId"] == iid and states[0]["State"] == "OutOfService"
    assert states[0]["ReasonCode"] in ("ELB", "Instance")
    other = elb.describe_instance_health(LoadBalancerName=name,
                                        Instances=[{"InstanceId": "i-0abcdef1"}])
    assert other["InstanceStates"][0]["State"] == "Unknown"
    with pytest.raises(ClientError) as exc:
        elb.deregister_instances_from_load_balancer(LoadBalancerName=name,
                                                    Instances=[{"InstanceId": "i-0abcdef1"}])
    assert _code(exc) == "InvalidInstance"
    out = elb.deregister_instances_from_load_balancer(LoadBalancerName=name,
                                                      Instances=[{"InstanceId": iid}])
    assert out["Instances"] == []
    elb.delete_load_balancer(LoadBalancerName=name)
    ec2.terminate_instances(InstanceIds=[iid])


@pytest.mark.sqlite_only(
    "the AWS CLI's wire flow; the same operations run on both databases through "
    "boto3; NotImplemented is answered before any SQL")
def test_cli_and_not_implemented(cloud: LiveCloud) -> None:
    name = _name()
    out = cloud.aws("elb", "create-load-balancer", "--load-balancer-name", name,
                    "--listeners",
                    "Protocol=HTTP,LoadBalancerPort=80,InstanceProtocol=HTTP,InstancePort=80",
                    "--availability-zones", _zone(cloud))
    assert json.loads(out.stdout)["DNSName"].startswith(name)
    got = json.loads(cloud.aws("elb", "describe-load-balancers", "--load-balancer-names",
                               name).stdout)
    assert got["LoadBalancerDescriptions"][0]["LoadBalancerName"] == name
    cloud.aws("elb", "delete-load-balancer", "--load-balancer-name", name)
    with pytest.raises(ClientError) as exc:
        cloud.client("elb").describe_account_limits()
    assert _code(exc) == "NotImplemented"


def test_https_listener_with_iam_server_certificates(cloud: LiveCloud) -> None:
    from tests.integration.elb_lab import self_signed

    elb, iam, name = cloud.client("elb"), cloud.client("iam"), _name()
    arns = []
    for n in range(2):
        cert, key = self_signed(f"web{n}.example.test")
        arns.append(iam.upload_server_certificate(
            ServerCertificateName=f"{name}-{n}", CertificateBody=cert, PrivateKey=key,
            Path="/elb/")["ServerCertificateMetadata"]["Arn"])
    https = {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP",
             "InstancePort": 8080, "SSLCertificateId": arns[0]}
    elb.create_load_balancer(LoadBalancerName=name, Listeners=[https, HTTP],
                             AvailabilityZones=[_zone(cloud)])
    elb.set_load_balancer_listener_ssl_certificate(LoadBalancerName=name,
                                                   LoadBalancerPort=443,
                                                   SSLCertificateId=arns[1])
    desc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    by_port = {d["Listener"]["LoadBalancerPort"]: d["Listener"]
               for d in desc["ListenerDescriptions"]}
    assert by_port[443]["SSLCertificateId"] == arns[1]
    with pytest.raises(ClientError) as exc:
        elb.set_load_balancer_listener_ssl_certificate(
            LoadBalancerName=name, LoadBalancerPort=443,
            SSLCertificateId=arns[1].replace(f"{name}-1", "missing"))
    assert _code(exc) == "CertificateNotFound"
    with pytest.raises(ClientError) as exc:
        elb.set_load_balancer_listener_ssl_certificate(LoadBalancerName=name,
                                                       LoadBalancerPort=80,
                                                       SSLCertificateId=arns[0])
    assert _code(exc) == "InvalidConfigurationRequest"
    with pytest.raises(ClientError) as exc:
        elb.set_load_balancer_listener_ssl_certificate(LoadBalancerName=name,
                                                       LoadBalancerPort=8443,
                                                       SSLCertificateId=arns[0])
    assert _code(exc) == "ListenerNotFound"
    with pytest.raises(ClientError) as exc:  # one instance port, secure and plain
        elb.create_load_balancer_listeners(LoadBalancerName=name, Listeners=[
            {"Protocol": "HTTPS", "LoadBalancerPort": 8443, "InstanceProtocol": "HTTPS",
             "InstancePort": 8080, "SSLCertificateId": arns[0]}])
    assert _code(exc) == "InvalidConfigurationRequest"
    elb.delete_load_balancer(LoadBalancerName=name)
