"""Alerts wait for verification after a person resolves them: `acct_alerts.status` holds
`resolved_pending_verification` (29 characters), so the column grows from 20 to 40.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acct_alerts") as table:  # SQLite rebuilds the table; PostgreSQL alters the column
        table.alter_column("status", type_=sa.String(length=40), existing_type=sa.String(length=20))


def downgrade() -> None:
    with op.batch_alter_table("acct_alerts") as table:
        table.alter_column("status", type_=sa.String(length=20), existing_type=sa.String(length=40))
