"""The feedback store: batched, idempotent inserts keyed by event id; reads; stage corrections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlmodel import Session

from services.accountability import rollup
from services.accountability.bulk import bulk_insert
from services.accountability.models import FeedbackItem
from shared.models import ClassifiedFeedback

_TABLE = FeedbackItem.__table__  # type: ignore[attr-defined]


def _clean(value: Any) -> Any:
    """The value without NUL characters (PostgreSQL refuses them in text and JSON; they never carry meaning)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def feedback_row(item: ClassifiedFeedback, *, stored_at: datetime) -> dict[str, Any]:
    """The table row for a classified item (the full event is kept in `data`)."""
    c = item.classification
    data = item.model_dump(mode="json")
    if b"\\u0000" in orjson.dumps(data):
        data = _clean(data)
    return {
        "id": item.id,
        "source": _clean(item.source),
        "channel": item.channel.value,
        "kind": item.kind.value,
        "external_id": _clean(item.external_id),
        "customer_id": _clean(item.customer.id),
        "stage": c.stage,
        "original_stage": None,
        "corrected_by": None,
        "corrected_at": None,
        "confidence": c.confidence,
        "method": c.method.value,
        "sentiment_score": c.sentiment.score,
        "sentiment_label": c.sentiment.label.value,
        "severity": c.severity.value,
        "csat": item.scores.csat,
        "nps": item.scores.nps,
        "ces": item.scores.ces,
        "occurred_at": item.occurred_at,
        "received_at": item.received_at,
        "stored_at": stored_at,
        "text": _clean(item.text),
        "data": data,
    }


# Metadata keys that name a journey event (e.g. {"event": "order_placed"}).
EVENT_KEYS = ("event", "event_type", "journey_event")


@dataclass(frozen=True, slots=True)
class StoredItem:
    """What moments of truth and alert rules need of a newly stored item (no ORM round trip)."""

    id: str
    stage: str
    channel: str
    kind: str
    customer_id: str | None
    severity: str
    sentiment_label: str
    occurred_at: datetime
    event: str | None
    followup_of: str | None = None  # a reply to "is it fixed for you?" (`metadata.followup_of`)
    csat: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredItem:
        metadata = row["data"].get("metadata") or {}
        event = (
            next((metadata[k] for k in EVENT_KEYS if metadata.get(k)), None) if row["kind"] == "journey_event" else None
        )
        return cls(
            id=row["id"],
            stage=row["stage"],
            channel=row["channel"],
            kind=row["kind"],
            customer_id=row["customer_id"],
            severity=row["severity"],
            sentiment_label=row["sentiment_label"],
            occurred_at=row["occurred_at"],
            event=event,
            followup_of=(str(metadata["followup_of"])[:64] or None) if metadata.get("followup_of") else None,
            csat=row.get("csat"),
        )


def store_batch(*, session: Session, items: Sequence[ClassifiedFeedback], stored_at: datetime) -> list[StoredItem]:
    """Insert the items not stored yet, in one statement, and count them into the per-minute roll-ups; return
    the new ones (in input order).

    `INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id` on both SQLite and PostgreSQL: a replayed
    event is skipped by the database itself, so concurrent or repeated deliveries never duplicate.
    """
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        rows.setdefault(item.id, feedback_row(item, stored_at=stored_at))
    if not rows:
        return []
    new = set(bulk_insert(session=session, table=_TABLE, rows=list(rows.values()), conflict=["id"], returning="id"))
    fresh = [row for item_id, row in rows.items() if item_id in new]
    rollup.add_rows(session=session, rows=fresh)
    seen = {item_id: row for item_id, row in rows.items() if item_id not in new}
    if seen:
        revise(session=session, rows=seen)
    return [StoredItem.from_row(row) for row in fresh]


# What makes a later version of an item a revision rather than a replay: the content the customer gave and what
# the classifier made of it (not when it was received).
_CONTENT = ("text", "csat", "nps", "ces", "stage", "sentiment_label", "severity")


def _fingerprint(row: dict[str, Any]) -> tuple[Any, ...]:
    metadata = (row["data"] or {}).get("metadata") or {}
    return (*(row[k] for k in _CONTENT), orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS))


def revise(*, session: Session, rows: dict[str, dict[str, Any]]) -> list[str]:
    """Items already stored that came again with other content and a later `received_at` (an edited review, a
    survey response updated with its comment) become revisions: the row takes the new content, its figures move
    out of the old buckets and into the new ones (counted once), and a stage an operator corrected stays. A replay
    of the same content changes nothing. Returns the ids revised."""
    f = _TABLE.c
    stored = {r.id: r for r in session.execute(_TABLE.select().where(f.id.in_(list(rows))))}
    revised = []
    for item_id, new in rows.items():
        old = stored.get(item_id)
        if old is None or new["received_at"] <= rollup._aware(old.received_at):
            continue
        old_row = dict(old._mapping)
        if old_row["original_stage"] is not None:  # corrected by a person: the stage is theirs
            new = {**new, "stage": old_row["stage"], "original_stage": old_row["original_stage"],
                   "corrected_by": old_row["corrected_by"], "corrected_at": old_row["corrected_at"]}  # fmt: skip
        if _fingerprint(old_row) == _fingerprint(new):
            continue
        rollup.add_rows(session=session, rows=[old_row], sign=-1)
        revision = int((old_row["data"] or {}).get("revision", 0)) + 1
        changes = {k: v for k, v in new.items() if k not in ("id", "stored_at")}
        changes["data"] = {**new["data"], "revision": revision}
        session.execute(_TABLE.update().where(f.id == item_id).values(**changes))
        rollup.add_rows(session=session, rows=[{**old_row, **changes}])
        revised.append(item_id)
    return revised


def get_feedback(*, session: Session, feedback_id: str) -> FeedbackItem | None:
    return session.get(FeedbackItem, feedback_id)


def correct_stage(*, session: Session, item: FeedbackItem, stage: str, by: str, at: datetime) -> str:
    """Relabel an item's stage; keep the first classifier stage in `original_stage`. Returns the previous stage."""
    previous = item.stage
    rollup.move(session=session, row=item.model_dump(), to_stage=stage)
    if item.original_stage is None:
        item.original_stage = previous
    item.stage = stage
    item.corrected_by = by
    item.corrected_at = at
    data = dict(item.data)
    classification = dict(data.get("classification") or {})
    classification.update({"stage": stage, "method": "hint", "explanation": f"corrected by {by}"})
    data["classification"] = classification
    item.data = data
    session.add(item)
    return previous
