"""ec2: detailed monitoring and status checks per instance (ec2_instance_monitoring)

Revision ID: 0018_ec2_instance_monitoring
Revises: 0017_cloudwatch
Create Date: 2026-12-04 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018_ec2_instance_monitoring'
down_revision = '0017_cloudwatch'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ec2_instance_monitoring',
        sa.Column('instance_id', sa.String(length=32), nullable=False),
        sa.Column('detailed', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('instance_check', sa.String(length=16), server_default='', nullable=False),
        sa.Column('system_check', sa.String(length=16), server_default='', nullable=False),
        sa.Column('impaired_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('account_id', sa.String(length=12), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('instance_id'),
    )
    op.create_index('ix_ec2_instance_monitoring_account_id', 'ec2_instance_monitoring',
                    ['account_id'], unique=False)
    op.create_index('ix_ec2_instance_monitoring_region', 'ec2_instance_monitoring',
                    ['region'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ec2_instance_monitoring_region', table_name='ec2_instance_monitoring')
    op.drop_index('ix_ec2_instance_monitoring_account_id', table_name='ec2_instance_monitoring')
    op.drop_table('ec2_instance_monitoring')
