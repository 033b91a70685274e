"""Escalation chains, members, recurring silences and noise control: `acct_teams.members` and `.chain` (JSON),
`acct_silences.rrule`, `.duration_s` and `.reminded_at`, `acct_alerts.inhibited_by` and `.incident_id`.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acct_teams") as table:
        table.add_column(sa.Column("members", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        table.add_column(sa.Column("chain", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("acct_silences") as table:
        table.add_column(sa.Column("rrule", sa.Text(), nullable=True))
        table.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        table.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("acct_alerts") as table:
        table.add_column(sa.Column("inhibited_by", sa.String(length=36), nullable=True))
        table.add_column(sa.Column("incident_id", sa.String(length=36), nullable=True))
        table.create_index("ix_acct_alerts_incident_id", ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("acct_alerts") as table:
        table.drop_index("ix_acct_alerts_incident_id")
        table.drop_column("incident_id")
        table.drop_column("inhibited_by")
    with op.batch_alter_table("acct_silences") as table:
        table.drop_column("reminded_at")
        table.drop_column("duration_s")
        table.drop_column("rrule")
    with op.batch_alter_table("acct_teams") as table:
        table.drop_column("chain")
        table.drop_column("members")
