"""Small factories for accountability tests: classified items, a clock tests can move, CloudEvent records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability.migrate import upgrade
from services.accountability.ownership import seed, upsert_team
from services.accountability.service import housekeeping
from shared.cloudevents import CloudEvent, encode
from shared.db import make_engine
from shared.journey import JourneyMap
from shared.models import ClassifiedFeedback, EventType

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


class MovableClock:
    """A clock for time-based behaviour: starts at `start`, moves only when told."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def classified(
    *,
    stage: str = "pay",
    label: str = "negative",
    score: float | None = None,
    customer: str | None = None,
    kind: str = "feedback",
    severity: str = "normal",
    at: datetime = T0,
    item_id: str | None = None,
    text: str = "charged twice this month",
    scores: dict[str, int] | None = None,
    metadata: dict[str, str] | None = None,
    source: str = "test",
    channel: str = "chat",
    confidence: float = 0.9,
    method: str = "rule",
) -> ClassifiedFeedback:
    if score is None:
        score = {"negative": -0.7, "neutral": 0.0, "positive": 0.7}[label]
    return ClassifiedFeedback.model_validate(
        {
            "id": item_id or str(uuid.uuid4()),
            "source": source,
            "channel": channel,
            "kind": kind,
            "occurred_at": at.isoformat(),
            "received_at": at.isoformat(),
            "customer": {"id": customer},
            "text": text,
            "scores": scores or {},
            "metadata": metadata or {},
            "classification": {
                "stage": stage,
                "confidence": confidence,
                "method": method,
                "explanation": "test",
                "sentiment": {"score": score, "label": label},
                "severity": severity,
            },
        }
    )


def record_parts(item: ClassifiedFeedback) -> tuple[list[tuple[str, bytes]], bytes, bytes]:
    """(headers, value, key) of the Kafka record classify would produce for `item`."""
    event = CloudEvent(
        id=item.id,
        source="journeyline/classify",
        type=EventType.feedback_classified.value,
        data=item.model_dump(mode="json"),
        time=item.received_at,
    )
    headers, value = encode(event)
    return headers, value, (item.customer.id or item.id).encode()


def journey_event(*, customer: str, event: str = "order_placed", at: datetime = T0, **kw: Any) -> ClassifiedFeedback:
    return classified(
        stage="buy", label="neutral", customer=customer, kind="journey_event", at=at, metadata={"event": event}, **kw
    )


@contextmanager
def migrated(database_url: str, journey: JourneyMap, hooks: dict[str, str] | None = None) -> Iterator[Engine]:
    """An engine on a migrated database seeded with the journey map's teams and owners; `hooks` gives teams a
    webhook receiver each ({team: url}), so deliveries have somewhere to go."""
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        seed(session=session, journey=journey, now=T0)
        for team, url in (hooks or {}).items():
            receivers = [{"type": "webhook", "url": url}]
            upsert_team(session=session, team_id=team, name=None, escalation=None, receivers=receivers, by="t", at=T0)
        session.commit()
    try:
        yield engine
    finally:
        engine.dispose()


def tidy(
    engine: Engine,
    journey: JourneyMap,
    now: datetime,
    *,
    auto_resolve_after: timedelta = timedelta(days=1),
    escalate_after: timedelta = timedelta(minutes=30),
    alerts_topic: str = "t.cx.alerts",
    **more: Any,
) -> list[tuple[str, str, str]]:
    """One housekeeping pass (auto-resolve, escalation, verification, silences) at `now`, committed: its
    transitions as (stage, rule, transition)."""
    with Session(engine, expire_on_commit=False) as session:
        out = housekeeping(
            session=session,
            journey=journey,
            now=now,
            auto_resolve_after=auto_resolve_after,
            escalate_after=escalate_after,
            alerts_topic=alerts_topic,
            **more,
        )
        session.commit()
    return out.transitions
