"""A customer's right to be forgotten, and text that expires.

- `erase_customer`: every stored item, moment-of-truth state and moment of one customer is deleted, the
  per-minute roll-ups lose exactly those items' figures (the remaining counts stay right), and an
  `io.journeyline.customer.erased` event tells classify to drop the customer's items from its training rows. The
  receipt says what was removed where.
- `expire_text`: free text older than the retention period is removed from stored items (text column and the
  kept event), while every count, score and classification stays."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlmodel import Session

from services.accountability import evidence, rollup, theme_hours
from services.accountability.models import (
    Alert,
    CustomerMomentState,
    FeedbackItem,
    MomentOccurrence,
    OutboxEntry,
    columns,
)
from shared.models import EventType

ALL_TEAMS = "*"


class ErasureReceipt(BaseModel):
    customer_id: str
    erased_at: datetime
    feedback_items: int
    moments: int
    moment_states: int
    alert_references: int
    training_rows: str = "requested from classify (io.journeyline.customer.erased on the corrections topic)"


def erase_customer(*, session: Session, customer_id: str, now: datetime, corrections_topic: str) -> ErasureReceipt:
    """Delete everything stored about one customer and queue the erasure for classify (the caller commits)."""
    f = columns(FeedbackItem)
    table = f.id.table
    rows = [dict(r._mapping) for r in session.execute(select(table).where(f.customer_id == customer_id))]
    ids = [row["id"] for row in rows]
    rollup.add_rows(session=session, rows=rows, sign=-1)
    theme_hours.forget_items(session=session, item_ids=ids)  # theme counts and example ids lose them too
    evidence.forget_items(session=session, item_ids=ids)  # and so do the examples alerts recorded
    session.execute(delete(FeedbackItem).where(f.customer_id == customer_id))
    moments = _deleted(session, delete(MomentOccurrence).where(columns(MomentOccurrence).customer_id == customer_id))
    states = _deleted(
        session, delete(CustomerMomentState).where(columns(CustomerMomentState).customer_id == customer_id)
    )
    # Alerts keep their counts; a "last customer" they name is cleared.
    referencing = [
        alert
        for alert in session.execute(select(Alert)).scalars()
        if (alert.details or {}).get("last_customer") == customer_id
    ]
    for alert in referencing:
        alert.details = {**alert.details, "last_customer": None, "last_feedback_id": None}
        session.add(alert)
    session.add(
        OutboxEntry(
            dedupe_key=f"erasure:{customer_id}:{now.isoformat()}"[:300],
            transition="erased",
            team=ALL_TEAMS,
            receiver="kafka",
            target=corrections_topic,
            event_type=EventType.customer_erased.value,
            payload={"customer_id": customer_id, "feedback_ids": ids, "at": now.isoformat()},
            next_attempt_at=now,
            created_at=now,
        )
    )
    return ErasureReceipt(
        customer_id=customer_id,
        erased_at=now,
        feedback_items=len(ids),
        moments=moments,
        moment_states=states,
        alert_references=len(referencing),
    )


def _deleted(session: Session, statement: Any) -> int:
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def expire_text(*, session: Session, older_than: timedelta, now: datetime, batch: int = 1000) -> int:
    """Remove the free text of items received before `now - older_than`; return how many lost it."""
    f = columns(FeedbackItem)
    cutoff = now - older_than
    ids = list(session.execute(select(f.id).where(f.received_at < cutoff, f.text.is_not(None)).limit(batch)).scalars())
    for item_id in ids:
        item = session.get(FeedbackItem, item_id)
        if item is None:
            continue
        data: dict[str, Any] = dict(item.data or {})
        data["text"] = None
        data["text_expired_at"] = now.isoformat()
        session.execute(update(FeedbackItem).where(f.id == item_id).values(text=None, data=data))
    evidence.forget_items(session=session, item_ids=ids, text_only=True)  # alerts' examples lose the text too
    return len(ids)
