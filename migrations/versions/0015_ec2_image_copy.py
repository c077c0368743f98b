"""ec2: CopyImage (the source image and the ClientToken of a copy)

Revision ID: 0015_ec2_image_copy
Revises: 0014_iam_mfa_federation
Create Date: 2026-12-04 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015_ec2_image_copy'
down_revision = '0014_iam_mfa_federation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ec2_images') as batch:
        batch.add_column(sa.Column('source_image_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('client_token', sa.String(length=64), nullable=True))
    op.create_index('ix_ec2_images_client_token', 'ec2_images', ['client_token'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ec2_images_client_token', table_name='ec2_images')
    with op.batch_alter_table('ec2_images') as batch:
        batch.drop_column('client_token')
        batch.drop_column('source_image_id')
