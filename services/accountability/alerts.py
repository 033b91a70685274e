"""Alerts in the database: the one-alert-per-(stage, rule) invariant, the lifecycle (acknowledge, resolve with a
code, verification, reopening), auto-resolve and escalation. The conditions are `rules`; silences `silences`."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.accountability import evidence
from services.accountability.models import Alert, columns
from services.accountability.moments import MomentHit
from services.accountability.rules import (
    ACTIVE_STATUSES,
    OPEN_STATUSES,
    WINDOW_KINDS,
    AlertStatus,
    StageNumbers,
    Verification,
    needs_person_to_resolve,
    negative_share_breach,
    parse_duration,
    verify,
    volume_spike_breach,
)
from services.accountability.scorecard import stage_numbers
from services.accountability.silences import active_silence
from services.accountability.store import StoredItem
from shared.journey import (
    AlertRule,
    EscalationStep,
    HealthThresholds,
    JourneyMap,
    NegativeShareParams,
    VolumeSpikeParams,
)
from shared.models import Kind


class AlertStateError(ValueError):
    """A lifecycle step that does not apply to the alert's current status."""


class ResolutionError(ValueError):
    """A resolution without what it needs: a known resolution code, and a note for a window alert."""


@dataclass(frozen=True)
class Page:
    """Whom one escalation-chain step reaches: a team's receivers, or one member at their contact."""

    step: int  # 1-based, as people count the chain's steps
    team: str  # the chain's team (a member's team), or the team notified
    member: str | None = None
    contact: str | None = None
    repeat: int = 0  # 0: the step itself; n: its n-th repetition

    @property
    def to(self) -> str:
        return self.member if self.member is not None else self.team


@dataclass(frozen=True)
class Transition:
    alert: Alert
    name: str  # opened | updated | acknowledged | escalated | resolved | verified | reopened
    publish: bool = True  # `updated` is published only when the count doubles, not on every repeat
    page: Page | None = None  # an escalation-chain step: delivered only to the step's team or member


def open_key(stage: str, rule_id: str) -> str:
    return f"{stage}:{rule_id}"


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
        session=session, alert=existing, rule_params=rule.params, now=now, item_ids=evidence_ids, force=publish
    )
    session.add(existing)
    return Transition(existing, "updated", publish=publish)


def _rules_for(journey: JourneyMap, stage: str, kind: str) -> list[AlertRule]:
    return [r for r in journey.alert_rules if r.kind == kind and (r.stage is None or r.stage == stage)]


def _thresholds(journey: JourneyMap, stage: str) -> HealthThresholds:
    found = journey.stage(stage)
    return found.health if found else HealthThresholds()


class WindowCache:
    """Window aggregates for the alert rules, kept by one consumer process from batch to batch.

    The figures are read from the database (its per-minute roll-ups) at most once per `ttl` of the clock; in
    between, the items this process stores are added to them. Rows written by another process, corrections and
    rows sliding out of the window show at the next refresh, at most `ttl` later.
    """

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[timedelta, timedelta], tuple[datetime, dict[str, StageNumbers]]] = {}

    @classmethod
    def single_read(cls) -> WindowCache:
        """A cache that reads each window once and keeps it: for one batch, or one check, at a single `now`."""
        return cls(ttl=timedelta.max)

    def clear(self) -> None:
        """Forget everything (after a failed transaction: its items were never stored)."""
        self._entries.clear()

    def add(self, items: Sequence[StoredItem], now: datetime) -> None:
        """Count newly stored items into every window that holds them."""
        for (length, offset), (at, numbers) in self._entries.items():
            start, end = at - offset - length, now - offset
            for item in items:
                occurred = item.occurred_at if item.occurred_at.tzinfo else item.occurred_at.replace(tzinfo=UTC)
                if item.kind == Kind.journey_event.value or not start < occurred <= end:
                    continue
                before = numbers.get(item.stage, StageNumbers())
                numbers[item.stage] = replace(
                    before, volume=before.volume + 1, negative=before.negative + (item.sentiment_label == "negative")
                )

    def numbers(self, session: Session, now: datetime, length: timedelta, offset: timedelta) -> dict[str, StageNumbers]:
        """Every stage's numbers for (now - offset - length, now - offset]."""
        entry = self._entries.get((length, offset))
        if entry is None or now < entry[0] or now - entry[0] >= self.ttl:
            entry = (now, stage_numbers(session=session, start=now - offset - length, end=now - offset))
            self._entries[(length, offset)] = entry
        return entry[1]


def condition_holds(
    *,
    session: Session,
    journey: JourneyMap,
    stage: str,
    rule: AlertRule,
    now: datetime,
    cache: WindowCache | None = None,
) -> dict[str, Any] | None:
    """For window rules: the figures when the condition holds now, else None (without a cache: read now)."""
    windows = cache if cache is not None else WindowCache.single_read()
    window = parse_duration(rule.params.get("window", "1h"))
    current = windows.numbers(session, now, window, timedelta(0)).get(stage, StageNumbers())
    if rule.kind == "negative_share":
        return negative_share_breach(
            current, NegativeShareParams.model_validate(rule.params), _thresholds(journey, stage)
        )
    if rule.kind == "volume_spike":
        params = VolumeSpikeParams.model_validate(rule.params)
        base = windows.numbers(session, now, parse_duration(params.baseline), window).get(stage, StageNumbers())
        return volume_spike_breach(current, base, params)
    return None


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
        for rule in _rules_for(journey, stage, "critical_item") if critical else []:
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
            for rule in _rules_for(journey, stage, kind):
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
        for rule in _rules_for(journey, stage, "moment_of_truth"):
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
    and published, never delivered to teams), and the incident it shares with alerts that opened on other stages
    within the journey map's incident window."""
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
    alert = _get(session, alert_id)
    if alert.status == "acknowledged":
        return None
    if alert.status != "open":
        raise AlertStateError(f"alert {alert_id} is {alert.status}; only an open alert can be acknowledged")
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", now, by
    alert.version += 1
    session.add(alert)
    return Transition(alert, "acknowledged")


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
    alert = _get(session, alert_id)
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
        return _resolve(session, alert, by, now)
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
    alert.details = {**alert.details, "reopened": history, "verification": _verification(verdict, now)}
    alert.status = AlertStatus.open.value
    alert.acknowledged_at = alert.acknowledged_by = None
    alert.resolved_at = alert.resolved_by = None
    alert.escalated_at = alert.escalated_to = None
    alert.details = {**alert.details, "escalation": {"since": now.isoformat(), "next": 0}}
    alert.last_active_at = now
    alert.version += 1
    session.add(alert)
    return Transition(alert, "reopened")


def _verification(verdict: Verification, now: datetime) -> dict[str, Any]:
    return {"verdict": verdict.verdict, "reason": verdict.reason, "figures": verdict.figures, "at": now.isoformat()}


def _verified(session: Session, alert: Alert, verdict: Verification, now: datetime) -> Transition:
    alert.details = {**alert.details, "verification": _verification(verdict, now)}
    alert.status, alert.open_key = AlertStatus.verified.value, None
    alert.version += 1
    session.add(alert)
    return Transition(alert, "verified")


def _resolve(session: Session, alert: Alert, by: str, now: datetime) -> Transition:
    alert.status, alert.resolved_at, alert.resolved_by, alert.open_key = "resolved", now, by, None
    alert.version += 1
    session.add(alert)
    return Transition(alert, "resolved")


def _get(session: Session, alert_id: str) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise KeyError(alert_id)
    return alert


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
                out.append(_verified(session, alert, verdict, now))
                continue
            if verdict.verdict == "too_little_data":  # wait for enough items to tell; say so on the alert
                alert.details = {**alert.details, "verification": _verification(verdict, now)}
                session.add(alert)
                continue
            out.append(reopen(session, alert, verdict, now))
            chain = (chains or {}).get(alert.stage)
            if chain is not None and chain.steps:
                out.extend(advance_chain(session, alert, chain, now))
            else:
                out.append(_escalate(session, alert, escalation_of, now))
            continue
        rule = rules.get(alert.rule_id)
        if rule is not None and rule.kind in WINDOW_KINDS:
            if condition_holds(session=session, journey=journey, stage=alert.stage, rule=rule, now=now) is not None:
                alert.last_active_at = now
                session.add(alert)
        if not needs_person_to_resolve(alert.rule_kind) and now - alert.last_active_at >= auto_resolve_after:
            out.append(_resolve(session, alert, "auto", now))
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
            out.append(_escalate(session, alert, escalation_of, now))
    return out


@dataclass(frozen=True)
class Chain:
    """The escalation chain of a stage's accountable team: its steps and its members' contacts."""

    team: str
    steps: Sequence[EscalationStep]
    members: dict[str, str]  # name -> contact


MAX_ESCALATION_HISTORY = 50


def advance_chain(session: Session, alert: Alert, chain: Chain, now: datetime) -> list[Transition]:
    """Take the chain's next due step of an unacknowledged alert (at most one per call, in order), or repeat the
    last one taken. Steps count `after` from the alert's opening (or its reopening). A step outside its working
    hours waits for them (`outside: wait`, the default; the steps after it wait too) or is passed by (`skip`).
    Progress lives in `details["escalation"]`."""
    state = dict(alert.details.get("escalation") or {})
    since = datetime.fromisoformat(state["since"]) if state.get("since") else alert.opened_at
    index = int(state.get("next", 0))
    history = list(state.get("history", []))
    page: Page | None = None
    while index < len(chain.steps):
        step = chain.steps[index]
        if now < since + parse_duration(step.after):
            break
        hours = step.only_within
        if hours is not None and not hours.contains(now):
            if step.outside == "skip":
                history.append({"step": index + 1, "skipped": "outside working hours", "at": now.isoformat()})
                index += 1
                continue
            state["waiting"] = {"step": index + 1, "until": hours.next_start(now).isoformat()}
            break
        page = _page(chain, step, index, 0)
        index += 1
        state["last"] = {"step": index, "at": now.isoformat(), "repeats": 0}
        break
    if page is None and state.get("last") and index == int(state["last"]["step"]):
        last = state["last"]
        taken = chain.steps[last["step"] - 1] if last["step"] <= len(chain.steps) else None
        if taken is not None and taken.repeat is not None:
            due = datetime.fromisoformat(last["at"]) + parse_duration(taken.repeat) * (1 + int(last["repeats"]))
            in_hours = taken.only_within is None or taken.only_within.contains(now)
            if now >= due and in_hours:
                state["last"] = {**last, "repeats": int(last["repeats"]) + 1}
                page = _page(chain, taken, last["step"] - 1, int(last["repeats"]) + 1)
    state["next"], state["since"] = index, since.isoformat()
    if page is None:
        if state != alert.details.get("escalation"):
            alert.details = {**alert.details, "escalation": {**state, "history": history[-MAX_ESCALATION_HISTORY:]}}
            session.add(alert)
        return []
    state.pop("waiting", None)
    history.append({"step": page.step, "to": page.to, "repeat": page.repeat, "at": now.isoformat()})
    alert.details = {**alert.details, "escalation": {**state, "history": history[-MAX_ESCALATION_HISTORY:]}}
    alert.escalated_at = alert.escalated_at or now
    alert.escalated_to = page.to[:200]
    alert.version += 1
    session.add(alert)
    return [Transition(alert, "escalated", page=page)]


def _page(chain: Chain, step: EscalationStep, index: int, repeat: int) -> Page:
    if step.notify.member is not None:
        member = step.notify.member
        return Page(index + 1, chain.team, member=member, contact=chain.members.get(member), repeat=repeat)
    return Page(index + 1, step.notify.team or chain.team, repeat=repeat)


def _escalate(session: Session, alert: Alert, escalation_of: dict[str, str | None], now: datetime) -> Transition:
    alert.escalated_at = now
    alert.escalated_to = escalation_of.get(alert.stage) or None
    alert.version += 1
    session.add(alert)
    return Transition(alert, "escalated")


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
