"""ec2: VPC (VPCs, subnets, route tables, gateways, NAT, network ACLs, DHCP options,
network interfaces, peering, the topology version)

Revision ID: 0016_ec2_vpc
Revises: 0015_ec2_image_copy
Create Date: 2026-12-04 23:44:04.440128
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016_ec2_vpc'
down_revision = '0015_ec2_image_copy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ec2_dhcp_options',
    sa.Column('dhcp_options_id', sa.String(length=32), nullable=False),
    sa.Column('configuration', sa.JSON(), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('dhcp_options_id', name=op.f('pk_ec2_dhcp_options'))
    )
    with op.batch_alter_table('ec2_dhcp_options', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_dhcp_options_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_dhcp_options_region'), ['region'], unique=False)

    op.create_table('ec2_eni_private_ips',
    sa.Column('eni_id', sa.String(length=32), nullable=False),
    sa.Column('private_ip', sa.String(length=15), nullable=False),
    sa.Column('subnet_id', sa.String(length=32), nullable=False),
    sa.Column('primary', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('eni_id', 'private_ip', name=op.f('pk_ec2_eni_private_ips')),
    sa.UniqueConstraint('subnet_id', 'private_ip', name=op.f('uq_ec2_eni_private_ips_subnet_id'))
    )
    with op.batch_alter_table('ec2_eni_private_ips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_eni_private_ips_subnet_id'), ['subnet_id'], unique=False)

    op.create_table('ec2_internet_gateways',
    sa.Column('igw_id', sa.String(length=32), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=True),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('igw_id', name=op.f('pk_ec2_internet_gateways')),
    sa.UniqueConstraint('vpc_id', name=op.f('uq_ec2_internet_gateways_vpc_id'))
    )
    with op.batch_alter_table('ec2_internet_gateways', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_internet_gateways_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_internet_gateways_region'), ['region'], unique=False)

    op.create_table('ec2_nat_gateways',
    sa.Column('nat_id', sa.String(length=32), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('subnet_id', sa.String(length=32), nullable=False),
    sa.Column('connectivity', sa.String(length=16), nullable=False),
    sa.Column('allocation_id', sa.String(length=32), nullable=True),
    sa.Column('public_ip', sa.String(length=15), nullable=True),
    sa.Column('eni_id', sa.String(length=32), nullable=True),
    sa.Column('private_ip', sa.String(length=15), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('failure_message', sa.String(length=255), nullable=True),
    sa.Column('client_token', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('nat_id', name=op.f('pk_ec2_nat_gateways'))
    )
    with op.batch_alter_table('ec2_nat_gateways', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_nat_gateways_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_nat_gateways_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_nat_gateways_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_nat_gateways_subnet_id'), ['subnet_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_nat_gateways_vpc_id'), ['vpc_id'], unique=False)

    op.create_table('ec2_network_acl_associations',
    sa.Column('association_id', sa.String(length=32), nullable=False),
    sa.Column('acl_id', sa.String(length=32), nullable=False),
    sa.Column('subnet_id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('association_id', name=op.f('pk_ec2_network_acl_associations')),
    sa.UniqueConstraint('subnet_id', name=op.f('uq_ec2_network_acl_associations_subnet_id'))
    )
    with op.batch_alter_table('ec2_network_acl_associations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_network_acl_associations_acl_id'), ['acl_id'], unique=False)

    op.create_table('ec2_network_acl_entries',
    sa.Column('acl_id', sa.String(length=32), nullable=False),
    sa.Column('egress', sa.Boolean(), nullable=False),
    sa.Column('rule_number', sa.Integer(), nullable=False),
    sa.Column('protocol', sa.String(length=8), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('cidr', sa.String(length=18), nullable=False),
    sa.Column('from_port', sa.Integer(), nullable=True),
    sa.Column('to_port', sa.Integer(), nullable=True),
    sa.Column('icmp_type', sa.Integer(), nullable=True),
    sa.Column('icmp_code', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('acl_id', 'egress', 'rule_number', name=op.f('pk_ec2_network_acl_entries'))
    )
    op.create_table('ec2_network_acls',
    sa.Column('acl_id', sa.String(length=32), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('acl_id', name=op.f('pk_ec2_network_acls'))
    )
    with op.batch_alter_table('ec2_network_acls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_network_acls_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_network_acls_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_network_acls_vpc_id'), ['vpc_id'], unique=False)

    op.create_table('ec2_network_interfaces',
    sa.Column('eni_id', sa.String(length=32), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('subnet_id', sa.String(length=32), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('mac', sa.String(length=17), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('interface_type', sa.String(length=32), nullable=False),
    sa.Column('requester_managed', sa.Boolean(), nullable=False),
    sa.Column('source_dest_check', sa.Boolean(), nullable=False),
    sa.Column('groups', sa.JSON(), nullable=False),
    sa.Column('instance_id', sa.String(length=32), nullable=True),
    sa.Column('instance_owner', sa.String(length=12), nullable=True),
    sa.Column('device_index', sa.Integer(), nullable=True),
    sa.Column('attachment_id', sa.String(length=32), nullable=True),
    sa.Column('attach_status', sa.String(length=16), nullable=True),
    sa.Column('delete_on_termination', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('eni_id', name=op.f('pk_ec2_network_interfaces')),
    sa.UniqueConstraint('mac', name=op.f('uq_ec2_network_interfaces_mac'))
    )
    with op.batch_alter_table('ec2_network_interfaces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_network_interfaces_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_network_interfaces_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_network_interfaces_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_network_interfaces_subnet_id'), ['subnet_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_network_interfaces_vpc_id'), ['vpc_id'], unique=False)

    op.create_table('ec2_route_table_associations',
    sa.Column('association_id', sa.String(length=32), nullable=False),
    sa.Column('route_table_id', sa.String(length=32), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('subnet_id', sa.String(length=32), nullable=True),
    sa.Column('main', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('association_id', name=op.f('pk_ec2_route_table_associations')),
    sa.UniqueConstraint('subnet_id', name=op.f('uq_ec2_route_table_associations_subnet_id'))
    )
    with op.batch_alter_table('ec2_route_table_associations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_route_table_associations_route_table_id'), ['route_table_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_route_table_associations_vpc_id'), ['vpc_id'], unique=False)

    op.create_table('ec2_route_tables',
    sa.Column('route_table_id', sa.String(length=32), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('main', sa.Boolean(), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('route_table_id', name=op.f('pk_ec2_route_tables'))
    )
    with op.batch_alter_table('ec2_route_tables', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_route_tables_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_route_tables_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_route_tables_vpc_id'), ['vpc_id'], unique=False)

    op.create_table('ec2_routes',
    sa.Column('route_table_id', sa.String(length=32), nullable=False),
    sa.Column('destination', sa.String(length=18), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('route_table_id', 'destination', name=op.f('pk_ec2_routes'))
    )
    op.create_table('ec2_subnets',
    sa.Column('subnet_id', sa.String(length=32), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('cidr', sa.String(length=18), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('map_public_ip', sa.Boolean(), nullable=False),
    sa.Column('default_for_az', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('subnet_id', name=op.f('pk_ec2_subnets'))
    )
    with op.batch_alter_table('ec2_subnets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_subnets_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_subnets_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_subnets_vpc_id'), ['vpc_id'], unique=False)

    op.create_table('ec2_vpc_accounts',
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('default_created', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'region', name=op.f('pk_ec2_vpc_accounts'))
    )
    op.create_table('ec2_vpc_address_associations',
    sa.Column('allocation_id', sa.String(length=32), nullable=False),
    sa.Column('association_id', sa.String(length=32), nullable=False),
    sa.Column('eni_id', sa.String(length=32), nullable=False),
    sa.Column('private_ip', sa.String(length=15), nullable=False),
    sa.PrimaryKeyConstraint('allocation_id', name=op.f('pk_ec2_vpc_address_associations')),
    sa.UniqueConstraint('association_id', name=op.f('uq_ec2_vpc_address_associations_association_id'))
    )
    with op.batch_alter_table('ec2_vpc_address_associations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_vpc_address_associations_eni_id'), ['eni_id'], unique=False)

    op.create_table('ec2_vpc_cidr_blocks',
    sa.Column('association_id', sa.String(length=48), nullable=False),
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('cidr', sa.String(length=18), nullable=False),
    sa.Column('primary', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('association_id', name=op.f('pk_ec2_vpc_cidr_blocks'))
    )
    with op.batch_alter_table('ec2_vpc_cidr_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_vpc_cidr_blocks_vpc_id'), ['vpc_id'], unique=False)

    op.create_table('ec2_vpc_peering_connections',
    sa.Column('pcx_id', sa.String(length=32), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('requester_account', sa.String(length=12), nullable=False),
    sa.Column('requester_vpc', sa.String(length=32), nullable=False),
    sa.Column('accepter_account', sa.String(length=12), nullable=False),
    sa.Column('accepter_vpc', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pcx_id', name=op.f('pk_ec2_vpc_peering_connections'))
    )
    with op.batch_alter_table('ec2_vpc_peering_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_vpc_peering_connections_accepter_account'), ['accepter_account'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_vpc_peering_connections_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_vpc_peering_connections_requester_account'), ['requester_account'], unique=False)

    op.create_table('ec2_vpc_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('published', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ec2_vpc_state'))
    )
    op.create_table('ec2_vpcs',
    sa.Column('vpc_id', sa.String(length=32), nullable=False),
    sa.Column('cidr', sa.String(length=18), nullable=False),
    sa.Column('vni', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('dhcp_options_id', sa.String(length=32), nullable=False),
    sa.Column('dns_support', sa.Boolean(), nullable=False),
    sa.Column('dns_hostnames', sa.Boolean(), nullable=False),
    sa.Column('tenancy', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('vpc_id', name=op.f('pk_ec2_vpcs')),
    sa.UniqueConstraint('vni', name=op.f('uq_ec2_vpcs_vni'))
    )
    with op.batch_alter_table('ec2_vpcs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_vpcs_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_vpcs_region'), ['region'], unique=False)
    # VPC security groups: a group's VPC, names unique per VPC ("" for EDGE groups)
    with op.batch_alter_table('ec2_security_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vpc_id', sa.String(length=32), server_default='',
                                      nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_ec2_security_groups_account_id'),
                                 type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_ec2_security_groups_account_id'),
                                          ['account_id', 'region', 'vpc_id', 'name'])


def downgrade() -> None:
    with op.batch_alter_table('ec2_security_groups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_ec2_security_groups_account_id'),
                                 type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_ec2_security_groups_account_id'),
                                          ['account_id', 'region', 'name'])
        batch_op.drop_column('vpc_id')
    with op.batch_alter_table('ec2_vpcs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_vpcs_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_vpcs_account_id'))

    op.drop_table('ec2_vpcs')
    op.drop_table('ec2_vpc_state')
    with op.batch_alter_table('ec2_vpc_peering_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_vpc_peering_connections_requester_account'))
        batch_op.drop_index(batch_op.f('ix_ec2_vpc_peering_connections_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_vpc_peering_connections_accepter_account'))

    op.drop_table('ec2_vpc_peering_connections')
    with op.batch_alter_table('ec2_vpc_cidr_blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_vpc_cidr_blocks_vpc_id'))

    op.drop_table('ec2_vpc_cidr_blocks')
    with op.batch_alter_table('ec2_vpc_address_associations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_vpc_address_associations_eni_id'))

    op.drop_table('ec2_vpc_address_associations')
    op.drop_table('ec2_vpc_accounts')
    with op.batch_alter_table('ec2_subnets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_subnets_vpc_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_subnets_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_subnets_account_id'))

    op.drop_table('ec2_subnets')
    op.drop_table('ec2_routes')
    with op.batch_alter_table('ec2_route_tables', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_route_tables_vpc_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_route_tables_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_route_tables_account_id'))

    op.drop_table('ec2_route_tables')
    with op.batch_alter_table('ec2_route_table_associations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_route_table_associations_vpc_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_route_table_associations_route_table_id'))

    op.drop_table('ec2_route_table_associations')
    with op.batch_alter_table('ec2_network_interfaces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_network_interfaces_vpc_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_network_interfaces_subnet_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_network_interfaces_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_network_interfaces_instance_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_network_interfaces_account_id'))

    op.drop_table('ec2_network_interfaces')
    with op.batch_alter_table('ec2_network_acls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_network_acls_vpc_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_network_acls_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_network_acls_account_id'))

    op.drop_table('ec2_network_acls')
    op.drop_table('ec2_network_acl_entries')
    with op.batch_alter_table('ec2_network_acl_associations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_network_acl_associations_acl_id'))

    op.drop_table('ec2_network_acl_associations')
    with op.batch_alter_table('ec2_nat_gateways', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_nat_gateways_vpc_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_nat_gateways_subnet_id'))
        batch_op.drop_index(batch_op.f('ix_ec2_nat_gateways_state'))
        batch_op.drop_index(batch_op.f('ix_ec2_nat_gateways_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_nat_gateways_account_id'))

    op.drop_table('ec2_nat_gateways')
    with op.batch_alter_table('ec2_internet_gateways', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_internet_gateways_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_internet_gateways_account_id'))

    op.drop_table('ec2_internet_gateways')
    with op.batch_alter_table('ec2_eni_private_ips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_eni_private_ips_subnet_id'))

    op.drop_table('ec2_eni_private_ips')
    with op.batch_alter_table('ec2_dhcp_options', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_dhcp_options_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_dhcp_options_account_id'))

    op.drop_table('ec2_dhcp_options')
