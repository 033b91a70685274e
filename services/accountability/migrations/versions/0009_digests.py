"""Weekly digests: `acct_digests` remembers which (audience, ISO week) digest was queued, so a restart or a second
replica never sends the same week's digest twice.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acct_digests",
        sa.Column("audience", sa.String(length=100), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("audience", "week"),
    )


def downgrade() -> None:
    op.drop_table("acct_digests")
