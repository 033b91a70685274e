"""SQLModel tables of the accountability store. Every table name starts with `acct_` (the database is shared)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from services.accountability.column_types import UTCDateTime, counter_field, json_field, when_field

# Alembic keeps its own version table so ingest's migrations (if any) never collide with ours.
VERSION_TABLE = "acct_alembic_version"
_FIXED = text("corrected_at IS NOT NULL")  # items a person corrected


class FeedbackItem(SQLModel, table=True):
    """One classified feedback item, stored once: the event id is the primary key."""

    __tablename__ = "acct_feedback"
    __table_args__ = (
        # Also covers an alert's evidence counts by source and channel (migration 0014).
        Index("ix_acct_feedback_stage_occurred", "stage", "occurred_at", "kind", "source", "channel"),
        # Covers the window aggregates of scorecards and alert rules (migration 0002).
        Index(
            "ix_acct_feedback_window",
            "occurred_at",
            "kind",
            "stage",
            "sentiment_label",
            "sentiment_score",
            "csat",
            "ces",
            "nps",
        ),
        # The evidence filters and the triage queue (migration 0004, which also adds the full-text search).
        Index("ix_acct_feedback_occurred_id", "occurred_at", "id"),
        Index("ix_acct_feedback_source_occurred", "source", "occurred_at"),
        Index("ix_acct_feedback_channel_occurred", "channel", "occurred_at"),
        Index("ix_acct_feedback_severity_occurred", "severity", "occurred_at"),
        Index("ix_acct_feedback_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_acct_feedback_confidence_id", "confidence", "id"),
        Index("ix_acct_feedback_stage_confidence", "stage", "confidence"),
        # The theme job reads what was stored, and what was corrected, since its watermarks (migration 0006).
        Index("ix_acct_feedback_stored_id", "stored_at", "id"),
        # Only corrected items (migration 0013): nearly every stored item has none, and was written to it anyway.
        Index("ix_acct_feedback_corrected_id", "corrected_at", "id", sqlite_where=_FIXED, postgresql_where=_FIXED),
    )

    id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=100)
    channel: str = Field(max_length=20)
    kind: str = Field(max_length=30)
    external_id: str | None = Field(default=None, max_length=300)
    customer_id: str | None = Field(default=None, max_length=200)  # ix_acct_feedback_customer_occurred (0012)
    stage: str = Field(max_length=64)
    original_stage: str | None = Field(default=None, max_length=64)
    corrected_by: str | None = Field(default=None, max_length=200)
    corrected_at: datetime | None = when_field(nullable=True)
    confidence: float
    method: str = Field(max_length=20)
    sentiment_score: float
    sentiment_label: str = Field(max_length=20)
    severity: str = Field(max_length=20)
    csat: int | None = None
    nps: int | None = None
    ces: int | None = None
    occurred_at: datetime = when_field()  # ix_acct_feedback_occurred_id and _window lead with it (0012)
    received_at: datetime = when_field()
    stored_at: datetime = when_field()
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    data: dict[str, Any] = json_field(dict)


class StageFigures(SQLModel):
    """The additive figures of one stage over one bucket (a minute or an hour): sums and counts only, so buckets
    add up to any window."""

    volume: int = 0
    negative: int = 0
    sentiment_sum: float = 0.0
    csat_sum: float = 0.0
    csat_n: int = 0
    ces_sum: float = 0.0
    ces_n: int = 0
    nps_n: int = 0
    promoters: int = 0
    detractors: int = 0
    # Operational figures of contact records (migration 0005; see `rollup.operations`): contacts that reported any
    # of them, then per figure the sum and how many contacts reported it.
    contacts: int = counter_field()
    wait_sum: float = counter_field(0.0)
    wait_n: int = counter_field()
    handle_sum: float = counter_field(0.0)
    handle_n: int = counter_field()
    hold_sum: float = counter_field(0.0)
    hold_n: int = counter_field()
    transfers_sum: float = counter_field(0.0)
    transfers_n: int = counter_field()


class StageMinute(StageFigures, table=True):
    """One stage's figures for the items that occurred in one minute (see `rollup`).

    `minute` is the END of the minute: the bucket holds (minute - 1 min, minute], like the windows it adds up to.
    """

    __tablename__ = "acct_stage_minutes"
    # Windows read a span of minutes across every stage (migration 0011).
    __table_args__ = (Index("ix_acct_stage_minutes_minute", "minute"),)

    stage: str = Field(primary_key=True, max_length=64)
    minute: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))


class StageHour(StageFigures, table=True):
    """The same figures as `StageMinute`, added up per hour (`hour` is the END of the hour: (hour - 1 h, hour]).

    A 30-day window is 720 of these instead of 43,200 minutes; only its first and last hour are read in minutes.
    """

    __tablename__ = "acct_stage_hours"
    __table_args__ = (Index("ix_acct_stage_hours_hour", "hour"),)

    stage: str = Field(primary_key=True, max_length=64)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))


class Team(SQLModel, table=True):
    __tablename__ = "acct_teams"

    id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    escalation: str | None = Field(default=None, max_length=200)
    receivers: list[dict[str, Any]] = json_field(list)
    # People an escalation step can notify ({name, contact}) and the chain of steps (migration 0008; see
    # `shared.journey.EscalationStep`); an empty chain: the single `escalation` after ESCALATE_AFTER_S.
    members: list[dict[str, Any]] = json_field(list)
    chain: list[dict[str, Any]] = json_field(list)
    updated_at: datetime = when_field()


class StageOwnership(SQLModel, table=True):
    """The one accountable team of a stage and its contributing teams."""

    __tablename__ = "acct_ownership"

    stage: str = Field(primary_key=True, max_length=64)
    accountable: str = Field(max_length=100)
    contributing: list[str] = json_field(list)
    updated_at: datetime = when_field()


class AuditEntry(SQLModel, table=True):
    """Who changed what, when."""

    __tablename__ = "acct_audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = when_field(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=100)
    subject: str = Field(max_length=200)
    before: dict[str, Any] = json_field(dict)
    after: dict[str, Any] = json_field(dict)


class CustomerMomentState(SQLModel, table=True):
    """Per customer and moment of truth: what the rule needs to remember (counts, recent contact times)."""

    __tablename__ = "acct_customer_state"

    customer_id: str = Field(primary_key=True, max_length=200)
    moment_id: str = Field(primary_key=True, max_length=100)
    count: int = 0
    times: list[str] = json_field(list)
    updated_at: datetime = when_field()


class MomentOccurrence(SQLModel, table=True):
    __tablename__ = "acct_moments"
    __table_args__ = (UniqueConstraint("moment_id", "feedback_id", name="uq_acct_moments_feedback"),)

    id: int | None = Field(default=None, primary_key=True)
    moment_id: str = Field(max_length=100, index=True)
    stage: str = Field(max_length=64)
    customer_id: str = Field(max_length=200, index=True)
    feedback_id: str = Field(max_length=64)
    count: int
    occurred_at: datetime = when_field(index=True)


class Alert(SQLModel, table=True):
    """One alert per (stage, rule) while active (open, acknowledged, or resolved and awaiting verification):
    `open_key` is unique and cleared when the alert is verified or resolved for good."""

    __tablename__ = "acct_alerts"

    id: str = Field(primary_key=True, max_length=36)
    stage: str = Field(max_length=64, index=True)
    rule_id: str = Field(max_length=100)
    rule_kind: str = Field(max_length=30)
    status: str = Field(max_length=40, index=True)
    open_key: str | None = Field(default=None, max_length=200, unique=True)
    title: str = Field(max_length=500)
    count: int = 1
    version: int = 1
    silenced: bool = False
    opened_at: datetime = when_field(index=True)
    last_seen_at: datetime = when_field()
    last_active_at: datetime = when_field()
    acknowledged_at: datetime | None = when_field(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    escalated_at: datetime | None = when_field(nullable=True)
    escalated_to: str | None = Field(default=None, max_length=200)
    resolved_at: datetime | None = when_field(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=200)
    # Noise control (migration 0008): the open cause alert that muted this one when it opened, and the incident
    # it was grouped into. Escalation-chain progress is kept in `details["escalation"]`.
    inhibited_by: str | None = Field(default=None, max_length=36)
    incident_id: str | None = Field(default=None, max_length=36, index=True)
    details: dict[str, Any] = json_field(dict)


class Silence(SQLModel, table=True):
    """Mutes deliveries for a stage, a rule, or both, from `starts_at` until `ends_at`. With `rrule` (RFC 5545,
    starting at `starts_at`) only during each occurrence, `duration_s` long (migration 0008)."""

    __tablename__ = "acct_silences"

    id: str = Field(primary_key=True, max_length=36)
    stage: str | None = Field(default=None, max_length=64)
    rule_id: str | None = Field(default=None, max_length=100)
    reason: str = Field(default="", max_length=500)
    starts_at: datetime = when_field()
    ends_at: datetime = when_field(index=True)
    created_by: str = Field(max_length=200)
    created_at: datetime = when_field()
    rrule: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duration_s: float | None = None
    reminded_at: datetime | None = when_field(nullable=True)


class OutboxEntry(SQLModel, table=True):
    """A delivery to make: written in the same transaction as the change, sent (with retries) afterwards."""

    __tablename__ = "acct_outbox"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300, unique=True)
    alert_id: str | None = Field(default=None, max_length=36, index=True)
    transition: str = Field(max_length=30)
    team: str = Field(max_length=100)
    receiver: str = Field(max_length=20)
    target: str = Field(max_length=1000)
    secret: str | None = Field(default=None, max_length=500)
    event_type: str = Field(max_length=100)
    payload: dict[str, Any] = json_field(dict)
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    next_attempt_at: datetime = when_field(index=True)
    lease_until: datetime | None = when_field(nullable=True)
    delivered_at: datetime | None = when_field(nullable=True)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = when_field()


class ThemeItem(SQLModel, table=True):
    """One item's membership of one theme of its stage, with the figures it counted into `ThemeHour` (so an
    erasure or a correction can take exactly those out again). Theme `*` is every feedback item of the stage."""

    __tablename__ = "acct_theme_items"
    __table_args__ = (Index("ix_acct_theme_items_stage_theme_occurred", "stage", "theme", "occurred_at"),)

    item_id: str = Field(primary_key=True, max_length=64)
    theme: str = Field(primary_key=True, max_length=100)
    stage: str = Field(max_length=64)
    hour: datetime = when_field()
    occurred_at: datetime = when_field()
    negative: int = 0
    nps: int | None = None
    csat: int | None = None


class ThemeHour(SQLModel, table=True):
    """A theme's additive figures for the items of one stage that occurred in one hour ((hour - 1 h, hour])."""

    __tablename__ = "acct_theme_hours"

    stage: str = Field(primary_key=True, max_length=64)
    theme: str = Field(primary_key=True, max_length=100)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    volume: int = 0
    negative: int = 0
    nps_n: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_sum: float = 0.0
    csat_n: int = 0


class ThemeSnapshot(SQLModel, table=True):
    """The ranked themes of a stage (or the journey's drivers, stage `*`) for one window, as the job last saw them."""

    __tablename__ = "acct_theme_snapshots"

    stage: str = Field(primary_key=True, max_length=64)
    window: str = Field(primary_key=True, max_length=10)
    computed_at: datetime = when_field()
    payload: dict[str, Any] = json_field(dict)


class ThemeProgress(SQLModel, table=True):
    """How far the theme job has read: the last stored item it counted, and the last correction it applied."""

    __tablename__ = "acct_theme_progress"

    name: str = Field(primary_key=True, max_length=50)
    stored_at: datetime | None = when_field(nullable=True)
    item_id: str | None = Field(default=None, max_length=64)
    corrected_at: datetime | None = when_field(nullable=True)
    corrected_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime | None = when_field(nullable=True)


class FollowUp(SQLModel, table=True):
    """ "Is it fixed for you?": asked of a customer behind a resolved alert, answered by a reply through ingest."""

    __tablename__ = "acct_followups"

    id: str = Field(primary_key=True, max_length=36)
    alert_id: str = Field(max_length=36, index=True)
    customer_id: str = Field(max_length=200, index=True)
    feedback_id: str = Field(max_length=64, index=True)
    stage: str = Field(max_length=64)
    question: str = Field(max_length=500)
    requested_at: datetime = when_field()
    answered_at: datetime | None = when_field(nullable=True)
    answer_feedback_id: str | None = Field(default=None, max_length=64)
    agreed: bool | None = None


class DigestRun(SQLModel, table=True):
    """A weekly digest queued for one audience (a team id, or `leadership`) and ISO week: never sent twice."""

    __tablename__ = "acct_digests"

    audience: str = Field(primary_key=True, max_length=100)
    week: str = Field(primary_key=True, max_length=10)
    sent_at: datetime = when_field()
    rows: int = 0


def columns(model: type[SQLModel]) -> Any:
    """A model's table columns for query expressions (`columns(Alert).status == "open"`), loosely typed."""
    return model.__table__.c  # type: ignore[attr-defined]
