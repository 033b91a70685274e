"""Accountability tables: feedback, ownership, audit log, moments of truth, alerts, silences, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 19:54:29.331096
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acct_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("rule_kind", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("open_key", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_to", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    op.create_index(op.f("ix_acct_alerts_opened_at"), "acct_alerts", ["opened_at"], unique=False)
    op.create_index(op.f("ix_acct_alerts_stage"), "acct_alerts", ["stage"], unique=False)
    op.create_index(op.f("ix_acct_alerts_status"), "acct_alerts", ["status"], unique=False)

    op.create_table(
        "acct_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_acct_audit_log_at"), "acct_audit_log", ["at"], unique=False)

    op.create_table(
        "acct_customer_state",
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("moment_id", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("times", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "moment_id"),
    )
    op.create_table(
        "acct_feedback",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=True),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("original_stage", sa.String(length=64), nullable=True),
        sa.Column("corrected_by", sa.String(length=200), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("sentiment_label", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("ces", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_acct_feedback_customer_id"), "acct_feedback", ["customer_id"], unique=False)
    op.create_index(op.f("ix_acct_feedback_occurred_at"), "acct_feedback", ["occurred_at"], unique=False)
    op.create_index("ix_acct_feedback_stage_occurred", "acct_feedback", ["stage", "occurred_at"], unique=False)

    op.create_table(
        "acct_moments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moment_id", sa.String(length=100), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("feedback_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("moment_id", "feedback_id", name="uq_acct_moments_feedback"),
    )
    op.create_index(op.f("ix_acct_moments_customer_id"), "acct_moments", ["customer_id"], unique=False)
    op.create_index(op.f("ix_acct_moments_moment_id"), "acct_moments", ["moment_id"], unique=False)
    op.create_index(op.f("ix_acct_moments_occurred_at"), "acct_moments", ["occurred_at"], unique=False)

    op.create_table(
        "acct_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=True),
        sa.Column("transition", sa.String(length=30), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("receiver", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("secret", sa.String(length=500), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index(op.f("ix_acct_outbox_alert_id"), "acct_outbox", ["alert_id"], unique=False)
    op.create_index(op.f("ix_acct_outbox_next_attempt_at"), "acct_outbox", ["next_attempt_at"], unique=False)
    op.create_index(op.f("ix_acct_outbox_status"), "acct_outbox", ["status"], unique=False)

    op.create_table(
        "acct_ownership",
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("accountable", sa.String(length=100), nullable=False),
        sa.Column("contributing", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stage"),
    )
    op.create_table(
        "acct_silences",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=True),
        sa.Column("rule_id", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_acct_silences_ends_at"), "acct_silences", ["ends_at"], unique=False)

    op.create_table(
        "acct_teams",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("escalation", sa.String(length=200), nullable=True),
        sa.Column("receivers", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("acct_teams")
    op.drop_index(op.f("ix_acct_silences_ends_at"), table_name="acct_silences")

    op.drop_table("acct_silences")
    op.drop_table("acct_ownership")
    op.drop_index(op.f("ix_acct_outbox_status"), table_name="acct_outbox")
    op.drop_index(op.f("ix_acct_outbox_next_attempt_at"), table_name="acct_outbox")
    op.drop_index(op.f("ix_acct_outbox_alert_id"), table_name="acct_outbox")

    op.drop_table("acct_outbox")
    op.drop_index(op.f("ix_acct_moments_occurred_at"), table_name="acct_moments")
    op.drop_index(op.f("ix_acct_moments_moment_id"), table_name="acct_moments")
    op.drop_index(op.f("ix_acct_moments_customer_id"), table_name="acct_moments")

    op.drop_table("acct_moments")
    op.drop_index("ix_acct_feedback_stage_occurred", table_name="acct_feedback")
    op.drop_index(op.f("ix_acct_feedback_occurred_at"), table_name="acct_feedback")
    op.drop_index(op.f("ix_acct_feedback_customer_id"), table_name="acct_feedback")

    op.drop_table("acct_feedback")
    op.drop_table("acct_customer_state")
    op.drop_index(op.f("ix_acct_audit_log_at"), table_name="acct_audit_log")

    op.drop_table("acct_audit_log")
    op.drop_index(op.f("ix_acct_alerts_status"), table_name="acct_alerts")
    op.drop_index(op.f("ix_acct_alerts_stage"), table_name="acct_alerts")
    op.drop_index(op.f("ix_acct_alerts_opened_at"), table_name="acct_alerts")

    op.drop_table("acct_alerts")
