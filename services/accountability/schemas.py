"""API shapes of the accountability service (the tables live in models.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.journey import HealthThresholds, Receiver

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
    details: dict[str, Any]


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=1000)


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(default=None, max_length=64)
    rule_id: str | None = Field(default=None, max_length=100)
    ends_at: AwareDatetime | None = Field(default=None, description="With a time zone (e.g. ...Z or +02:00)")
    duration_s: float | None = Field(default=None, gt=0, le=90 * 86400)
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _scope(self) -> SilenceCreate:
        if not self.stage and not self.rule_id:
            raise ValueError("a silence needs a stage, a rule_id, or both")
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
    active: bool


class MomentPublic(BaseModel):
    id: int
    moment_id: str
    stage: str
    customer_id: str
    feedback_id: str
    count: int
    occurred_at: datetime
