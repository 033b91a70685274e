"""Moments of truth, evaluated per customer on the stream; the state lives in the database (survives restarts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from services.accountability.bulk import bulk_insert
from services.accountability.models import CustomerMomentState, MomentOccurrence, columns
from services.accountability.scorecard import parse_duration
from services.accountability.store import StoredItem
from shared.journey import JourneyMap, MomentOfTruth
from shared.models import Kind

DEFAULT_CONTACT_KINDS = (Kind.contact.value, Kind.feedback.value)
_CHUNK = 500


@dataclass(frozen=True)
class MomentRule:
    kind: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MomentHit:
    """One occurrence of a moment of truth (also stored in `acct_moments`)."""

    moment_id: str
    stage: str
    customer_id: str
    feedback_id: str
    count: int
    occurred_at: datetime

    def row(self) -> dict[str, Any]:
        """Its `acct_moments` row. Not `dataclasses.asdict`, which deep-copies every field: 17.5 µs per hit
        against 0.5, and at 2,000 events/s from 50,000 customers a third of the items are a third contact."""
        return {name: getattr(self, name) for name in _HIT_FIELDS}


_HIT_FIELDS = tuple(f.name for f in fields(MomentHit))


def rule_of(moment: MomentOfTruth) -> MomentRule:
    """The moment's one rule: `repeat_contact`, `nth_event` or `first_event`."""
    for kind in ("repeat_contact", "nth_event", "first_event"):
        if kind in moment.rule:
            return MomentRule(kind, dict(moment.rule[kind] or {}))
    raise ValueError(f"moment {moment.id!r}: unknown rule {sorted(moment.rule)}")


def _matches(rule: MomentRule, item: StoredItem) -> bool:
    if rule.kind == "repeat_contact":
        kinds = rule.params.get("kinds") or DEFAULT_CONTACT_KINDS
        return item.kind in kinds
    wanted = rule.params.get("kind")
    return item.event is not None and (wanted is None or item.event == wanted)


def _load_states(session: Session, customers: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    c = columns(CustomerMomentState)
    states: dict[tuple[str, str], dict[str, Any]] = {}
    for i in range(0, len(customers), _CHUNK):
        query = select(c.customer_id, c.moment_id, c.count, c.times).where(c.customer_id.in_(customers[i : i + _CHUNK]))
        for customer_id, moment_id, count, times in session.execute(query):
            states[(customer_id, moment_id)] = {"count": count, "times": list(times or [])}
    return states


def evaluate_moments(
    *, session: Session, journey: JourneyMap, items: Sequence[StoredItem], now: datetime
) -> list[MomentHit]:
    """Advance each customer's state with the new items; store and return the moments that occurred."""
    rules = [(m, rule_of(m)) for m in journey.moments_of_truth]
    work = [(item, m, r) for item in items if item.customer_id for m, r in rules if _matches(r, item)]
    if not work:
        return []
    states = _load_states(session, sorted({item.customer_id for item, _, _ in work if item.customer_id}))
    touched: set[tuple[str, str]] = set()
    hits: list[MomentHit] = []
    for item, moment, rule in work:
        assert item.customer_id is not None
        key = (item.customer_id, moment.id)
        state = states.setdefault(key, {"count": 0, "times": []})
        touched.add(key)
        count = _advance(rule, state, item)
        if count is not None:
            hits.append(MomentHit(moment.id, moment.stage, item.customer_id, item.id, count, item.occurred_at))
    rows = [{"customer_id": k[0], "moment_id": k[1], **states[k], "updated_at": now} for k in sorted(touched)]
    state_table = CustomerMomentState.__table__  # type: ignore[attr-defined]
    bulk_insert(
        session=session,
        table=state_table,
        rows=rows,
        conflict=["customer_id", "moment_id"],
        update=["count", "times", "updated_at"],
    )
    if hits:
        table = MomentOccurrence.__table__  # type: ignore[attr-defined]
        bulk_insert(
            session=session, table=table, rows=[hit.row() for hit in hits], conflict=["moment_id", "feedback_id"]
        )
    return hits


def _advance(rule: MomentRule, state: dict[str, Any], item: StoredItem) -> int | None:
    """Move the state on by one item; return the count when the moment occurs, else None."""
    state["count"] += 1
    if rule.kind == "first_event":
        return 1 if state["count"] == 1 else None
    if rule.kind == "nth_event":
        n = int(rule.params.get("n", 1))
        return int(state["count"]) if state["count"] == n else None
    # repeat_contact: `count` contacts within `within`; the window starts over after it fires.
    needed = int(rule.params.get("count", 3))
    within = parse_duration(rule.params.get("within", "30d"))
    since = item.occurred_at - within
    times = sorted([t for t in state["times"] if datetime.fromisoformat(t) > since] + [item.occurred_at.isoformat()])
    if len(times) >= needed:
        state["times"] = []
        return len(times)
    state["times"] = times
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
