"""autoscaling: launch configurations, groups, their instances (launch intent with
client tokens), activities, policies, scheduled actions, lifecycle hooks

Revision ID: 0020_autoscaling
Revises: 0018_cloudformation
Create Date: 2026-12-05 00:33:48
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020_autoscaling'
down_revision = '0018_cloudformation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('as_activities',
    sa.Column('activity_id', sa.String(length=64), nullable=False),
    sa.Column('group_name', sa.String(length=255), nullable=False),
    sa.Column('group_arn', sa.String(length=1600), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.Column('status_code', sa.String(length=32), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('activity_id', name=op.f('pk_as_activities'))
    )
    with op.batch_alter_table('as_activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_as_activities_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_as_activities_group', ['account_id', 'region', 'group_name', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_as_activities_region'), ['region'], unique=False)

    op.create_table('as_groups',
    sa.Column('arn', sa.String(length=1600), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('min_size', sa.Integer(), nullable=False),
    sa.Column('max_size', sa.Integer(), nullable=False),
    sa.Column('desired', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('force_delete', sa.Boolean(), nullable=False),
    sa.Column('cooldown_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('arn', name=op.f('pk_as_groups')),
    sa.UniqueConstraint('account_id', 'region', 'name', name=op.f('uq_as_groups_account_id'))
    )
    with op.batch_alter_table('as_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_as_groups_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_as_groups_region'), ['region'], unique=False)

    op.create_table('as_instances',
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('group_arn', sa.String(length=1600), nullable=False),
    sa.Column('group_name', sa.String(length=255), nullable=False),
    sa.Column('instance_id', sa.String(length=32), nullable=True),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('instance_type', sa.String(length=64), nullable=False),
    sa.Column('lifecycle_state', sa.String(length=32), nullable=False),
    sa.Column('health', sa.String(length=16), nullable=False),
    sa.Column('protected', sa.Boolean(), nullable=False),
    sa.Column('launch_source', sa.Text(), nullable=False),
    sa.Column('activity_id', sa.String(length=64), nullable=False),
    sa.Column('hook_deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hook_result', sa.String(length=16), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_as_instances')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_as_instances_instance_id'))
    )
    with op.batch_alter_table('as_instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_as_instances_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_as_instances_group', ['group_arn'], unique=False)
        batch_op.create_index(batch_op.f('ix_as_instances_region'), ['region'], unique=False)

    op.create_table('as_launch_configurations',
    sa.Column('arn', sa.String(length=1600), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('arn', name=op.f('pk_as_launch_configurations')),
    sa.UniqueConstraint('account_id', 'region', 'name', name=op.f('uq_as_launch_configurations_account_id'))
    )
    with op.batch_alter_table('as_launch_configurations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_as_launch_configurations_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_as_launch_configurations_region'), ['region'], unique=False)

    op.create_table('as_lifecycle_hooks',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('group_name', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('transition', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_as_lifecycle_hooks')),
    sa.UniqueConstraint('account_id', 'region', 'group_name', 'name', name=op.f('uq_as_lifecycle_hooks_account_id'))
    )
    with op.batch_alter_table('as_lifecycle_hooks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_as_lifecycle_hooks_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_as_lifecycle_hooks_region'), ['region'], unique=False)

    op.create_table('as_policies',
    sa.Column('arn', sa.String(length=1600), nullable=False),
    sa.Column('group_name', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('cooldown_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('arn', name=op.f('pk_as_policies')),
    sa.UniqueConstraint('account_id', 'region', 'group_name', 'name', name=op.f('uq_as_policies_account_id'))
    )
    with op.batch_alter_table('as_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_as_policies_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_as_policies_region'), ['region'], unique=False)

    op.create_table('as_scheduled_actions',
    sa.Column('arn', sa.String(length=1600), nullable=False),
    sa.Column('group_name', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('next_run', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('arn', name=op.f('pk_as_scheduled_actions')),
    sa.UniqueConstraint('account_id', 'region', 'group_name', 'name', name=op.f('uq_as_scheduled_actions_account_id'))
    )
    with op.batch_alter_table('as_scheduled_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_as_scheduled_actions_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_as_scheduled_actions_region'), ['region'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('as_scheduled_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_as_scheduled_actions_region'))
        batch_op.drop_index(batch_op.f('ix_as_scheduled_actions_account_id'))

    op.drop_table('as_scheduled_actions')
    with op.batch_alter_table('as_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_as_policies_region'))
        batch_op.drop_index(batch_op.f('ix_as_policies_account_id'))

    op.drop_table('as_policies')
    with op.batch_alter_table('as_lifecycle_hooks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_as_lifecycle_hooks_region'))
        batch_op.drop_index(batch_op.f('ix_as_lifecycle_hooks_account_id'))

    op.drop_table('as_lifecycle_hooks')
    with op.batch_alter_table('as_launch_configurations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_as_launch_configurations_region'))
        batch_op.drop_index(batch_op.f('ix_as_launch_configurations_account_id'))

    op.drop_table('as_launch_configurations')
    with op.batch_alter_table('as_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_as_instances_region'))
        batch_op.drop_index('ix_as_instances_group')
        batch_op.drop_index(batch_op.f('ix_as_instances_account_id'))

    op.drop_table('as_instances')
    with op.batch_alter_table('as_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_as_groups_region'))
        batch_op.drop_index(batch_op.f('ix_as_groups_account_id'))

    op.drop_table('as_groups')
    with op.batch_alter_table('as_activities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_as_activities_region'))
        batch_op.drop_index('ix_as_activities_group')
        batch_op.drop_index(batch_op.f('ix_as_activities_account_id'))

    op.drop_table('as_activities')
