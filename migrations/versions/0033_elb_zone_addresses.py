"""elb: addresses of a load balancer's per-zone haproxy nodes outside a VPC
(elb_load_balancers.zone_addresses)

Revision ID: 0033_elb_zone_addresses
Revises: 0023_cloudwatch_blocks
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0033_elb_zone_addresses'
down_revision = '0023_cloudwatch_blocks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('elb_load_balancers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zone_addresses', sa.JSON(), nullable=False,
                                      server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('elb_load_balancers', schema=None) as batch_op:
        batch_op.drop_column('zone_addresses')
