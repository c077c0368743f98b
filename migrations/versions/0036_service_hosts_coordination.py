"""empyrean: each cloud host's view of the ZooKeeper ensemble (service_hosts.coordination)

Revision ID: 0036_service_hosts_coordination
Revises: 0023_cloudwatch_blocks
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0036_service_hosts_coordination'
down_revision = '0033_elb_zone_addresses'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service_hosts') as batch:
        batch.add_column(sa.Column('coordination', sa.String(length=255), nullable=False,
                                   server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('service_hosts') as batch:
        batch.drop_column('coordination')
