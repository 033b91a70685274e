"""API shapes of the accountability service (the tables live in models.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.journey import HealthThresholds
from shared.teams import EscalationStep, Member, Receiver

Window = Literal["1h", "24h", "7d", "30d"]
Health = Literal["green", "yellow", "red"]


class StagePublic(BaseModel):
    id: str
    name: str
    order: int
    description: str = ""
    health: HealthThresholds
    accountable: str
    contributing: list[str]


class Trend(BaseModel):
    previous_volume: int
    previous_negative_share: float | None
    previous_sentiment_mean: float | None
    volume_change: float | None = Field(description="Relative change of volume against the previous window")
    negative_share_change: float | None
    sentiment_change: float | None
    direction: Literal["improving", "worsening", "steady", "unknown"]


class Resolutions(BaseModel):
    """How the alerts that opened in the window were worked: resolutions judged by the stage's own figures
    (verified, or reopened because the stage was still bad), time to acknowledge and to verified, and what the
    customers asked "is it fixed for you?" answered."""

    alerts: int
    judged: int = Field(description="Resolutions the figures have judged: verified plus reopened")
    reopen_rate: float | None
    verified_rate: float | None
    median_time_to_ack_s: float | None
    median_time_to_verify_s: float | None = Field(description="From opening to verified")
    followups_answered: int
    agreed_share: float | None


class Operations(BaseModel):
    """Call-centre figures of the stage's contact records in the window, from the wait, handle and hold times and
    transfer counts their source sent. A mean is None when no contact in the window reported that figure."""

    contacts: int = Field(description="Contact records that reported at least one of the figures below")
    wait_mean_s: float | None = Field(description="Mean time in the queue before an agent answered, seconds")
    handle_mean_s: float | None = Field(description="Mean handling time (talk, hold and wrap-up), seconds")
    hold_mean_s: float | None = Field(description="Mean time the customer was put on hold, seconds")
    transfers_per_contact: float | None = Field(description="Mean transfers per contact that reported them")


class Scorecard(BaseModel):
    stage: str
    name: str
    order: int
    window: str
    start: datetime
    end: datetime
    volume: int
    negative_share: float | None
    sentiment_mean: float | None
    csat_mean: float | None
    nps: float | None
    ces_mean: float | None
    open_alerts: int
    median_time_to_ack_s: float | None
    operations: Operations
    resolutions: Resolutions | None = None
    trend: Trend
    health: Health
    health_reason: str
    accountable: str
    contributing: list[str]


class JourneyView(BaseModel):
    window: str
    start: datetime
    end: datetime
    stages: list[Scorecard]


class FeedbackPublic(BaseModel):
    id: str
    source: str
    channel: str
    kind: str
    external_id: str | None
    customer_id: str | None
    stage: str
    original_stage: str | None
    corrected_by: str | None
    corrected_at: datetime | None
    occurred_at: datetime
    received_at: datetime
    stored_at: datetime
    text: str | None
    scores: dict[str, Any]
    metadata: dict[str, Any]
    classification: dict[str, Any]


class StageCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str = Field(min_length=1, max_length=64)
    by: str | None = Field(default=None, max_length=200, description="Who relabels (defaults to the actor header)")


class CorrectionResult(BaseModel):
    id: str
    stage: str
    previous_stage: str
    by: str
    at: datetime


class OwnersUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accountable: str = Field(min_length=1, max_length=100)
    contributing: list[str] = Field(default_factory=list, max_length=50)


class TeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    escalation: str | None = Field(default=None, max_length=200)
    receivers: list[Receiver] | None = Field(default=None, max_length=20)
    members: list[Member] | None = Field(default=None, max_length=100)
    chain: list[EscalationStep] | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _urls(self) -> TeamUpdate:
        for r in self.receivers or []:
            if r.type in ("webhook", "slack") and not (r.url and r.url.startswith(("http://", "https://"))):
                raise ValueError(f"a {r.type} receiver needs an http(s) url")
        return self


class TeamPublic(BaseModel):
    id: str
    name: str
    escalation: str | None
    receivers: list[dict[str, Any]]
    members: list[dict[str, Any]] = Field(default_factory=list)
    chain: list[dict[str, Any]] = Field(default_factory=list)
    updated_at: datetime


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    before: dict[str, Any]
    after: dict[str, Any]


class AlertPublic(BaseModel):
    id: str
    stage: str
    rule_id: str
    rule_kind: str
    status: str
    title: str
    count: int
    silenced: bool
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    escalated_to: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    inhibited_by: str | None = Field(default=None, description="The open cause alert that mutes this one")
    incident_id: str | None = Field(default=None, description="Shared by alerts that opened together")
    details: dict[str, Any]
    owners: AlertOwners | None = Field(default=None, description="The stage's teams now")
    evidence: AlertEvidence | None = Field(default=None, description="Why it fired, as of its last evaluation")
    deliveries: list[DeliveryState] | None = Field(
        default=None, description="Per team and receiver: where notifications stand (on GET /v1/alerts/{id})"
    )


class AlertOwners(BaseModel):
    accountable: str
    contributing: list[str]


class EvidenceTerm(BaseModel):
    term: str
    count: int = Field(description="How many of the window's texts hold the term")


class EvidenceExample(BaseModel):
    id: str
    text: str | None = Field(description="Shortened to about 200 characters")
    channel: str
    source: str | None = None
    severity: str
    sentiment: str | None = None
    occurred_at: datetime | None = None


class AlertEvidence(BaseModel):
    total: int = Field(description="Items behind the alert (its stage's items in the window, or its trigger items)")
    by_source: dict[str, int]
    by_channel: dict[str, int]
    top_terms: list[EvidenceTerm]
    examples: list[EvidenceExample] = Field(description="Up to five: most severe, then most negative first")
    window_start: datetime | None = Field(default=None, description="Window alerts: items occurred after this")
    window_end: datetime | None = Field(default=None, description="... and at or before this")
    computed_at: datetime | None = None


class DeliveryState(BaseModel):
    """Where notifications of one alert stand for one team's receiver (or the `cx.alerts` topic, team `*`)."""

    team: str
    receiver: str = Field(description="webhook, slack or kafka")
    target: str = Field(description="The URL (a Slack URL shows only its host) or the topic")
    status: str = Field(description="Of the latest notification: pending, delivered or dead")
    last_transition: str
    notifications: int
    attempts: int = Field(description="Attempts over all its notifications")
    last_error: str | None
    delivered_at: datetime | None = Field(description="When the latest delivered notification arrived")


class DeliveryRecord(BaseModel):
    """One notification: what was sent (the transition) to whom, when, and the result."""

    id: int
    transition: str
    event_type: str
    team: str
    receiver: str
    target: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    alert_id: str
    items: list[DeliveryRecord]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last")


class EvidencePage(BaseModel):
    alert_id: str
    stage: str
    rule_kind: str
    window_start: datetime | None
    window_end: datetime | None
    items: list[FeedbackPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=1000)
    code: str | None = Field(
        default=None, max_length=100, description="Resolving: one of the journey map's resolution codes"
    )


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(default=None, max_length=64)
    rule_id: str | None = Field(default=None, max_length=100)
    starts_at: AwareDatetime | None = Field(default=None, description="Later than now: a silence planned ahead")
    ends_at: AwareDatetime | None = Field(default=None, description="With a time zone (e.g. ...Z or +02:00)")
    duration_s: float | None = Field(default=None, gt=0, le=90 * 86400)
    rrule: str | None = Field(
        default=None,
        max_length=2000,
        description="RFC 5545 recurrence from starts_at, e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=2;BYMINUTE=0;COUNT=8 "
        "(or with a DTSTART;TZID=Europe/Berlin:... line to keep local time); ends with ends_at, COUNT or UNTIL",
    )
    occurrence_s: float | None = Field(default=None, gt=0, le=7 * 86400, description="How long each occurrence mutes")
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _scope(self) -> SilenceCreate:
        if not self.stage and not self.rule_id:
            raise ValueError("a silence needs a stage, a rule_id, or both")
        if self.rrule is not None:
            if self.occurrence_s is None:
                raise ValueError("a recurring silence needs occurrence_s, how long each occurrence lasts")
            if self.duration_s is not None:
                raise ValueError("a recurring silence ends with ends_at or the rule's COUNT/UNTIL, not duration_s")
            return self
        if self.occurrence_s is not None:
            raise ValueError("occurrence_s applies only with an rrule")
        if (self.ends_at is None) == (self.duration_s is None):
            raise ValueError("give exactly one of ends_at or duration_s")
        return self


class SilencePublic(BaseModel):
    id: str
    stage: str | None
    rule_id: str | None
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    active: bool = Field(description="Muting now (for a recurring silence: inside one of its occurrences)")
    rrule: str | None = None
    occurrence_s: float | None = None
    reminded_at: datetime | None = Field(default=None, description="When its creator was told it is still in force")


class MomentPublic(BaseModel):
    id: int
    moment_id: str
    stage: str
    customer_id: str
    feedback_id: str
    count: int
    occurred_at: datetime
