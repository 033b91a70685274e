"""Resolution with proof: a person resolves with a code (and a note, for a window alert); after `verify_after` the
stage's own figures decide whether the alert is verified or reopened. A quiet stage proves nothing either way."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from services.accountability.conditions import condition_holds
from services.accountability.models import Alert
from services.accountability.rules import (
    OPEN_STATUSES,
    WINDOW_KINDS,
    AlertStatus,
    StageNumbers,
    Verification,
    parse_duration,
    verify,
)
from services.accountability.scorecard import stage_numbers
from services.accountability.transitions import AlertStateError, ResolutionError, Transition, get_alert
from shared.journey import JourneyMap


def resolve(
    *,
    session: Session,
    journey: JourneyMap,
    alert_id: str,
    by: str,
    now: datetime,
    code: str | None,
    note: str = "",
) -> Transition:
    """A person resolves an open or acknowledged alert, with a resolution code (and a note, for a window alert).

    A window alert then waits in `resolved_pending_verification`, keeping its (stage, rule) slot, until
    `verify_due` says its stage's figures are due to be compared with the baseline before it opened. Any other
    alert is `resolved` at once and frees the slot."""
    alert = get_alert(session, alert_id)
    if alert.status not in OPEN_STATUSES:
        raise AlertStateError(f"alert {alert_id} is already {alert.status}")
    codes = journey.resolution_codes
    if code not in codes:
        raise ResolutionError(f"code: give one of {', '.join(codes)} (the journey map's resolution codes)")
    window_alert = alert.rule_kind in WINDOW_KINDS
    if window_alert and not note.strip():
        raise ResolutionError("note: say what was done; a window alert is verified against it later")
    resolution = {"code": code, "note": note.strip(), "by": by, "at": now.isoformat()}
    if not window_alert:
        alert.details = {**alert.details, "resolution": resolution}
        return close(session, alert, by, now)
    alert.details = {**alert.details, "resolution": resolution, "baseline": _baseline(session, journey, alert)}
    alert.status, alert.resolved_at, alert.resolved_by = AlertStatus.resolved_pending_verification.value, now, by
    alert.version += 1
    session.add(alert)
    return Transition(alert, "resolved")


def _window_of(journey: JourneyMap, alert: Alert) -> timedelta:
    rule = next((r for r in journey.alert_rules if r.id == alert.rule_id), None)
    return parse_duration(rule.params.get("window", "1h") if rule else "1h")


def _baseline(session: Session, journey: JourneyMap, alert: Alert) -> dict[str, Any]:
    """The stage's figures over the rule's window just before the one that opened the alert."""
    window = _window_of(journey, alert)
    end = alert.opened_at - window
    numbers = stage_numbers(session=session, start=end - window, end=end, stage=alert.stage).get(alert.stage)
    numbers = numbers or StageNumbers()
    return {
        "start": (end - window).isoformat(),
        "end": end.isoformat(),
        "volume": numbers.volume,
        "negative": numbers.negative,
    }


def verify_after(journey: JourneyMap, alert: Alert, override: timedelta | None) -> timedelta:
    """How long after its resolution a window alert is verified: the setting if given, else the rule's
    `verify_after`, else four windows of the rule."""
    if override is not None:
        return override
    rule = next((r for r in journey.alert_rules if r.id == alert.rule_id), None)
    if rule is not None and rule.params.get("verify_after"):
        return parse_duration(rule.params["verify_after"])
    return 4 * _window_of(journey, alert)


def check_resolution(*, session: Session, journey: JourneyMap, alert: Alert, now: datetime) -> Verification:
    """The verdict on a pending resolution now: the rule's window ending now against the recorded baseline."""
    rule = next((r for r in journey.alert_rules if r.id == alert.rule_id), None)
    if rule is None:  # the rule left the map: nothing left to measure, so nothing can be proved
        return Verification("recovered", f"rule {alert.rule_id!r} is no longer in the journey map", {})
    window = _window_of(journey, alert)
    breach = condition_holds(session=session, journey=journey, stage=alert.stage, rule=rule, now=now)
    current = stage_numbers(session=session, start=now - window, end=now, stage=alert.stage).get(alert.stage)
    base = alert.details.get("baseline") or {}
    baseline = StageNumbers(volume=int(base.get("volume", 0)), negative=int(base.get("negative", 0)))
    min_volume = int(rule.params.get("min_volume", 20))
    return verify(
        alert.rule_kind, breach=breach, current=current or StageNumbers(), baseline=baseline, min_volume=min_volume
    )


def reopen(session: Session, alert: Alert, verdict: Verification, now: datetime) -> Transition:
    """The resolution did not hold: the same alert opens again, unacknowledged and due for escalation at once."""
    history = list(alert.details.get("reopened", []))
    history.append({"at": now.isoformat(), "reason": verdict.reason, "resolution": alert.details.get("resolution")})
    alert.details = {**alert.details, "reopened": history, "verification": verification_record(verdict, now)}
    alert.status = AlertStatus.open.value
    alert.acknowledged_at = alert.acknowledged_by = None
    alert.resolved_at = alert.resolved_by = None
    alert.escalated_at = alert.escalated_to = None
    # The escalation chain starts over from its first step, its `after` counted from the reopening; who was paged
    # before stays in the history.
    earlier = list((alert.details.get("escalation") or {}).get("history", []))
    alert.details = {**alert.details, "escalation": {"since": now.isoformat(), "next": 0, "history": earlier}}
    alert.last_active_at = now
    alert.version += 1
    session.add(alert)
    return Transition(alert, "reopened")


def verification_record(verdict: Verification, now: datetime) -> dict[str, Any]:
    return {"verdict": verdict.verdict, "reason": verdict.reason, "figures": verdict.figures, "at": now.isoformat()}


def verified(session: Session, alert: Alert, verdict: Verification, now: datetime) -> Transition:
    alert.details = {**alert.details, "verification": verification_record(verdict, now)}
    alert.status, alert.open_key = AlertStatus.verified.value, None
    alert.version += 1
    session.add(alert)
    return Transition(alert, "verified")


def close(session: Session, alert: Alert, by: str, now: datetime) -> Transition:
    alert.status, alert.resolved_at, alert.resolved_by, alert.open_key = "resolved", now, by, None
    alert.version += 1
    session.add(alert)
    return Transition(alert, "resolved")
