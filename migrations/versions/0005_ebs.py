"""ebs: volumes, snapshots, snapshot create-volume permissions

Revision ID: 0005_ebs
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_ebs"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ebs_volumes',
        sa.Column('volume_id', sa.String(length=32), nullable=False),
        sa.Column('zone', sa.String(length=64), nullable=False),
        sa.Column('backend', sa.String(length=16), nullable=False),
        sa.Column('size_gib', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=32), nullable=True),
        sa.Column('volume_type', sa.String(length=16), nullable=False),
        sa.Column('iops', sa.Integer(), nullable=True),
        sa.Column('throughput', sa.Integer(), nullable=True),
        sa.Column('encrypted', sa.Boolean(), nullable=False),
        sa.Column('kms_key_id', sa.String(length=256), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('status_message', sa.Text(), nullable=True),
        sa.Column('client_token', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('instance_id', sa.String(length=32), nullable=True),
        sa.Column('device', sa.String(length=64), nullable=True),
        sa.Column('attach_state', sa.String(length=16), nullable=True),
        sa.Column('attach_time', sa.DateTime(timezone=True), nullable=True),
        sa.Column('delete_on_termination', sa.Boolean(), nullable=False),
        sa.Column('boot', sa.Boolean(), nullable=False),
        sa.Column('mod_state', sa.String(length=16), nullable=True),
        sa.Column('mod_message', sa.Text(), nullable=True),
        sa.Column('mod_original_size', sa.Integer(), nullable=True),
        sa.Column('mod_target_size', sa.Integer(), nullable=True),
        sa.Column('mod_original_type', sa.String(length=16), nullable=True),
        sa.Column('mod_target_type', sa.String(length=16), nullable=True),
        sa.Column('mod_original_iops', sa.Integer(), nullable=True),
        sa.Column('mod_target_iops', sa.Integer(), nullable=True),
        sa.Column('mod_start', sa.DateTime(timezone=True), nullable=True),
        sa.Column('mod_end', sa.DateTime(timezone=True), nullable=True),
        sa.Column('account_id', sa.String(length=12), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('volume_id', name=op.f('pk_ebs_volumes')),
        sa.UniqueConstraint('account_id', 'client_token', name=op.f('uq_ebs_volumes_account_id')),
    )
    with op.batch_alter_table('ebs_volumes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ebs_volumes_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_volumes_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_volumes_mod_state'), ['mod_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_volumes_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_volumes_snapshot_id'), ['snapshot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_volumes_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_volumes_zone'), ['zone'], unique=False)

    op.create_table(
        'ebs_snapshots',
        sa.Column('snapshot_id', sa.String(length=32), nullable=False),
        sa.Column('zone', sa.String(length=64), nullable=False),
        sa.Column('backend', sa.String(length=16), nullable=False),
        sa.Column('volume_id', sa.String(length=32), nullable=False),
        sa.Column('source_snapshot_id', sa.String(length=32), nullable=True),
        sa.Column('volume_size', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('status_message', sa.Text(), nullable=True),
        sa.Column('progress', sa.Integer(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('encrypted', sa.Boolean(), nullable=False),
        sa.Column('kms_key_id', sa.String(length=256), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('account_id', sa.String(length=12), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('snapshot_id', name=op.f('pk_ebs_snapshots')),
    )
    with op.batch_alter_table('ebs_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ebs_snapshots_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_snapshots_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_snapshots_source_snapshot_id'), ['source_snapshot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_snapshots_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_snapshots_volume_id'), ['volume_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ebs_snapshots_zone'), ['zone'], unique=False)

    op.create_table(
        'ebs_snapshot_permissions',
        sa.Column('snapshot_id', sa.String(length=32), nullable=False),
        sa.Column('grantee', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('snapshot_id', 'grantee', name=op.f('pk_ebs_snapshot_permissions')),
    )
    with op.batch_alter_table('ebs_snapshot_permissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ebs_snapshot_permissions_grantee'), ['grantee'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ebs_snapshot_permissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ebs_snapshot_permissions_grantee'))
    op.drop_table('ebs_snapshot_permissions')
    with op.batch_alter_table('ebs_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ebs_snapshots_account_id'))
        batch_op.drop_index(batch_op.f('ix_ebs_snapshots_region'))
        batch_op.drop_index(batch_op.f('ix_ebs_snapshots_source_snapshot_id'))
        batch_op.drop_index(batch_op.f('ix_ebs_snapshots_state'))
        batch_op.drop_index(batch_op.f('ix_ebs_snapshots_volume_id'))
        batch_op.drop_index(batch_op.f('ix_ebs_snapshots_zone'))
    op.drop_table('ebs_snapshots')
    with op.batch_alter_table('ebs_volumes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ebs_volumes_account_id'))
        batch_op.drop_index(batch_op.f('ix_ebs_volumes_instance_id'))
        batch_op.drop_index(batch_op.f('ix_ebs_volumes_mod_state'))
        batch_op.drop_index(batch_op.f('ix_ebs_volumes_region'))
        batch_op.drop_index(batch_op.f('ix_ebs_volumes_snapshot_id'))
        batch_op.drop_index(batch_op.f('ix_ebs_volumes_state'))
        batch_op.drop_index(batch_op.f('ix_ebs_volumes_zone'))
    op.drop_table('ebs_volumes')
