"""s3: buckets, object versions, multipart uploads and parts

Revision ID: 0003_s3
Revises: 0001
Create Date: 2026-11-21 00:52:28.232503
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_s3'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('s3_buckets',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('versioning', sa.String(length=16), nullable=False),
    sa.Column('acl', sa.Text(), nullable=False),
    sa.Column('policy', sa.Text(), nullable=True),
    sa.Column('lifecycle', sa.Text(), nullable=True),
    sa.Column('cors', sa.Text(), nullable=True),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('encryption', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_s3_buckets'))
    )
    with op.batch_alter_table('s3_buckets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_s3_buckets_account_id'), ['account_id'], unique=False)

    op.create_table('s3_objects',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bucket', sa.String(length=63), nullable=False),
    sa.Column('key', sa.String(length=1024).with_variant(sa.String(length=1024, collation='C'), 'postgresql'), nullable=False),
    sa.Column('version_id', sa.String(length=64), nullable=False),
    sa.Column('latest', sa.Boolean(), nullable=True),
    sa.Column('delete_marker', sa.Boolean(), nullable=False),
    sa.Column('blob_id', sa.String(length=200), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('etag', sa.String(length=80), nullable=False),
    sa.Column('last_modified', sa.DateTime(timezone=True), nullable=False),
    sa.Column('owner_account', sa.String(length=12), nullable=False),
    sa.Column('storage_class', sa.String(length=32), nullable=False),
    sa.Column('headers', sa.Text(), nullable=False),
    sa.Column('acl', sa.Text(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('sse_key', sa.Text(), nullable=True),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_s3_objects')),
    sa.UniqueConstraint('bucket', 'key', 'latest', name='uq_s3_objects_latest'),
    sa.UniqueConstraint('bucket', 'key', 'version_id', name='uq_s3_objects_version')
    )
    op.create_table('s3_parts',
    sa.Column('upload_id', sa.String(length=64), nullable=False),
    sa.Column('part_number', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('etag', sa.String(length=80), nullable=False),
    sa.Column('last_modified', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('upload_id', 'part_number', name=op.f('pk_s3_parts'))
    )
    op.create_table('s3_uploads',
    sa.Column('upload_id', sa.String(length=64), nullable=False),
    sa.Column('bucket', sa.String(length=63), nullable=False),
    sa.Column('key', sa.String(length=1024).with_variant(sa.String(length=1024, collation='C'), 'postgresql'), nullable=False),
    sa.Column('account_id', sa.String(length=12), nullable=False),
    sa.Column('initiated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('storage_class', sa.String(length=32), nullable=False),
    sa.Column('headers', sa.Text(), nullable=False),
    sa.Column('acl', sa.Text(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('sse', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('upload_id', name=op.f('pk_s3_uploads'))
    )
    with op.batch_alter_table('s3_uploads', schema=None) as batch_op:
        batch_op.create_index('ix_s3_uploads_bucket_key', ['bucket', 'key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('s3_uploads', schema=None) as batch_op:
        batch_op.drop_index('ix_s3_uploads_bucket_key')

    op.drop_table('s3_uploads')
    op.drop_table('s3_parts')
    op.drop_table('s3_objects')
    with op.batch_alter_table('s3_buckets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_s3_buckets_account_id'))

    op.drop_table('s3_buckets')
