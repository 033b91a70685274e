"""Operational figures of contact records in the per-minute roll-ups: how many contacts reported any, and the sum
and count of their wait, handle and hold times and transfers (read from the items' metadata, see `rollup`).

The new columns start at 0; the roll-ups are then recounted from the feedback already stored, so contacts stored
before this migration count too.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "acct_stage_minutes"
# The columns of 0003, then the ones added here (what `rebuild` may fill at this revision).
EARLIER = [
    "volume", "negative", "sentiment_sum", "csat_sum", "csat_n", "ces_sum", "ces_n", "nps_n", "promoters", "detractors",
]  # fmt: skip
# Sums are floats (seconds; transfers too, like the score sums), counts integers.
ADDED = [
    "contacts",
    "wait_sum",
    "wait_n",
    "handle_sum",
    "handle_n",
    "hold_sum",
    "hold_n",
    "transfers_sum",
    "transfers_n",
]


def upgrade() -> None:
    for name in ADDED:
        kind = sa.Float() if name.endswith("_sum") else sa.Integer()
        op.add_column(TABLE, sa.Column(name, kind, nullable=False, server_default="0"))
    from services.accountability.rollup import rebuild

    with Session(bind=op.get_bind()) as session:
        rebuild(session=session, counters=EARLIER + ADDED)
        session.flush()


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name in reversed(ADDED):
            batch.drop_column(name)
