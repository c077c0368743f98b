"""merge: the per-area branches (iam, s3, compute, ebs, network) joined into one head

Revision ID: 0008_merge
Revises: 0002_iam, 0004_compute, 0005_ebs, 0006_network, 0007_s3_inline
Create Date: 2026-12-04 20:40:00
"""

from __future__ import annotations

revision = '0008_merge'
down_revision = ('0002_iam', '0004_compute', '0005_ebs', '0006_network', '0007_s3_inline')
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the revision only joins the branches."""


def downgrade() -> None:
    """Nothing to change: the revision only joins the branches."""
