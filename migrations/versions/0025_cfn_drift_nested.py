"""cloudformation: drift detections, nested stacks (parent/root), the policy during an update

Revision ID: 0025_cfn_drift_nested
Revises: 0019_elb
Create Date: 2026-12-05 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025_cfn_drift_nested'
down_revision = '0019_elb'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cfn_drift_detections',
    sa.Column('detection_id', sa.String(length=64), nullable=False),
    sa.Column('stack_id', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('stack_drift_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('drifted', sa.Integer(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('detection_id', name=op.f('pk_cfn_drift_detections'))
    )
    with op.batch_alter_table('cfn_drift_detections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cfn_drift_detections_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_drift_detections_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_drift_detections_stack_id'), ['stack_id'], unique=False)

    with op.batch_alter_table('cfn_stacks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('root_id', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('policy_during_update', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('drift_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('drift_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_cfn_stacks_parent_id'), ['parent_id'], unique=False)

    with op.batch_alter_table('cfn_stack_resources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drift_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('drift_checked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cfn_stack_resources', schema=None) as batch_op:
        batch_op.drop_column('drift_checked_at')
        batch_op.drop_column('drift_status')

    with op.batch_alter_table('cfn_stacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cfn_stacks_parent_id'))
        batch_op.drop_column('drift_checked_at')
        batch_op.drop_column('drift_status')
        batch_op.drop_column('policy_during_update')
        batch_op.drop_column('root_id')
        batch_op.drop_column('parent_id')

    with op.batch_alter_table('cfn_drift_detections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cfn_drift_detections_stack_id'))
        batch_op.drop_index(batch_op.f('ix_cfn_drift_detections_region'))
        batch_op.drop_index(batch_op.f('ix_cfn_drift_detections_account_id'))

    op.drop_table('cfn_drift_detections')
