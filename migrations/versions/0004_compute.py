"""compute: tags, key pairs, instance types, nodes, images, instances

Revision ID: 0004_compute
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_compute"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ec2_tags',
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'region', 'resource_id', 'key', name=op.f('pk_ec2_tags'))
    )
    op.create_index(op.f('ix_ec2_tags_resource_type'), 'ec2_tags', ['resource_type'], unique=False)
    op.create_table('ec2_key_pairs',
    sa.Column('key_pair_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key_type', sa.String(length=16), nullable=False),
    sa.Column('fingerprint', sa.String(length=128), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key_pair_id', name=op.f('pk_ec2_key_pairs')),
    sa.UniqueConstraint('account_id', 'region', 'name', name=op.f('uq_ec2_key_pairs_account_id'))
    )
    op.create_index(op.f('ix_ec2_key_pairs_account_id'), 'ec2_key_pairs', ['account_id'], unique=False)
    op.create_index(op.f('ix_ec2_key_pairs_region'), 'ec2_key_pairs', ['region'], unique=False)
    op.create_table('ec2_instance_types',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('cpu', sa.Integer(), nullable=False),
    sa.Column('memory_mib', sa.Integer(), nullable=False),
    sa.Column('disk_gib', sa.Integer(), nullable=False),
    sa.Column('legacy', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_ec2_instance_types'))
    )
    op.create_table('cloud_nodes',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('cores', sa.Integer(), nullable=False),
    sa.Column('memory_mib', sa.Integer(), nullable=False),
    sa.Column('disk_gib', sa.Integer(), nullable=False),
    sa.Column('virt_type', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_heartbeat', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cloud_nodes'))
    )
    op.create_index(op.f('ix_cloud_nodes_zone'), 'cloud_nodes', ['zone'], unique=False)
    op.create_table('ec2_images',
    sa.Column('image_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('architecture', sa.String(length=16), nullable=False),
    sa.Column('kernel_id', sa.String(length=32), nullable=True),
    sa.Column('ramdisk_id', sa.String(length=32), nullable=True),
    sa.Column('root_device_type', sa.String(length=16), nullable=False),
    sa.Column('root_device_name', sa.String(length=32), nullable=False),
    sa.Column('virtualization_type', sa.String(length=16), nullable=False),
    sa.Column('block_device_mappings', sa.JSON(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('image_id', name=op.f('pk_ec2_images'))
    )
    op.create_index(op.f('ix_ec2_images_account_id'), 'ec2_images', ['account_id'], unique=False)
    op.create_index(op.f('ix_ec2_images_region'), 'ec2_images', ['region'], unique=False)
    op.create_table('ec2_image_launch_permissions',
    sa.Column('image_id', sa.String(length=32), nullable=False),
    sa.Column('grantee', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('image_id', 'grantee', name=op.f('pk_ec2_image_launch_permissions'))
    )
    op.create_table('ec2_instances',
    sa.Column('instance_id', sa.String(length=32), nullable=False),
    sa.Column('reservation_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=12), nullable=False),
    sa.Column('requester_arn', sa.String(length=255), nullable=False),
    sa.Column('image_id', sa.String(length=32), nullable=False),
    sa.Column('kernel_id', sa.String(length=32), nullable=True),
    sa.Column('ramdisk_id', sa.String(length=32), nullable=True),
    sa.Column('instance_type', sa.String(length=32), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('memory_mib', sa.Integer(), nullable=False),
    sa.Column('key_name', sa.String(length=255), nullable=True),
    sa.Column('public_key', sa.Text(), nullable=True),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=128), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('state_reason_code', sa.String(length=64), nullable=False),
    sa.Column('state_reason_message', sa.String(length=255), nullable=False),
    sa.Column('transition_reason', sa.String(length=255), nullable=False),
    sa.Column('reboot_requested', sa.Boolean(), nullable=False),
    sa.Column('private_ip', sa.String(length=45), nullable=True),
    sa.Column('public_ip', sa.String(length=45), nullable=True),
    sa.Column('mac', sa.String(length=17), nullable=False),
    sa.Column('launch_index', sa.Integer(), nullable=False),
    sa.Column('launch_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_token', sa.String(length=64), nullable=True),
    sa.Column('user_data', sa.Text(), nullable=False),
    sa.Column('security_group_ids', sa.JSON(), nullable=False),
    sa.Column('security_group_names', sa.JSON(), nullable=False),
    sa.Column('iam_instance_profile', sa.JSON(), nullable=True),
    sa.Column('block_device_mappings', sa.JSON(), nullable=False),
    sa.Column('root_device_type', sa.String(length=16), nullable=False),
    sa.Column('root_device_name', sa.String(length=32), nullable=False),
    sa.Column('disable_api_termination', sa.Boolean(), nullable=False),
    sa.Column('shutdown_behavior', sa.String(length=16), nullable=False),
    sa.Column('http_tokens', sa.String(length=16), nullable=False),
    sa.Column('http_endpoint', sa.String(length=16), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('observed_power', sa.String(length=16), nullable=False),
    sa.Column('last_error', sa.String(length=512), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('terminated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('instance_id', name=op.f('pk_ec2_instances'))
    )
    op.create_index(op.f('ix_ec2_instances_account_id'), 'ec2_instances', ['account_id'], unique=False)
    op.create_index(op.f('ix_ec2_instances_client_token'), 'ec2_instances', ['client_token'], unique=False)
    op.create_index(op.f('ix_ec2_instances_node'), 'ec2_instances', ['node'], unique=False)
    op.create_index(op.f('ix_ec2_instances_private_ip'), 'ec2_instances', ['private_ip'], unique=False)
    op.create_index(op.f('ix_ec2_instances_region'), 'ec2_instances', ['region'], unique=False)
    op.create_index(op.f('ix_ec2_instances_reservation_id'), 'ec2_instances', ['reservation_id'], unique=False)
    op.create_index(op.f('ix_ec2_instances_state'), 'ec2_instances', ['state'], unique=False)


def downgrade() -> None:
    op.drop_table('ec2_instances')
    op.drop_table('ec2_image_launch_permissions')
    op.drop_table('ec2_images')
    op.drop_table('cloud_nodes')
    op.drop_table('ec2_instance_types')
    op.drop_table('ec2_key_pairs')
    op.drop_table('ec2_tags')
