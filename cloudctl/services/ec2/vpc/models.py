"""Tables of the VPC area: the desired topology the API records (source of truth).

Every row carries its account and region (``RegionalMixin``) except the children that
live and die with a parent (CIDR associations, routes, ACL entries, private IPs). The
controller publishing the topology (``cloudctl.services.ec2.vpc.publisher``) and the NAT
gateway controller read these tables; nothing else writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow


class VpcRow(RegionalMixin, Base):
    __tablename__ = "ec2_vpcs"

    vpc_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cidr: Mapped[str] = mapped_column(String(18))
    vni: Mapped[int] = mapped_column(Integer, unique=True)  # VXLAN id on the data plane
    state: Mapped[str] = mapped_column(String(16), default="available")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    dhcp_options_id: Mapped[str] = mapped_column(String(32), default="default")
    dns_support: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_hostnames: Mapped[bool] = mapped_column(Boolean, default=False)
    tenancy: Mapped[str] = mapped_column(String(16), default="default")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class VpcCidrRow(Base):
    """A CIDR block of a VPC (the primary one too): ``vpc-cidr-assoc-...``."""

    __tablename__ = "ec2_vpc_cidr_blocks"

    association_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    vpc_id: Mapped[str] = mapped_column(String(32), index=True)
    cidr: Mapped[str] = mapped_column(String(18))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)


class SubnetRow(RegionalMixin, Base):
    __tablename__ = "ec2_subnets"

    subnet_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vpc_id: Mapped[str] = mapped_column(String(32), index=True)
    cidr: Mapped[str] = mapped_column(String(18))
    zone: Mapped[str] = mapped_column(String(64))
    map_public_ip: Mapped[bool] = mapped_column(Boolean, default=False)
    default_for_az: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RouteTableRow(RegionalMixin, Base):
    __tablename__ = "ec2_route_tables"

    route_table_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vpc_id: Mapped[str] = mapped_column(String(32), index=True)
    main: Mapped[bool] = mapped_column(Boolean, default=False)


class RouteTableAssociationRow(Base):
    """A subnet's explicit association (``subnet_id`` set) or the VPC's main one."""

    __tablename__ = "ec2_route_table_associations"

    association_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    route_table_id: Mapped[str] = mapped_column(String(32), index=True)
    vpc_id: Mapped[str] = mapped_column(String(32), index=True)
    subnet_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    main: Mapped[bool] = mapped_column(Boolean, default=False)


class RouteRow(Base):
    """One route: ``target_kind`` local, gateway (igw), nat, instance, eni or pcx."""

    __tablename__ = "ec2_routes"

    route_table_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    destination: Mapped[str] = mapped_column(String(18), primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(32), default="CreateRoute")


class InternetGatewayRow(RegionalMixin, Base):
    __tablename__ = "ec2_internet_gateways"

    igw_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vpc_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)


class NatGatewayRow(RegionalMixin, Base):
    __tablename__ = "ec2_nat_gateways"

    nat_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vpc_id: Mapped[str] = mapped_column(String(32), index=True)
    subnet_id: Mapped[str] = mapped_column(String(32), index=True)
    connectivity: Mapped[str] = mapped_column(String(16), default="public")
    allocation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    public_ip: Mapped[str | None] = mapped_column(String(15), nullable=True)
    eni_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    private_ip: Mapped[str | None] = mapped_column(String(15), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    failure_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure_message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class NetworkAclRow(RegionalMixin, Base):
    __tablename__ = "ec2_network_acls"

    acl_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vpc_id: Mapped[str] = mapped_column(String(32), index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class NetworkAclEntryRow(Base):
    __tablename__ = "ec2_network_acl_entries"

    acl_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    egress: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    rule_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    protocol: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(8))
    cidr: Mapped[str] = mapped_column(String(18))
    from_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    icmp_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    icmp_code: Mapped[int | None] = mapped_column(Integer, nullable=True)


class NetworkAclAssociationRow(Base):
    __tablename__ = "ec2_network_acl_associations"

    association_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    acl_id: Mapped[str] = mapped_column(String(32), index=True)
    subnet_id: Mapped[str] = mapped_column(String(32), unique=True)


class DhcpOptionsRow(RegionalMixin, Base):
    __tablename__ = "ec2_dhcp_options"

    dhcp_options_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # [{"Key": "domain-name", "Values": ["example.com"]}, ...]
    configuration: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class NetworkInterfaceRow(RegionalMixin, Base):
    __tablename__ = "ec2_network_interfaces"

    eni_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vpc_id: Mapped[str] = mapped_column(String(32), index=True)
    subnet_id: Mapped[str] = mapped_column(String(32), index=True)
    zone: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(17), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    interface_type: Mapped[str] = mapped_column(String(32), default="interface")
    requester_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    source_dest_check: Mapped[bool] = mapped_column(Boolean, default=True)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    instance_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    instance_owner: Mapped[str | None] = mapped_column(String(12), nullable=True)
    device_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attachment_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attach_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PrivateIpRow(Base):
    """An address of an interface in its subnet (the primary and any secondary)."""

    __tablename__ = "ec2_eni_private_ips"
    __table_args__ = (UniqueConstraint("subnet_id", "private_ip"),)

    eni_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    private_ip: Mapped[str] = mapped_column(String(15), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(String(32), index=True)
    primary: Mapped[bool] = mapped_column(Boolean, default=False)


class VpcAddressRow(Base):
    """An elastic IP of the ``vpc`` domain associated with an interface's private IP."""

    __tablename__ = "ec2_vpc_address_associations"

    allocation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    association_id: Mapped[str] = mapped_column(String(32), unique=True)
    eni_id: Mapped[str] = mapped_column(String(32), index=True)
    private_ip: Mapped[str] = mapped_column(String(15))


class PeeringRow(Base):
    """A peering connection between two VPCs (possibly of two accounts)."""

    __tablename__ = "ec2_vpc_peering_connections"

    pcx_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), index=True)
    requester_account: Mapped[str] = mapped_column(String(12), index=True)
    requester_vpc: Mapped[str] = mapped_column(String(32))
    accepter_account: Mapped[str] = mapped_column(String(12), index=True)
    accepter_vpc: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24), default="pending-acceptance")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class VpcStateRow(Base):
    """The single row holding the VPC topology version (bumped by every change)."""

    __tablename__ = "ec2_vpc_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[int] = mapped_column(Integer, default=0)


_TABLES = (VpcRow, VpcCidrRow, SubnetRow, RouteTableRow, RouteTableAssociationRow,
              RouteRow, InternetGatewayRow, NatGatewayRow, NetworkAclRow,
              NetworkAclEntryRow, NetworkAclAssociationRow, DhcpOptionsRow,
              NetworkInterfaceRow, PrivateIpRow, VpcAddressRow, PeeringRow, VpcStateRow)


class VpcAccountRow(Base):
    """An account's VPC bookkeeping in a region: its default VPC was created once (AWS
    does not bring a deleted default VPC back on its own: CreateDefaultVpc does)."""

    __tablename__ = "ec2_vpc_accounts"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), primary_key=True)
    default_created: Mapped[bool] = mapped_column(Boolean, default=True)


VPC_TABLES: tuple[type[Base], ...] = (*_TABLES, VpcAccountRow)
