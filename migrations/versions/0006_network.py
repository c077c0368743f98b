"""network: security groups, rules, memberships, addresses, instance NICs, view state

Revision ID: 0006_network
Revises: 0001
Create Date: 2026-11-21 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_network'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ec2_security_groups',
        sa.Column('account_id', sa.String(length=12), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ec2_security_groups')),
        sa.UniqueConstraint('account_id', 'region', 'name',
                            name=op.f('uq_ec2_security_groups_account_id')),
    )
    op.create_index(op.f('ix_ec2_security_groups_account_id'), 'ec2_security_groups',
                    ['account_id'])
    op.create_index(op.f('ix_ec2_security_groups_region'), 'ec2_security_groups', ['region'])
    op.create_table(
        'ec2_security_group_rules',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('group_id', sa.String(length=32), nullable=False),
        sa.Column('egress', sa.Boolean(), nullable=False),
        sa.Column('protocol', sa.String(length=8), nullable=False),
        sa.Column('from_port', sa.Integer(), nullable=True),
        sa.Column('to_port', sa.Integer(), nullable=True),
        sa.Column('cidr', sa.String(length=64), nullable=True),
        sa.Column('peer_group_id', sa.String(length=32), nullable=True),
        sa.Column('peer_account', sa.String(length=12), nullable=True),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['ec2_security_groups.id'], ondelete='CASCADE',
                                name=op.f('fk_ec2_security_group_rules_group_id_ec2_security_groups')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ec2_security_group_rules')),
    )
    op.create_index(op.f('ix_ec2_security_group_rules_group_id'), 'ec2_security_group_rules',
                    ['group_id'])
    op.create_index(op.f('ix_ec2_security_group_rules_peer_group_id'),
                    'ec2_security_group_rules', ['peer_group_id'])
    op.create_table(
        'ec2_instance_security_groups',
        sa.Column('instance_id', sa.String(length=32), nullable=False),
        sa.Column('group_id', sa.String(length=32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['ec2_security_groups.id'],
                                name=op.f('fk_ec2_instance_security_groups_group_id_ec2_security_groups')),
        sa.PrimaryKeyConstraint('instance_id', 'group_id',
                                name=op.f('pk_ec2_instance_security_groups')),
    )
    op.create_index(op.f('ix_ec2_instance_security_groups_group_id'),
                    'ec2_instance_security_groups', ['group_id'])
    op.create_table(
        'ec2_addresses',
        sa.Column('public_ip', sa.String(length=15), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('account_id', sa.String(length=12), nullable=True),
        sa.Column('allocation_id', sa.String(length=32), nullable=True),
        sa.Column('instance_id', sa.String(length=32), nullable=True),
        sa.Column('association_id', sa.String(length=32), nullable=True),
        sa.Column('allocated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('public_ip', name=op.f('pk_ec2_addresses')),
        sa.UniqueConstraint('allocation_id', name=op.f('uq_ec2_addresses_allocation_id')),
        sa.UniqueConstraint('instance_id', name=op.f('uq_ec2_addresses_instance_id')),
    )
    op.create_index(op.f('ix_ec2_addresses_region'), 'ec2_addresses', ['region'])
    op.create_index(op.f('ix_ec2_addresses_account_id'), 'ec2_addresses', ['account_id'])
    op.create_table(
        'net_instance_nics',
        sa.Column('account_id', sa.String(length=12), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('instance_id', sa.String(length=32), nullable=False),
        sa.Column('mac', sa.String(length=17), nullable=False),
        sa.Column('private_ip', sa.String(length=15), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('interface', sa.String(length=15), nullable=True),
        sa.PrimaryKeyConstraint('instance_id', name=op.f('pk_net_instance_nics')),
        sa.UniqueConstraint('mac', name=op.f('uq_net_instance_nics_mac')),
        sa.UniqueConstraint('private_ip', name=op.f('uq_net_instance_nics_private_ip')),
    )
    op.create_index(op.f('ix_net_instance_nics_account_id'), 'net_instance_nics', ['account_id'])
    op.create_index(op.f('ix_net_instance_nics_region'), 'net_instance_nics', ['region'])
    state = op.create_table(
        'net_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_net_state')),
    )
    op.bulk_insert(state, [{'id': 1, 'version': 1}])
    op.create_table(
        'net_host_status',
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('desired_version', sa.BigInteger(), nullable=True),
        sa.Column('applied_version', sa.BigInteger(), nullable=True),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('seconds', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('host', name=op.f('pk_net_host_status')),
    )


def downgrade() -> None:
    op.drop_table('net_host_status')
    op.drop_table('net_state')
    op.drop_table('net_instance_nics')
    op.drop_table('ec2_addresses')
    op.drop_table('ec2_instance_security_groups')
    op.drop_table('ec2_security_group_rules')
    op.drop_table('ec2_security_groups')
