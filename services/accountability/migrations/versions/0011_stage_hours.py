"""Hourly roll-ups beside the per-minute ones, and an index on the minute: a long window reads hours.

A 30-day board or scorecard summed 43,200 minute buckets per stage (every stage's, since the key starts with the
stage): 190 ms among 1,000,000 items on PostgreSQL. Filled from the minute buckets already stored.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FIGURES: dict[str, Any] = {
    "volume": sa.Integer(), "negative": sa.Integer(), "sentiment_sum": sa.Float(), "csat_sum": sa.Float(),
    "csat_n": sa.Integer(), "ces_sum": sa.Float(), "ces_n": sa.Integer(), "nps_n": sa.Integer(),
    "promoters": sa.Integer(), "detractors": sa.Integer(), "contacts": sa.Integer(), "wait_sum": sa.Float(),
    "wait_n": sa.Integer(), "handle_sum": sa.Float(), "handle_n": sa.Integer(), "hold_sum": sa.Float(),
    "hold_n": sa.Integer(), "transfers_sum": sa.Float(), "transfers_n": sa.Integer(),
}  # fmt: skip


def upgrade() -> None:
    op.create_index("ix_acct_stage_minutes_minute", "acct_stage_minutes", ["minute"])
    op.create_table(
        "acct_stage_hours",
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        *[sa.Column(name, kind, nullable=False) for name, kind in FIGURES.items()],
        sa.PrimaryKeyConstraint("stage", "hour"),
    )
    op.create_index("ix_acct_stage_hours_hour", "acct_stage_hours", ["hour"])
    from services.accountability.rollup import rebuild_hours

    with Session(bind=op.get_bind()) as session:
        rebuild_hours(session=session)
        session.flush()


def downgrade() -> None:
    op.drop_table("acct_stage_hours")
    op.drop_index("ix_acct_stage_minutes_minute", table_name="acct_stage_minutes")
