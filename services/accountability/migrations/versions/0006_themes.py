"""Themes within a stage: item memberships, hourly theme figures, ranked snapshots and the job's progress.

The tables start empty: the theme job (services/accountability/themes.py) reads the stored feedback from its
watermark, so after this migration its first runs count the items already stored.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_acct_feedback_stored_id", "acct_feedback", ["stored_at", "id"], unique=False)
    op.create_index("ix_acct_feedback_corrected_id", "acct_feedback", ["corrected_at", "id"], unique=False)
    op.create_table(
        "acct_theme_items",
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("theme", sa.String(length=100), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("item_id", "theme"),
    )
    op.create_index(
        "ix_acct_theme_items_stage_theme_occurred",
        "acct_theme_items",
        ["stage", "theme", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "acct_theme_hours",
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("theme", sa.String(length=100), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("nps_n", sa.Integer(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.Column("csat_sum", sa.Float(), nullable=False),
        sa.Column("csat_n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stage", "theme", "hour"),
    )
    op.create_table(
        "acct_theme_snapshots",
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("window", sa.String(length=10), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("stage", "window"),
    )
    op.create_table(
        "acct_theme_progress",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("corrected_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("acct_theme_progress")
    op.drop_table("acct_theme_snapshots")
    op.drop_table("acct_theme_hours")
    op.drop_index("ix_acct_theme_items_stage_theme_occurred", table_name="acct_theme_items")
    op.drop_table("acct_theme_items")
    op.drop_index("ix_acct_feedback_corrected_id", table_name="acct_feedback")
    op.drop_index("ix_acct_feedback_stored_id", table_name="acct_feedback")
