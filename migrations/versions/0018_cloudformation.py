"""cloudformation: stacks, stack resources, stack events and change sets

Revision ID: 0018_cloudformation
Revises: 0018_ec2_instance_monitoring
Create Date: 2026-12-04 23:49:03.328128
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018_cloudformation'
down_revision = '0018_ec2_instance_monitoring'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cfn_change_sets',
    sa.Column('change_set_id', sa.String(length=256), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('stack_id', sa.String(length=256), nullable=False),
    sa.Column('change_set_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('execution_status', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('template_body', sa.Text(), nullable=False),
    sa.Column('template', sa.JSON(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('capabilities', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('change_set_id', name=op.f('pk_cfn_change_sets'))
    )
    with op.batch_alter_table('cfn_change_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cfn_change_sets_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_change_sets_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_change_sets_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_change_sets_stack_id'), ['stack_id'], unique=False)

    op.create_table('cfn_stack_events',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('stack_id', sa.String(length=256), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('logical_id', sa.String(length=256), nullable=False),
    sa.Column('physical_id', sa.String(length=2048), nullable=True),
    sa.Column('type', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=48), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('properties', sa.Text(), nullable=True),
    sa.Column('request_token', sa.String(length=128), nullable=True),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_cfn_stack_events')),
    sa.UniqueConstraint('stack_id', 'seq', name=op.f('uq_cfn_stack_events_stack_id'))
    )
    with op.batch_alter_table('cfn_stack_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cfn_stack_events_stack_id'), ['stack_id'], unique=False)

    op.create_table('cfn_stack_resources',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('stack_id', sa.String(length=256), nullable=False),
    sa.Column('logical_id', sa.String(length=256), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('type', sa.String(length=256), nullable=False),
    sa.Column('physical_id', sa.String(length=2048), nullable=True),
    sa.Column('status', sa.String(length=48), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('old_properties', sa.JSON(), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('depends', sa.JSON(), nullable=False),
    sa.Column('deletion_policy', sa.String(length=16), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=True),
    sa.Column('signals', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cfn_stack_resources'))
    )
    with op.batch_alter_table('cfn_stack_resources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cfn_stack_resources_stack_id'), ['stack_id'], unique=False)

    op.create_table('cfn_stacks',
    sa.Column('stack_id', sa.String(length=256), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=48), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('operation', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('template_body', sa.Text(), nullable=False),
    sa.Column('template', sa.JSON(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('previous_body', sa.Text(), nullable=True),
    sa.Column('previous_template', sa.JSON(), nullable=True),
    sa.Column('previous_parameters', sa.JSON(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('capabilities', sa.JSON(), nullable=False),
    sa.Column('notification_arns', sa.JSON(), nullable=False),
    sa.Column('outputs', sa.JSON(), nullable=False),
    sa.Column('role_arn', sa.String(length=2048), nullable=True),
    sa.Column('access_key_id', sa.String(length=128), nullable=False),
    sa.Column('on_failure', sa.String(length=16), nullable=False),
    sa.Column('timeout_minutes', sa.Integer(), nullable=True),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('termination_protection', sa.Boolean(), nullable=False),
    sa.Column('stack_policy', sa.Text(), nullable=True),
    sa.Column('retain', sa.JSON(), nullable=False),
    sa.Column('request_token', sa.String(length=128), nullable=True),
    sa.Column('endpoint', sa.String(length=512), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('stack_id', name=op.f('pk_cfn_stacks'))
    )
    with op.batch_alter_table('cfn_stacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cfn_stacks_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_stacks_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_stacks_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_cfn_stacks_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cfn_stacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cfn_stacks_status'))
        batch_op.drop_index(batch_op.f('ix_cfn_stacks_region'))
        batch_op.drop_index(batch_op.f('ix_cfn_stacks_name'))
        batch_op.drop_index(batch_op.f('ix_cfn_stacks_account_id'))

    op.drop_table('cfn_stacks')
    with op.batch_alter_table('cfn_stack_resources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cfn_stack_resources_stack_id'))

    op.drop_table('cfn_stack_resources')
    with op.batch_alter_table('cfn_stack_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cfn_stack_events_stack_id'))

    op.drop_table('cfn_stack_events')
    with op.batch_alter_table('cfn_change_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cfn_change_sets_stack_id'))
        batch_op.drop_index(batch_op.f('ix_cfn_change_sets_region'))
        batch_op.drop_index(batch_op.f('ix_cfn_change_sets_name'))
        batch_op.drop_index(batch_op.f('ix_cfn_change_sets_account_id'))

    op.drop_table('cfn_change_sets')
