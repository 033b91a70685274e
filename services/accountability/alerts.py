"""Alerts in the database: the one-alert-per-(stage, rule) invariant, opening and updating them from the rules,
noise control (inhibition, incidents), acknowledgement and the housekeeping round (verification due, auto-resolve,
escalation). The rules are `rules` and `conditions`; resolving is `verification`; chains are `escalation`;
silences are `silences`; what the outbox receives is `transitions`."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.accountability import evidence
from services.accountability.conditions import WindowCache, condition_holds, rules_for
from services.accountability.escalation import Chain, advance_chain, escalate
from services.accountability.models import Alert, columns
from services.accountability.moments import MomentHit
from services.accountability.rules import (
    ACTIVE_STATUSES,
    OPEN_STATUSES,
    WINDOW_KINDS,
    AlertStatus,
    Verification,
    needs_person_to_resolve,
    parse_duration,
)
from services.accountability.silences import active_silence
from services.accountability.store import StoredItem
from services.accountability.transitions import AlertStateError, Transition, get_alert, open_key
from services.accountability.verification import (
    check_resolution,
    close,
    reopen,
    verification_record,
    verified,
    verify_after,
)
from shared.journey import (
    AlertRule,
    JourneyMap,
)


def raise_alert(
    *,
    session: Session,
    stage: str,
    rule: AlertRule,
    title: str,
    details: dict[str, Any],
    now: datetime,
    count: int = 1,
    evidence_ids: Sequence[str] = (),
) -> Transition:
    """Open the (stage, rule) alert, or update the open one: count and last-seen time; and record its evidence
    (`evidence_ids`: the items that triggered an item alert; a window alert's evidence is its rule's window)."""
    key = open_key(stage, rule.id)
    existing = session.execute(select(Alert).where(columns(Alert).open_key == key)).scalars().first()
    if existing is None:
        alert = Alert(
            id=str(uuid.uuid4()),
            stage=stage,
            rule_id=rule.id,
            rule_kind=rule.kind,
            status="open",
            open_key=key,
            title=title,
            count=count,
            silenced=active_silence(session=session, stage=stage, rule_id=rule.id, now=now) is not None,
            opened_at=now,
            last_seen_at=now,
            last_active_at=now,
            details=details,
        )
        evidence.record(
            session=session, alert=alert, rule_params=rule.params, now=now, item_ids=evidence_ids, force=True
        )
        try:
            with session.begin_nested():
                session.add(alert)
        except IntegrityError:  # another consumer opened it first: update that one instead
            existing = session.execute(select(Alert).where(columns(Alert).open_key == key)).scalars().one()
        else:
            return Transition(alert, "opened")
    if existing.status == AlertStatus.resolved_pending_verification:
        # Breached again before its verification: the resolution did not hold. Same alert, reopened.
        existing.count += count
        existing.last_seen_at = existing.last_active_at = now
        existing.details = {**existing.details, **details}
        evidence.record(session=session, alert=existing, rule_params=rule.params, now=now, force=True)
        reason = "the condition held again before the verification was due"
        return reopen(session, existing, Verification("not_recovered", reason, dict(details)), now)
    before = existing.count
    existing.count += count
    existing.last_seen_at = existing.last_active_at = now
    existing.title = title
    existing.details = {**existing.details, **details}
    existing.version += 1
    publish = existing.count.bit_length() > before.bit_length()
    evidence.record(
        session=session, alert=existing, rule_params=rule.params, now=now, item_ids=evidence_ids, announced=publish
    )
    session.add(existing)
    return Transition(existing, "updated", publish=publish)


def evaluate_rules(
    *,
    session: Session,
    journey: JourneyMap,
    items: Sequence[StoredItem],
    moments: Sequence[MomentHit],
    now: datetime,
    windows: WindowCache | None = None,
) -> list[Transition]:
    """Apply the journey map's alert rules to newly stored items and moments; return the transitions."""
    known = set(journey.stage_ids)
    out: list[Transition] = []
    if windows is not None:
        windows.add(items, now)
    cache = windows if windows is not None else WindowCache.single_read()  # each window read once per batch
    by_stage: dict[str, list[StoredItem]] = defaultdict(list)
    for item in items:
        if item.stage in known:
            by_stage[item.stage].append(item)
    for stage, stage_items in by_stage.items():
        critical = [i for i in stage_items if i.severity == "critical"]
        for rule in rules_for(journey, stage, "critical_item") if critical else []:
            details = {"last_feedback_id": critical[-1].id, "critical_items": len(critical)}
            title = f"Critical feedback on {stage}"
            out.append(
                raise_alert(
                    session=session,
                    stage=stage,
                    rule=rule,
                    title=title,
                    details=details,
                    now=now,
                    count=len(critical),
                    evidence_ids=[i.id for i in critical],
                )
            )
        negatives = sum(1 for i in stage_items if i.sentiment_label == "negative")
        for kind in ("negative_share", "volume_spike"):
            for rule in rules_for(journey, stage, kind):
                figures = condition_holds(
                    session=session, journey=journey, stage=stage, rule=rule, now=now, cache=cache
                )
                if figures is None:
                    continue
                title = (
                    f"Negative share {figures['negative_share']:.0%} on {stage}"
                    if kind == "negative_share"
                    else f"Volume spike on {stage}: {figures['volume']} vs {figures['expected']} expected"
                )
                count = negatives if kind == "negative_share" else len(stage_items)
                out.append(
                    raise_alert(
                        session=session,
                        stage=stage,
                        rule=rule,
                        title=title,
                        details=figures,
                        now=now,
                        count=max(count, 1),
                    )
                )
    alerting = {m.id: m for m in journey.moments_of_truth if m.alert}
    per_stage_moments: dict[str, Counter[str]] = defaultdict(Counter)
    for hit in moments:
        if hit.moment_id in alerting:
            per_stage_moments[hit.stage][hit.moment_id] += 1
    for stage, counts in per_stage_moments.items():
        for rule in rules_for(journey, stage, "moment_of_truth"):
            names = ", ".join(alerting[m].name or m for m in counts)
            last = next(h for h in reversed(moments) if h.stage == stage and h.moment_id in alerting)
            details = {"moments": dict(counts), "last_customer": last.customer_id, "last_feedback_id": last.feedback_id}
            out.append(
                raise_alert(
                    session=session,
                    stage=stage,
                    rule=rule,
                    title=f"Moment of truth on {stage}: {names}",
                    details=details,
                    now=now,
                    count=sum(counts.values()),
                    evidence_ids=[h.feedback_id for h in moments if h.stage == stage and h.moment_id in alerting],
                )
            )
    for change in out:
        if change.name == "opened":
            apply_noise_control(session=session, journey=journey, alert=change.alert, now=now)
    return out


def apply_noise_control(*, session: Session, journey: JourneyMap, alert: Alert, now: datetime) -> None:
    """For a newly opened alert: `inhibited_by` the open cause alert an inhibit rule names (it is then recorded
    and published, never delivered to teams); if it is itself a cause, the open symptoms it names are muted from
    now on (what they already sent stays sent); and the incident it shares with alerts that opened on other
    stages within the journey map's incident window."""
    session.flush()
    muting = [r for r in journey.inhibit if r.mute.matches(alert.stage, alert.rule_id)]
    if muting:
        query = select(Alert).where(columns(Alert).status.in_(OPEN_STATUSES), columns(Alert).id != alert.id)
        candidates = list(session.execute(query.order_by(columns(Alert).opened_at)).scalars())
        cause = next(
            (a for a in candidates for r in muting if r.cause.matches(a.stage, a.rule_id) and a.inhibited_by is None),
            None,
        )
        if cause is not None:
            alert.inhibited_by = cause.id
            session.add(alert)
    causing = [r for r in journey.inhibit if r.cause.matches(alert.stage, alert.rule_id)]
    if causing and alert.inhibited_by is None:  # a cause that opens after its symptoms mutes them from now on
        query = select(Alert).where(
            columns(Alert).status.in_(OPEN_STATUSES),
            columns(Alert).id != alert.id,
            columns(Alert).inhibited_by.is_(None),
        )
        for symptom in session.execute(query).scalars():
            if any(r.mute.matches(symptom.stage, symptom.rule_id) for r in causing):
                symptom.inhibited_by = alert.id
                symptom.details = {**symptom.details, "inhibition": {"by": alert.id, "since": now.isoformat()}}
                session.add(symptom)
    if journey.incidents is not None:
        since = now - parse_duration(journey.incidents.window)
        query = select(Alert).where(
            columns(Alert).status.in_(ACTIVE_STATUSES),
            columns(Alert).opened_at >= since,
            columns(Alert).id != alert.id,
        )
        near = list(session.execute(query.order_by(columns(Alert).opened_at)).scalars())
        if any(a.stage != alert.stage for a in near):
            incident = next((a.incident_id for a in near if a.incident_id), None) or str(uuid.uuid4())
            for other in [*near, alert]:
                if other.incident_id is None:
                    other.incident_id = incident
                    session.add(other)


def acknowledge(*, session: Session, alert_id: str, by: str, now: datetime) -> Transition | None:
    """open -> acknowledged; acknowledging twice changes nothing (returns None)."""
    alert = get_alert(session, alert_id)
    if alert.status == "acknowledged":
        return None
    if alert.status != "open":
        raise AlertStateError(f"alert {alert_id} is {alert.status}; only an open alert can be acknowledged")
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", now, by
    alert.version += 1
    session.add(alert)
    return Transition(alert, "acknowledged")


def housekeeping(
    *,
    session: Session,
    journey: JourneyMap,
    now: datetime,
    auto_resolve_after: timedelta,
    escalate_after: timedelta,
    escalation_of: dict[str, str | None],
    verify_after_override: timedelta | None = None,
    chains: dict[str, Chain] | None = None,
) -> list[Transition]:
    """Refresh window conditions; verify resolutions that are due (verified, or reopened and escalated); auto-resolve
    window alerts clear for `auto_resolve_after` (never a critical item); escalate unacknowledged ones."""
    out: list[Transition] = []
    query = select(Alert).where(columns(Alert).status.in_(ACTIVE_STATUSES)).order_by(columns(Alert).opened_at)
    rules = {r.id: r for r in journey.alert_rules}
    for alert in list(session.execute(query).scalars()):
        if alert.status == AlertStatus.resolved_pending_verification:
            assert alert.resolved_at is not None
            if now - alert.resolved_at < verify_after(journey, alert, verify_after_override):
                continue
            verdict = check_resolution(session=session, journey=journey, alert=alert, now=now)
            if verdict.verdict == "recovered":
                out.append(verified(session, alert, verdict, now))
                continue
            if verdict.verdict == "too_little_data":  # wait for enough items to tell; say so on the alert
                alert.details = {**alert.details, "verification": verification_record(verdict, now)}
                session.add(alert)
                continue
            out.append(reopen(session, alert, verdict, now))
            chain = (chains or {}).get(alert.stage)
            if chain is not None and chain.steps:
                out.extend(advance_chain(session, alert, chain, now))
            else:
                out.append(escalate(session, alert, escalation_of, now))
            continue
        rule = rules.get(alert.rule_id)
        if rule is not None and rule.kind in WINDOW_KINDS:
            if condition_holds(session=session, journey=journey, stage=alert.stage, rule=rule, now=now) is not None:
                alert.last_active_at = now
                session.add(alert)
        if not needs_person_to_resolve(alert.rule_kind) and now - alert.last_active_at >= auto_resolve_after:
            out.append(close(session, alert, "auto", now))
            continue
        if alert.status != "open":
            continue  # acknowledged: the chain stops
        if alert.inhibited_by is not None:
            cause = session.get(Alert, alert.inhibited_by)
            if cause is not None and cause.status in OPEN_STATUSES:
                continue  # muted while its cause is open: nobody is paged for a symptom
            lifted = {"by": alert.inhibited_by, "lifted_at": now.isoformat()}
            alert.details = {**alert.details, "inhibition": lifted}
            alert.inhibited_by = None
            session.add(alert)
        chain = (chains or {}).get(alert.stage)
        if chain is not None and chain.steps:
            out.extend(advance_chain(session, alert, chain, now))
        elif alert.escalated_at is None and now - alert.opened_at >= escalate_after:
            out.append(escalate(session, alert, escalation_of, now))
    return out


def list_alerts(
    *, session: Session, status: str | None, stage: str | None, rule_id: str | None, since: datetime | None, limit: int
) -> list[Alert]:
    query = select(Alert).order_by(columns(Alert).opened_at.desc()).limit(limit)
    if status == "active":
        query = query.where(columns(Alert).status.in_(ACTIVE_STATUSES))
    elif status:
        query = query.where(columns(Alert).status == status)
    if stage:
        query = query.where(columns(Alert).stage == stage)
    if rule_id:
        query = query.where(columns(Alert).rule_id == rule_id)
    if since:
        query = query.where(columns(Alert).opened_at >= since)
    return list(session.execute(query).scalars())
