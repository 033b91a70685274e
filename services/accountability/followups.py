"""Ask the customer: after a person resolves an alert, the customers behind it are asked "is it fixed for you?".

One `io.journeyline.followup.requested` event per customer (their most negative item behind the alert, at most
`limit` customers) goes to `cx.followups` through the outbox, for whatever tool writes to customers (e-mail,
SMS, in-app). A reply comes back through ingest like any feedback, carrying `metadata.followup_of` (the follow-up
id, or the id of the item it asked about); when it is stored it answers the follow-up: it **agrees** unless it is
negative or scores CSAT below 4. The alert's `details.followups` keeps requested / answered / agreed and the
`agreed_share`, and the scorecard sums them per stage and team.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from services.accountability import evidence
from services.accountability.models import Alert, FeedbackItem, FollowUp, OutboxEntry, columns
from services.accountability.store import StoredItem
from shared.models import EventType, Kind

_NAMESPACE = uuid.UUID("6f1b1d2e-8a51-4c52-9d0b-2f6f0c7a9e11")
QUESTION = "You told us about a problem with {stage}. We have made a change: is it fixed for you?"
_F = columns(FeedbackItem)
_U = columns(FollowUp)


def followup_id(alert_id: str, round_: int, feedback_id: str) -> str:
    """Stable per alert, resolution round and item: a replayed resolution asks nobody twice."""
    return str(uuid.uuid5(_NAMESPACE, f"{alert_id}:{round_}:{feedback_id}"))


def request(*, session: Session, alert: Alert, now: datetime, topic: str, limit: int, stage_name: str) -> int:
    """Queue one follow-up per customer behind the alert (most negative item first); return how many."""
    start, end, ids = evidence.scope(alert)
    query = select(FeedbackItem).where(
        *evidence.items(alert.stage, ids), _F.customer_id.is_not(None), _F.kind != Kind.journey_event.value
    )
    if ids is None:
        query = query.where(_F.occurred_at > start, _F.occurred_at <= end)
    rows = session.execute(query.order_by(_F.sentiment_score, _F.occurred_at.desc()).limit(limit * 5)).scalars()
    round_ = len((alert.details or {}).get("reopened", []))
    chosen: dict[str, FeedbackItem] = {}
    for row in rows:
        if row.customer_id and row.customer_id not in chosen and len(chosen) < limit:
            chosen[row.customer_id] = row
    wanted = {followup_id(alert.id, round_, item.id): (customer, item) for customer, item in chosen.items()}
    asked = set(session.execute(select(_U.id).where(_U.id.in_(list(wanted)))).scalars()) if wanted else set()
    for fid, (customer, item) in wanted.items():
        if fid in asked:
            continue
        question = QUESTION.format(stage=stage_name)
        session.add(
            FollowUp(
                id=fid, alert_id=alert.id, customer_id=customer, feedback_id=item.id, stage=alert.stage,
                question=question, requested_at=now,
            )
        )  # fmt: skip
        payload = {
            "id": fid, "customer_id": customer, "feedback_id": item.id, "stage": alert.stage, "alert_id": alert.id,
            "question": question, "reply_with": {"metadata": {"followup_of": fid}}, "requested_at": now.isoformat(),
        }  # fmt: skip
        session.add(
            OutboxEntry(
                dedupe_key=f"followup:{fid}", alert_id=alert.id, transition="followup", team="*", receiver="kafka",
                target=topic, event_type=EventType.followup_requested.value, payload=payload, next_attempt_at=now,
                created_at=now,
            )
        )  # fmt: skip
    _tally(session, alert, requested=len(chosen))
    return len(chosen)


def agrees(sentiment_label: str, csat: int | None) -> bool:
    """A reply agrees the problem is fixed unless it is negative, or scores CSAT below 4."""
    return sentiment_label != "negative" and (csat is None or csat >= 4)


def record_replies(*, session: Session, items: Sequence[StoredItem], now: datetime) -> int:
    """Answer the follow-ups that newly stored replies refer to; return how many were answered."""
    replies = [i for i in items if i.followup_of]
    answered = 0
    for reply in replies:
        ref = reply.followup_of
        query = select(FollowUp).where(or_(_U.id == ref, _U.feedback_id == ref), _U.answered_at.is_(None))
        followup = session.execute(query.order_by(_U.requested_at.desc()).limit(1)).scalars().first()
        if followup is None or (reply.customer_id and reply.customer_id != followup.customer_id):
            continue  # unknown, already answered, or someone else answering: not counted
        followup.answered_at, followup.answer_feedback_id = now, reply.id
        followup.agreed = agrees(reply.sentiment_label, reply.csat)
        session.add(followup)
        alert = session.get(Alert, followup.alert_id)
        if alert is not None:
            _tally(session, alert, answered=1, agreed=int(followup.agreed))
        answered += 1
    return answered


def _tally(session: Session, alert: Alert, **add: int) -> None:
    counts: dict[str, Any] = dict((alert.details or {}).get("followups") or {})
    for key in ("requested", "answered", "agreed"):
        counts[key] = int(counts.get(key, 0)) + add.get(key, 0)
    counts["agreed_share"] = round(counts["agreed"] / counts["answered"], 4) if counts["answered"] else None
    alert.details = {**(alert.details or {}), "followups": counts}
    session.add(alert)
