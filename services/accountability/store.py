"""The feedback store: batched, idempotent inserts keyed by event id; reads; stage corrections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from services.accountability.models import FeedbackItem, columns
from shared.models import ClassifiedFeedback

_TABLE = FeedbackItem.__table__  # type: ignore[attr-defined]


def _clean(text: str | None) -> str | None:
    # PostgreSQL refuses NUL in text; a NUL is never meaningful feedback.
    return text.replace("\x00", "") if text else text


def feedback_row(item: ClassifiedFeedback, *, stored_at: datetime) -> dict[str, Any]:
    """The table row for a classified item (the full event is kept in `data`)."""
    c = item.classification
    data = item.model_dump(mode="json")
    if data.get("text"):
        data["text"] = _clean(data["text"])
    return {
        "id": item.id,
        "source": item.source,
        "channel": item.channel.value,
        "kind": item.kind.value,
        "external_id": item.external_id,
        "customer_id": item.customer.id,
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


def store_batch(*, session: Session, items: Sequence[ClassifiedFeedback], stored_at: datetime) -> list[str]:
    """Insert the items not stored yet, in one statement; return the ids that were new (in input order).

    `INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id` on both SQLite and PostgreSQL: a replayed
    event is skipped by the database itself, so concurrent or repeated deliveries never duplicate.
    """
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        rows.setdefault(item.id, feedback_row(item, stored_at=stored_at))
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_TABLE).on_conflict_do_nothing(index_elements=["id"]).returning(_TABLE.c.id)
    new = set(session.execute(stmt, list(rows.values())).scalars().all())
    return [item_id for item_id in rows if item_id in new]


def get_feedback(*, session: Session, feedback_id: str) -> FeedbackItem | None:
    return session.get(FeedbackItem, feedback_id)


def load_items(*, session: Session, ids: Sequence[str]) -> list[FeedbackItem]:
    """Rows for `ids`, in the order given."""
    if not ids:
        return []
    found = {
        row.id: row for row in session.execute(select(FeedbackItem).where(columns(FeedbackItem).id.in_(ids))).scalars()
    }
    return [found[i] for i in ids if i in found]


def correct_stage(*, session: Session, item: FeedbackItem, stage: str, by: str, at: datetime) -> str:
    """Relabel an item's stage; keep the first classifier stage in `original_stage`. Returns the previous stage."""
    previous = item.stage
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
