"""SSL negotiation policies through boto3 against a live cloud: the predefined
``ELBSecurityPolicy-*`` (DescribeLoadBalancerPolicies without a load balancer), policies
referencing one or listing their own protocols and ciphers, AWS's refusals, and what
the data plane renders for the listener (haproxy's protocol range and ciphers)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import LiveCloud


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


async def _rendered(cloud: LiveCloud, name: str, port: int) -> str:
    """The bind options the data plane gives listener ``port`` of load balancer ``name``."""
    from sqlalchemy import select

    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.elb.dataplane import tls_of
    from cloudctl.services.elb.models import ElbLoadBalancer
    from netd.lbspec import Listener, tls_options

    engine = create_engine(f"sqlite+aiosqlite:///{cloud.data_dir / 'cloud.db'}")
    try:
        async with session_factory(engine)() as session:
            lb = (await session.execute(select(ElbLoadBalancer).where(
                ElbLoadBalancer.name == name))).scalar_one()
        raw = next(lst for lst in lb.listeners if lst["LoadBalancerPort"] == port)
        protocols, ciphers = tls_of(lb, raw)
        return tls_options(Listener("HTTPS", port, "HTTP", 8080, tls_protocols=protocols,
                                    tls_ciphers=ciphers))
    finally:
        await engine.dispose()


def test_ssl_negotiation_policies(sqlite_cloud: LiveCloud) -> None:
    from tests.integration.elb_lab import self_signed

    cloud = sqlite_cloud
    elb, iam, name = cloud.client("elb"), cloud.client("iam"), f"s-{uuid.uuid4().hex[:8]}"
    samples = elb.describe_load_balancer_policies()["PolicyDescriptions"]
    by_name = {p["PolicyName"]: p for p in samples}
    assert "ELBSecurityPolicy-2016-08" in by_name
    attrs = {a["AttributeName"]: a["AttributeValue"] for a in by_name[
        "ELBSecurityPolicy-TLS-1-2-2017-01"]["PolicyAttributeDescriptions"]}
    assert attrs["Protocol-TLSv1.2"] == "true" and attrs["Protocol-TLSv1"] == "false"
    assert attrs["ECDHE-RSA-AES128-GCM-SHA256"] == "true" and attrs["AES128-SHA"] == "false"
    with pytest.raises(ClientError) as exc:
        elb.describe_load_balancer_policies(PolicyNames=["ELBSecurityPolicy-1999-01"])
    assert _code(exc) == "PolicyNotFound"

    cert, key = self_signed("ssl.example.test")
    arn = iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=cert,
                                        PrivateKey=key)["ServerCertificateMetadata"]["Arn"]
    zone = cloud.client("ec2").describe_availability_zones()["AvailabilityZones"][0]
    elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=[zone["ZoneName"]],
                             Listeners=[{"Protocol": "HTTPS", "LoadBalancerPort": 443,
                                         "InstanceProtocol": "HTTP", "InstancePort": 8080,
                                         "SSLCertificateId": arn}])

    def create(policy: str, attributes: dict[str, str]) -> None:
        elb.create_load_balancer_policy(
            LoadBalancerName=name, PolicyName=policy, PolicyTypeName="SSLNegotiationPolicyType",
            PolicyAttributes=[{"AttributeName": k, "AttributeValue": v}
                              for k, v in attributes.items()])

    for attributes in ({"Reference-Security-Policy": "ELBSecurityPolicy-1999-01"},
                       {"Protocol-TLSv1.2": "false", "AES128-SHA": "true"},
                       {"Protocol-TLSv1.2": "true"},
                       {"Protocol-TLSv1.2": "true", "NOT-A-CIPHER": "true"}):
        with pytest.raises(ClientError) as exc:
            create("bad", attributes)
        assert _code(exc) == "InvalidConfigurationRequest", attributes

    create("tls12", {"Reference-Security-Policy": "ELBSecurityPolicy-TLS-1-2-2017-01"})
    create("own", {"Protocol-TLSv1.1": "true", "Protocol-TLSv1.2": "true",
                   "ECDHE-ECDSA-AES128-GCM-SHA256": "true", "AES256-SHA": "false"})
    assert asyncio.run(_rendered(cloud, name, 443)) == ""  # no policy: haproxy's defaults
    elb.set_load_balancer_policies_of_listener(LoadBalancerName=name, LoadBalancerPort=443,
                                               PolicyNames=["tls12"])
    rendered = asyncio.run(_rendered(cloud, name, 443))
    assert rendered.startswith(" ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 ciphers ")
    assert "ECDHE-RSA-AES128-GCM-SHA256" in rendered and "AES128-SHA:" not in rendered
    elb.set_load_balancer_policies_of_listener(LoadBalancerName=name, LoadBalancerPort=443,
                                               PolicyNames=["own"])
    assert asyncio.run(_rendered(cloud, name, 443)) == (
        " ssl-min-ver TLSv1.1 ssl-max-ver TLSv1.2 ciphers "
        "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0")
    got: dict[str, Any] = elb.describe_load_balancers(LoadBalancerNames=[name])[
        "LoadBalancerDescriptions"][0]
    assert got["ListenerDescriptions"][0]["PolicyNames"] == ["own"]
    elb.delete_load_balancer(LoadBalancerName=name)
