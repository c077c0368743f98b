"""ec2 launch templates: templates and their versions (RunInstances --launch-template)

Revision ID: 0021_ec2_launch_templates
Revises: 0020_autoscaling
Create Date: 2026-12-05 00:40:06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021_ec2_launch_templates'
down_revision = '0020_autoscaling'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ec2_launch_templates',
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('default_version', sa.Integer(), nullable=False),
    sa.Column('latest_version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=2048), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('template_id', name=op.f('pk_ec2_launch_templates')),
    sa.UniqueConstraint('account_id', 'region', 'name', name=op.f('uq_ec2_launch_templates_account_id'))
    )
    with op.batch_alter_table('ec2_launch_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ec2_launch_templates_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ec2_launch_templates_region'), ['region'], unique=False)

    op.create_table('ec2_launch_template_versions',
    sa.Column('template_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=2048), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('template_id', 'version', name=op.f('pk_ec2_launch_template_versions'))
    )


def downgrade() -> None:
    op.drop_table('ec2_launch_template_versions')
    with op.batch_alter_table('ec2_launch_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ec2_launch_templates_region'))
        batch_op.drop_index(batch_op.f('ix_ec2_launch_templates_account_id'))

    op.drop_table('ec2_launch_templates')
