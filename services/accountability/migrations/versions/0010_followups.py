"""Follow-ups: "is it fixed for you?" asked of the customers behind a resolved alert, and their answers.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acct_followups",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_feedback_id", sa.String(length=64), nullable=True),
        sa.Column("agreed", sa.Boolean(), nullable=True),
    )
    for column in ("alert_id", "customer_id", "feedback_id"):
        op.create_index(f"ix_acct_followups_{column}", "acct_followups", [column])


def downgrade() -> None:
    op.drop_table("acct_followups")
