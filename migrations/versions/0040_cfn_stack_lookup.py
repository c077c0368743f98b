"""cloudformation: an index on a stack's (account, region, name), the key CreateStack,
DescribeStacks and every by-name call look a stack up by

Without it SQLite (no statistics) read a name lookup through ``ix_cfn_stacks_account_id``
and then every stack of the account to the end of its row (past its template) to
compare the region and name: 1.1-1.3 ms a lookup with 300 stacks of 100 resources in
the account (bench/results/cloudformation.md, session 16).

Revision ID: 0040_cfn_stack_lookup
Revises: 0039_cloudwatch_ingest_log
Create Date: 2026-12-06 18:10:00
"""

from __future__ import annotations

from alembic import op

revision = '0040_cfn_stack_lookup'
down_revision = '0039_cloudwatch_ingest_log'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cfn_stacks_lookup", "cfn_stacks", ["account_id", "region", "name"])


def downgrade() -> None:
    op.drop_index("ix_cfn_stacks_lookup", table_name="cfn_stacks")
