"""empyrean: the service registry (cloud hosts) and controller leadership terms

Revision ID: 0026_service_registry
Revises: 0025_cfn_drift_nested
Create Date: 2026-12-05 03:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0026_service_registry'
down_revision = '0025_cfn_drift_nested'
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('service_hosts',
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('endpoint', sa.String(length=512), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('controllers', sa.JSON(), nullable=False),
    sa.Column('leading', sa.JSON(), nullable=False),
    sa.Column('heartbeat', _TS, nullable=False),
    sa.Column('started_at', _TS, nullable=False),
    sa.PrimaryKeyConstraint('host', name=op.f('pk_service_hosts'))
    )
    op.create_table('leader_terms',
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('since', _TS, nullable=False),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_leader_terms'))
    )


def downgrade() -> None:
    op.drop_table('leader_terms')
    op.drop_table('service_hosts')
