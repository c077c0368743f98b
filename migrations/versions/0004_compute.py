"""compute: tags, key pairs, instance types, nodes, images, instances

Revision ID: 0004_compute
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_compute"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ec2_tags',
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'region', 'resource_id', 'key', name=op.f('pk_ec2_tags'))
    )
    op.create_index(op.f('ix_ec2_tags_resource_type'), 'ec2_tags', ['resource_type'], unique=False)
    op.create_table('ec2_key_pairs',
    sa.Column('key_pair_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key_type', sa.String(length=16), nullable=False),
    sa.Column('fingerprint', sa.String(length=128), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key_pair_id', name=op.f('pk_ec2_key_pairs')),
    sa.UniqueConstraint('account_id', 'region', 'name', name=op.f('uq_ec2_key_pairs_account_id'))
    )
    op.create_index(op.f('ix_ec2_key_pairs_account_id'), 'ec2_key_pairs', ['account_id'], unique=False)
    op.create_index(op.f('ix_ec2_key_pairs_region'), 'ec2_key_pairs', ['region'], unique=False)


def downgrade() -> None:
    op.drop_table('ec2_key_pairs')
    op.drop_table('ec2_tags')
