"""elb: classic load balancers

Revision ID: 0019_elb
Revises: 0021_ec2_launch_templates
Create Date: 2026-12-05 00:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019_elb'
down_revision = '0021_ec2_launch_templates'
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'elb_load_balancers',
        sa.Column('lb_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('scheme', sa.String(length=16), nullable=False),
        sa.Column('address', sa.String(length=45), nullable=True),
        sa.Column('public_address', sa.String(length=45), nullable=True),
        sa.Column('zones', sa.JSON(), nullable=False),
        sa.Column('subnets', sa.JSON(), nullable=False),
        sa.Column('security_groups', sa.JSON(), nullable=False),
        sa.Column('listeners', sa.JSON(), nullable=False),
        sa.Column('health_check', sa.JSON(), nullable=False),
        sa.Column('attributes', sa.JSON(), nullable=False),
        sa.Column('policies', sa.JSON(), nullable=False),
        sa.Column('backend_policies', sa.JSON(), nullable=False),
        sa.Column('instances', sa.JSON(), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('updated_at', _TS, nullable=False),
        sa.Column('account_id', sa.String(length=12), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('lb_id'),
        sa.UniqueConstraint('account_id', 'region', 'name',
                            name='uq_elb_load_balancers_name'),
    )
    op.create_index(op.f('ix_elb_load_balancers_account_id'), 'elb_load_balancers',
                    ['account_id'], unique=False)
    op.create_index(op.f('ix_elb_load_balancers_region'), 'elb_load_balancers',
                    ['region'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_elb_load_balancers_region'), table_name='elb_load_balancers')
    op.drop_index(op.f('ix_elb_load_balancers_account_id'), table_name='elb_load_balancers')
    op.drop_table('elb_load_balancers')
