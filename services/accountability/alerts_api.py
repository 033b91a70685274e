"""Thin routers for alerts (list, acknowledge, resolve), silences and moments of truth."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.accountability import alerts, evidence, metrics, moments, outbox, search, silences, transitions
from services.accountability.api import feedback_public
from services.accountability.deps import OperatorDep, ReaderDep, RuntimeDep, SessionDep, storable_id
from services.accountability.models import Alert, Silence, StageOwnership
from services.accountability.ownership import all_owners, audit, stage_teams
from services.accountability.schemas import (
    AlertAction,
    AlertEvidence,
    AlertOwners,
    AlertPublic,
    DeliveryPage,
    DeliveryRecord,
    DeliveryState,
    EvidencePage,
    MomentPublic,
    SilenceCreate,
    SilencePublic,
)
from services.accountability.service import change_alert
from shared.http import Problem

router = APIRouter(prefix="/v1")
Status = Literal["open", "acknowledged", "resolved_pending_verification", "verified", "resolved", "active"]
LARGEST_ID = 2**62  # outbox ids are 64-bit on PostgreSQL: a larger `after` is refused before it reaches the query


def alert_public(
    session: Session,
    alert: Alert,
    *,
    owners: dict[str, StageOwnership] | None = None,
    deliveries: bool = False,
) -> AlertPublic:
    """The alert with who owns its stage (now), its recorded evidence and, on request, its delivery states."""
    public = AlertPublic.model_validate(alert, from_attributes=True)
    if owners is not None:
        row = owners.get(alert.stage) or owners.get("unassigned")
        accountable, contributing = (row.accountable, list(row.contributing)) if row else ("", [])
    else:
        accountable, contributing = stage_teams(session=session, stage=alert.stage)
    public.owners = AlertOwners(accountable=accountable, contributing=contributing)
    public.details = evidence.public_details(alert.details)
    recorded = evidence.of(alert)
    if recorded is not None:
        try:
            public.evidence = AlertEvidence.model_validate(recorded)
        except ValidationError:  # a summary of an older shape: the evidence route still lists the items
            public.evidence = None
    if deliveries:
        public.deliveries = [
            DeliveryState.model_validate(s) for s in outbox.delivery_states(session=session, alert_id=alert.id)
        ]
    return public


@router.get(
    "/alerts",
    tags=["alerts"],
    summary="Alerts, newest first; status=active: open, acknowledged or awaiting verification",
)
def list_alerts(
    session: SessionDep,
    _: ReaderDep,
    status: Annotated[Status | None, Query()] = None,
    stage: Annotated[str | None, Query(max_length=64)] = None,
    rule: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertPublic]:
    found = alerts.list_alerts(session=session, status=status, stage=stage, rule_id=rule, since=since, limit=limit)
    owners = all_owners(session=session)
    return [alert_public(session, a, owners=owners) for a in found]


def _alert(session: Session, alert_id: str) -> Alert:
    known = storable_id(alert_id, longest=36)
    alert = session.get(Alert, known) if known else None
    if alert is None:
        raise Problem(404, "Unknown alert", f"no alert with id {alert_id!r}")
    return alert


@router.get("/alerts/{alert_id}", tags=["alerts"], summary="An alert: who owns it, why it fired, where it was sent")
def get_alert(alert_id: str, session: SessionDep, _: ReaderDep) -> AlertPublic:
    return alert_public(session, _alert(session, alert_id), deliveries=True)


@router.get("/alerts/{alert_id}/evidence", tags=["alerts"], summary="The items behind an alert, newest first, in pages")
def get_evidence(
    alert_id: str,
    session: SessionDep,
    _: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EvidencePage:
    """A window alert: its stage's items that occurred in the rule's window as of the alert's last evaluation
    (`window_start`, `window_end`]. An item alert (critical item, moment of truth): the items that triggered it.
    Pass `next_cursor` as `cursor` until it is null."""
    alert = _alert(session, alert_id)
    start, end, _ids = evidence.scope(alert)
    query = search.FeedbackQuery(since=start, until=end)  # the stage, if any, is in evidence.clauses
    try:
        rows, next_cursor = search.page(
            session=session, query=query, limit=limit, cursor=cursor, order="newest", extra=evidence.clauses(alert)
        )
    except search.SearchError as exc:
        raise Problem(422, "Invalid cursor", str(exc)) from None
    return EvidencePage(
        alert_id=alert.id,
        stage=alert.stage,
        rule_kind=alert.rule_kind,
        window_start=start,
        window_end=end,
        items=[feedback_public(r) for r in rows],
        next_cursor=next_cursor,
    )


@router.get("/alerts/{alert_id}/deliveries", tags=["alerts"], summary="An alert's notification history, oldest first")
def get_deliveries(
    alert_id: str,
    session: SessionDep,
    _: ReaderDep,
    after: Annotated[int, Query(ge=0, le=LARGEST_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryPage:
    """Every notification of the alert: which transition went to which team's receiver (or the `cx.alerts`
    topic, team `*`), when it was queued, attempts, the last error and when it was delivered. Slack URLs show
    only their host; secrets never show. Pass `next_after` as `after` until it is null."""
    alert = _alert(session, alert_id)
    rows = outbox.history(session=session, alert_id=alert.id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(
        alert_id=alert.id,
        items=[DeliveryRecord.model_validate(outbox.record_public(r)) for r in rows],
        next_after=(rows[-1].id if more and rows else None),
    )


def _act(
    action: str, alert_id: str, body: AlertAction | None, runtime: RuntimeDep, session: Session, actor: str
) -> AlertPublic:
    _alert(session, alert_id)
    by = (body.by if body and body.by else None) or actor
    now = runtime.clock()
    try:
        alert, transition = change_alert(
            session=session,
            journey=runtime.journey,
            alert_id=alert_id,
            action=action,
            by=by,
            now=now,
            alerts_topic=runtime.topics.alerts,
            code=body.code if body else None,
            note=body.note if body else "",
            followups_topic=runtime.topics.followups if runtime.settings.followups_per_alert else None,
            followups_limit=runtime.settings.followups_per_alert,
        )
    except transitions.AlertStateError as exc:
        raise Problem(409, "Alert state conflict", str(exc)) from exc
    except transitions.ResolutionError as exc:
        raise Problem(422, "Resolution incomplete", str(exc)) from exc
    if transition is not None:
        note = body.note if body else ""
        audit(
            session=session,
            actor=actor,
            action=f"alert.{action}",
            subject=f"alert:{alert_id}",
            before={},
            after={"by": by, "note": note, **({"code": body.code} if body and body.code else {})},
            at=now,
        )
    try:
        session.commit()
    except IntegrityError as exc:  # the same transition was recorded by a concurrent request
        session.rollback()
        raise Problem(
            409, "Alert state conflict", "the alert changed at the same moment; read it again and retry"
        ) from exc
    if transition is not None:
        metrics.ALERTS.labels(metrics.stage_label(alert.stage, runtime.journey), alert.rule_id, transition).inc()
        if transition == "acknowledged" and alert.acknowledged_at:
            metrics.ALERT_TIME_TO_ACK.labels(metrics.stage_label(alert.stage, runtime.journey)).observe(
                (alert.acknowledged_at - alert.opened_at).total_seconds()
            )
        runtime.dispatcher.notify()
    return alert_public(session, alert)


@router.post("/alerts/{alert_id}/ack", tags=["alerts"], summary="Acknowledge an open alert")
def acknowledge(
    alert_id: str, runtime: RuntimeDep, session: SessionDep, actor: OperatorDep, body: AlertAction | None = None
) -> AlertPublic:
    return _act("ack", alert_id, body, runtime, session, actor)


@router.post("/alerts/{alert_id}/resolve", tags=["alerts"], summary="Resolve an alert with a code (verified later)")
def resolve(
    alert_id: str, runtime: RuntimeDep, session: SessionDep, actor: OperatorDep, body: AlertAction | None = None
) -> AlertPublic:
    """`code` is one of the journey map's resolution codes; a window alert also needs a `note` saying what was
    done. It then waits in `resolved_pending_verification` until its stage is checked: recovered -> `verified`,
    still breached -> reopened, escalated and delivered again."""
    return _act("resolve", alert_id, body, runtime, session, actor)


def _silence_public(s: Silence, now: datetime) -> SilencePublic:
    return SilencePublic(
        id=s.id,
        stage=s.stage,
        rule_id=s.rule_id,
        reason=s.reason,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        created_by=s.created_by,
        active=silences.silence_covers(s, now),
        rrule=s.rrule,
        occurrence_s=s.duration_s,
        reminded_at=s.reminded_at,
    )


@router.get("/silences", tags=["silences"])
def list_silences(
    runtime: RuntimeDep, session: SessionDep, _: ReaderDep, active: Annotated[bool, Query()] = False
) -> list[SilencePublic]:
    now = runtime.clock()
    return [_silence_public(s, now) for s in silences.list_silences(session=session, active_at=now if active else None)]


@router.post(
    "/silences", tags=["silences"], status_code=201, summary="Mute deliveries for a stage and/or rule until an end time"
)
def create_silence(body: SilenceCreate, runtime: RuntimeDep, session: SessionDep, actor: OperatorDep) -> SilencePublic:
    if body.stage and body.stage not in runtime.journey.stage_ids:
        raise Problem(422, "Unknown stage", f"no stage {body.stage!r}")
    if body.rule_id and body.rule_id not in {r.id for r in runtime.journey.alert_rules}:
        raise Problem(422, "Unknown rule", f"no alert rule {body.rule_id!r}")
    now = runtime.clock()
    starts_at = max(body.starts_at, now) if body.starts_at else now
    if starts_at > now + timedelta(days=90):
        raise Problem(422, "Invalid silence", "a silence starts within 90 days")
    if body.rrule is not None:
        try:
            silence = silences.create_silence(
                session=session,
                stage=body.stage,
                rule_id=body.rule_id,
                ends_at=body.ends_at,
                reason=body.reason,
                by=actor,
                now=now,
                starts_at=starts_at,
                rrule=body.rrule,
                duration=timedelta(seconds=body.occurrence_s or 0),
            )
        except silences.RecurrenceError as exc:
            raise Problem(422, "Invalid silence", str(exc)) from None
        if silence.ends_at <= now:
            session.expunge(silence)
            raise Problem(422, "Invalid silence", "ends_at must be in the future")
    else:
        ends_at = body.ends_at or starts_at + timedelta(seconds=body.duration_s or 0)
        if ends_at <= starts_at:
            raise Problem(422, "Invalid silence", "ends_at must be after the start (and in the future)")
        if ends_at > starts_at + timedelta(days=90):
            raise Problem(422, "Invalid silence", "a silence lasts at most 90 days")
        silence = silences.create_silence(
            session=session,
            stage=body.stage,
            rule_id=body.rule_id,
            ends_at=ends_at,
            reason=body.reason,
            by=actor,
            now=now,
            starts_at=starts_at,
        )
    audit(
        session=session,
        actor=actor,
        action="silence.create",
        subject=f"silence:{silence.id}",
        before={},
        after=body.model_dump(mode="json"),
        at=now,
    )
    session.commit()
    return _silence_public(silence, now)


@router.delete("/silences/{silence_id}", tags=["silences"], status_code=204, summary="Remove a silence")
def delete_silence(silence_id: str, runtime: RuntimeDep, session: SessionDep, actor: OperatorDep) -> None:
    known = storable_id(silence_id, longest=36)
    silence = session.get(Silence, known) if known else None
    if silence is None:
        raise Problem(404, "Unknown silence", f"no silence with id {silence_id!r}")
    session.delete(silence)
    audit(
        session=session,
        actor=actor,
        action="silence.delete",
        subject=f"silence:{silence_id}",
        before={"stage": silence.stage, "rule_id": silence.rule_id},
        after={},
        at=runtime.clock(),
    )
    session.commit()


@router.get("/moments", tags=["moments of truth"], summary="Moments of truth that occurred, newest first")
def list_moments(
    session: SessionDep,
    _: ReaderDep,
    customer: Annotated[str | None, Query(max_length=200)] = None,
    moment: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MomentPublic]:
    found = moments.occurrences(session=session, customer_id=customer, moment_id=moment, limit=limit)
    return [MomentPublic.model_validate(m, from_attributes=True) for m in found]
