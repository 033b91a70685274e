"""Moments of truth, evaluated per customer on the stream; the state lives in the database (survives restarts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from services.accountability.models import CustomerMomentState, FeedbackItem, MomentOccurrence, columns
from services.accountability.scorecard import parse_duration
from shared.journey import JourneyMap, MomentOfTruth
from shared.models import Kind

# Metadata keys that name a journey event (e.g. {"event": "order_placed"}).
EVENT_KEYS = ("event", "event_type", "journey_event")
DEFAULT_CONTACT_KINDS = (Kind.contact.value, Kind.feedback.value)


@dataclass(frozen=True)
class MomentRule:
    kind: str
    params: dict[str, Any]


def rule_of(moment: MomentOfTruth) -> MomentRule:
    """The moment's one rule: `repeat_contact`, `nth_event` or `first_event`."""
    for kind in ("repeat_contact", "nth_event", "first_event"):
        if kind in moment.rule:
            return MomentRule(kind, dict(moment.rule[kind] or {}))
    raise ValueError(f"moment {moment.id!r}: unknown rule {sorted(moment.rule)}")


def event_name(item: FeedbackItem) -> str | None:
    """For a `journey_event` item, the event it records (`order_placed`, ...) from its metadata."""
    if item.kind != Kind.journey_event.value:
        return None
    metadata = (item.data or {}).get("metadata") or {}
    return next((metadata[k] for k in EVENT_KEYS if metadata.get(k)), None)


def _matches(rule: MomentRule, item: FeedbackItem) -> bool:
    if rule.kind == "repeat_contact":
        kinds = rule.params.get("kinds") or DEFAULT_CONTACT_KINDS
        return item.kind in kinds
    wanted = rule.params.get("kind")
    return event_name(item) is not None and (wanted is None or event_name(item) == wanted)


def evaluate_moments(
    *, session: Session, journey: JourneyMap, items: Sequence[FeedbackItem], now: datetime
) -> list[MomentOccurrence]:
    """Update each customer's state with the new items and return the moments that occurred (stored)."""
    rules = [(m, rule_of(m)) for m in journey.moments_of_truth]
    if not rules:
        return []
    customers = sorted({i.customer_id for i in items if i.customer_id})
    states: dict[tuple[str, str], CustomerMomentState] = {}
    if customers:
        query = select(CustomerMomentState).where(columns(CustomerMomentState).customer_id.in_(customers))
        states = {(s.customer_id, s.moment_id): s for s in session.execute(query).scalars()}
    hits: list[MomentOccurrence] = []
    for item in items:
        if not item.customer_id:
            continue
        for moment, rule in rules:
            if not _matches(rule, item):
                continue
            key = (item.customer_id, moment.id)
            state = states.get(key)
            if state is None:
                state = CustomerMomentState(customer_id=item.customer_id, moment_id=moment.id, count=0, times=[])
                states[key] = state
            count = _advance(rule, state, item)
            state.updated_at = now
            session.add(state)
            if count is not None:
                hit = MomentOccurrence(
                    moment_id=moment.id,
                    stage=moment.stage,
                    customer_id=item.customer_id,
                    feedback_id=item.id,
                    count=count,
                    occurred_at=item.occurred_at,
                )
                session.add(hit)
                hits.append(hit)
    session.flush()
    return hits


def _advance(rule: MomentRule, state: CustomerMomentState, item: FeedbackItem) -> int | None:
    """Move the state on by one item; return the count when the moment occurs, else None."""
    state.count += 1
    if rule.kind == "first_event":
        return 1 if state.count == 1 else None
    if rule.kind == "nth_event":
        n = int(rule.params.get("n", 1))
        return state.count if state.count == n else None
    # repeat_contact: `count` contacts within `within`; the window starts over after it fires.
    needed = int(rule.params.get("count", 3))
    within = parse_duration(rule.params.get("within", "30d"))
    since = item.occurred_at - within
    times = sorted([t for t in state.times if datetime.fromisoformat(t) > since] + [item.occurred_at.isoformat()])
    if len(times) >= needed:
        state.times = []
        return len(times)
    state.times = times
    return None


def occurrences(
    *, session: Session, customer_id: str | None = None, moment_id: str | None = None, limit: int = 100
) -> list[MomentOccurrence]:
    query = select(MomentOccurrence).order_by(columns(MomentOccurrence).id.desc()).limit(limit)
    if customer_id:
        query = query.where(columns(MomentOccurrence).customer_id == customer_id)
    if moment_id:
        query = query.where(columns(MomentOccurrence).moment_id == moment_id)
    return list(session.execute(query).scalars())
