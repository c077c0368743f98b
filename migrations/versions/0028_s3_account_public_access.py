"""s3: account-level Block Public Access (s3control PutPublicAccessBlock)

Revision ID: 0028_s3_account_public_access
Revises: 0026_service_registry
Create Date: 2026-12-05 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0028_s3_account_public_access'
down_revision = '0026_service_registry'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('s3_account_public_access',
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('settings', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_s3_account_public_access'))
    )


def downgrade() -> None:
    op.drop_table('s3_account_public_access')
