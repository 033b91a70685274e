"""Drop two indexes on acct_feedback that others already cover: one fewer B-tree written per stored item.

`ix_acct_feedback_customer_id` (customer_id) is the leading column of `ix_acct_feedback_customer_occurred`, and
`ix_acct_feedback_occurred_at` (occurred_at) of `ix_acct_feedback_occurred_id` and `ix_acct_feedback_window`: a
query that could use either can use the longer one. Every stored item updated sixteen B-trees; at 2,000 items a
second the writes of indexes are most of what storing costs (docs/performance.md).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_acct_feedback_customer_id", table_name="acct_feedback")
    op.drop_index("ix_acct_feedback_occurred_at", table_name="acct_feedback")


def downgrade() -> None:
    op.create_index("ix_acct_feedback_occurred_at", "acct_feedback", ["occurred_at"])
    op.create_index("ix_acct_feedback_customer_id", "acct_feedback", ["customer_id"])
