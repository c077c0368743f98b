"""EC2 VPC: virtual private clouds, subnets, route tables, gateways, network ACLs,
DHCP option sets, network interfaces and peering (the API side; the data plane is
``netd.vpc``). ``providers()`` lists the provider classes EC2's ``ServiceSpec`` installs;
``models.VPC_TABLES`` the tables.
"""

from __future__ import annotations

from cloudctl.server.providers import Provider


def providers() -> list[type[Provider]]:
    """Every VPC provider class, in registration order."""
    from cloudctl.services.ec2.vpc import properties  # noqa: F401  (defines them)
    from cloudctl.services.ec2.vpc.account import AccountAttributesProvider
    from cloudctl.services.ec2.vpc.dhcp import DhcpOptionsProvider
    from cloudctl.services.ec2.vpc.gateways import InternetGatewaysProvider
    from cloudctl.services.ec2.vpc.interfaces import NetworkInterfacesProvider
    from cloudctl.services.ec2.vpc.nacls import NetworkAclsProvider
    from cloudctl.services.ec2.vpc.nat import NatGatewaysProvider
    from cloudctl.services.ec2.vpc.peering import PeeringProvider
    from cloudctl.services.ec2.vpc.routes import RouteTablesProvider
    from cloudctl.services.ec2.vpc.subnets import SubnetsProvider
    from cloudctl.services.ec2.vpc.vpcs import VpcsProvider

    return [VpcsProvider, SubnetsProvider, RouteTablesProvider, InternetGatewaysProvider,
            NatGatewaysProvider, NetworkAclsProvider, DhcpOptionsProvider,
            NetworkInterfacesProvider, PeeringProvider, AccountAttributesProvider]
