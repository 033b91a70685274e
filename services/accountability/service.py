"""The accountability domain, end to end: store a batch, moments of truth, alert rules, outbox - one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from services.accountability import alerts as alert_rules
from services.accountability import conditions, escalation, followups, silences, verification
from services.accountability.models import Alert
from services.accountability.moments import MomentHit, evaluate_moments
from services.accountability.outbox import enqueue_correction, enqueue_silence_reminder, enqueue_transition
from services.accountability.ownership import audit, stage_teams, teams
from services.accountability.store import StoredItem, correct_stage, get_feedback, store_batch
from services.accountability.transitions import Transition
from shared.journey import JourneyMap
from shared.models import ClassifiedFeedback, utcnow
from shared.teams import EscalationStep

Clock = Callable[[], datetime]
system_clock: Clock = utcnow


@dataclass
class BatchOutcome:
    """What a stored batch changed, for counters after the commit."""

    stored: list[StoredItem] = field(default_factory=list)
    moments: list[MomentHit] = field(default_factory=list)
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, rule, transition)
    outbox_rows: int = 0


def process_batch(
    *,
    session: Session,
    journey: JourneyMap,
    items: Sequence[ClassifiedFeedback],
    now: datetime,
    alerts_topic: str,
    windows: conditions.WindowCache | None = None,
) -> BatchOutcome:
    """Store the new items, advance moments of truth, apply alert rules and queue deliveries (caller commits)."""
    outcome = BatchOutcome(stored=store_batch(session=session, items=items, stored_at=now))
    if not outcome.stored:
        return outcome
    followups.record_replies(session=session, items=outcome.stored, now=now)
    outcome.moments = evaluate_moments(session=session, journey=journey, items=outcome.stored, now=now)
    changes = alert_rules.evaluate_rules(
        session=session, journey=journey, items=outcome.stored, moments=outcome.moments, now=now, windows=windows
    )
    _announce(session, changes, outcome, alerts_topic, now)
    return outcome


def _announce(
    session: Session, changes: list[Transition], outcome: BatchOutcome, alerts_topic: str, now: datetime
) -> None:
    session.flush()
    for change in changes:
        if change.publish:
            outcome.outbox_rows += enqueue_transition(
                session=session, transition=change, alerts_topic=alerts_topic, now=now
            )
        outcome.transitions.append((change.alert.stage, change.alert.rule_id, change.name))


def housekeeping(
    *,
    session: Session,
    journey: JourneyMap,
    now: datetime,
    auto_resolve_after: timedelta,
    escalate_after: timedelta,
    alerts_topic: str,
    verify_after: timedelta | None = None,
    silence_remind_after: timedelta | None = None,
) -> BatchOutcome:
    """Verify due resolutions, auto-resolve and escalate (a team's escalation chain, else its one escalation
    target), queueing the deliveries; remind creators of silences still in force (caller commits)."""
    all_teams = teams(session=session)
    escalation_of = {}
    chains: dict[str, escalation.Chain] = {}
    for stage in journey.stage_ids:
        accountable, _ = stage_teams(session=session, stage=stage)
        team = all_teams.get(accountable)
        escalation_of[stage] = team.escalation if team else None
        if team is not None and team.chain:
            steps = [EscalationStep.model_validate(step) for step in team.chain]
            members = {str(m.get("name")): str(m.get("contact")) for m in team.members}
            chains[stage] = escalation.Chain(team=team.id, steps=steps, members=members)
    changes = alert_rules.housekeeping(
        session=session,
        journey=journey,
        now=now,
        auto_resolve_after=auto_resolve_after,
        escalate_after=escalate_after,
        escalation_of=escalation_of,
        verify_after_override=verify_after,
        chains=chains,
    )
    outcome = BatchOutcome()
    _announce(session, changes, outcome, alerts_topic, now)
    if silence_remind_after is not None:
        contacts = {str(m.get("name")): str(m.get("contact")) for t in all_teams.values() for m in t.members}
        for silence in silences.silences_to_remind(session=session, now=now, remind_after=silence_remind_after):
            contact = contacts.get(silence.created_by)
            outcome.outbox_rows += enqueue_silence_reminder(
                session=session, silence=silence, contact=contact, alerts_topic=alerts_topic, now=now
            )
            audit(
                session=session,
                actor="journeyline",
                action="silence.reminder",
                subject=f"silence:{silence.id}",
                before={},
                after={
                    "created_by": silence.created_by,
                    "ends_at": silence.ends_at.isoformat(),
                    "contact": bool(contact),
                },
                at=now,
            )
    return outcome


def change_alert(
    *,
    session: Session,
    journey: JourneyMap,
    alert_id: str,
    action: str,
    by: str,
    now: datetime,
    alerts_topic: str,
    code: str | None = None,
    note: str = "",
    followups_topic: str | None = None,
    followups_limit: int = 50,
) -> tuple[Alert, str | None]:
    """Acknowledge or resolve an alert and queue its deliveries; (alert, transition or None if nothing changed).
    A resolution needs a resolution code (and a note for a window alert): `transitions.ResolutionError` otherwise."""
    if action == "ack":
        change = alert_rules.acknowledge(session=session, alert_id=alert_id, by=by, now=now)
    else:
        change = verification.resolve(
            session=session, journey=journey, alert_id=alert_id, by=by, now=now, code=code, note=note
        )
    if change is None:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert, None
    session.flush()
    enqueue_transition(session=session, transition=change, alerts_topic=alerts_topic, now=now)
    if change.name == "resolved" and followups_topic:  # ask the customers behind it whether it is fixed for them
        stage = journey.stage(change.alert.stage)
        followups.request(
            session=session, alert=change.alert, now=now, topic=followups_topic, limit=followups_limit,
            stage_name=stage.name if stage else change.alert.stage,
        )  # fmt: skip
    return change.alert, change.name


@dataclass(frozen=True)
class Correction:
    id: str
    stage: str
    previous_stage: str
    text: str | None
    by: str
    at: datetime


def relabel(
    *, session: Session, feedback_id: str, stage: str, by: str, now: datetime, corrections_topic: str
) -> Correction | None:
    """Set an item's stage by hand and queue the `feedback.corrected` event (caller commits). None: unknown item."""
    item = get_feedback(session=session, feedback_id=feedback_id)
    if item is None:
        return None
    previous = correct_stage(session=session, item=item, stage=stage, by=by, at=now)
    correction = Correction(id=item.id, stage=stage, previous_stage=previous, text=item.text, by=by, at=now)
    data = {
        "id": correction.id,
        "stage": correction.stage,
        "previous_stage": correction.previous_stage,
        "text": correction.text,
        "by": correction.by,
        "at": now.isoformat().replace("+00:00", "Z"),
    }
    enqueue_correction(session=session, data=data, corrections_topic=corrections_topic, now=now)
    return correction
