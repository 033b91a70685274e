"""Thin routers: stages and owners, scorecards and the journey view, feedback and corrections, teams, audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.accountability import digest, ownership, scorecard
from services.accountability.deps import AdminDep, OperatorDep, ReaderDep, RuntimeDep, SessionDep, storable_id
from services.accountability.models import FeedbackItem, StageOwnership, Team
from services.accountability.privacy import ErasureReceipt, erase_customer
from services.accountability.receivers import UnsafeReceiver, check_receiver
from services.accountability.schemas import (
    AuditPublic,
    CorrectionResult,
    FeedbackPublic,
    JourneyView,
    OwnersUpdate,
    Resolutions,
    Scorecard,
    StageCorrection,
    StagePublic,
    TeamPublic,
    TeamUpdate,
    Window,
)
from services.accountability.service import relabel
from shared.http import Problem
from shared.journey import HealthThresholds

router = APIRouter(prefix="/v1")


def _stage_public(runtime: RuntimeDep, stage_id: str, own: StageOwnership | None) -> StagePublic:
    stage = runtime.journey.stage(stage_id)
    return StagePublic(
        id=stage_id,
        name=stage.name if stage else "Unassigned (triage)",
        order=stage.order if stage else len(runtime.journey.stages) + 1,
        description=stage.description if stage else "Items below the confidence threshold, for the triage team",
        health=stage.health if stage else HealthThresholds(),
        accountable=own.accountable if own else "",
        contributing=list(own.contributing) if own else [],
    )


def _known_stage(runtime: RuntimeDep, stage: str) -> None:
    if stage not in runtime.journey.stage_ids:
        raise Problem(404, "Unknown stage", f"no stage {stage!r}; known: {', '.join(runtime.journey.stage_ids)}")


@router.get("/stages", tags=["stages"], summary="Stages in journey order with their owners")
def list_stages(runtime: RuntimeDep, session: SessionDep, _: ReaderDep) -> list[StagePublic]:
    owners = ownership.all_owners(session=session)
    return [_stage_public(runtime, s, owners.get(s)) for s in runtime.journey.stage_ids]


@router.get("/stages/{stage}", tags=["stages"])
def get_stage(stage: str, runtime: RuntimeDep, session: SessionDep, _: ReaderDep) -> StagePublic:
    _known_stage(runtime, stage)
    return _stage_public(runtime, stage, ownership.owners_of(session=session, stage=stage))


@router.put("/stages/{stage}/owners", tags=["stages"], summary="Set the accountable and contributing teams (audited)")
def set_owners(
    stage: str, body: OwnersUpdate, runtime: RuntimeDep, session: SessionDep, actor: AdminDep
) -> StagePublic:
    _known_stage(runtime, stage)
    try:
        row = ownership.set_owners(
            session=session,
            journey=runtime.journey,
            stage=stage,
            accountable=body.accountable,
            contributing=body.contributing,
            by=actor,
            at=runtime.clock(),
        )
    except ownership.OwnershipError as exc:
        raise Problem(422, "Invalid owners", str(exc)) from exc
    session.commit()
    return _stage_public(runtime, stage, row)


@router.get("/stages/{stage}/scorecard", tags=["scorecards"], summary="The stage's shared scorecard over a window")
def get_scorecard(
    stage: str, runtime: RuntimeDep, session: SessionDep, _: ReaderDep, window: Annotated[Window, Query()] = "24h"
) -> Scorecard:
    _known_stage(runtime, stage)
    card = scorecard.scorecard(
        session=session, journey=runtime.journey, stage=stage, window=window, now=runtime.clock()
    )
    assert card is not None
    return card


@router.get("/journey", tags=["scorecards"], summary="Every stage in order with its scorecard and health colour")
def get_journey(
    runtime: RuntimeDep, session: SessionDep, _: ReaderDep, window: Annotated[Window, Query()] = "24h"
) -> JourneyView:
    return scorecard.journey_view(session=session, journey=runtime.journey, window=window, now=runtime.clock())


def feedback_public(item: FeedbackItem) -> FeedbackPublic:
    data: dict[str, Any] = item.data or {}
    return FeedbackPublic(
        id=item.id,
        source=item.source,
        channel=item.channel,
        kind=item.kind,
        external_id=item.external_id,
        customer_id=item.customer_id,
        stage=item.stage,
        original_stage=item.original_stage,
        corrected_by=item.corrected_by,
        corrected_at=item.corrected_at,
        occurred_at=item.occurred_at,
        received_at=item.received_at,
        stored_at=item.stored_at,
        text=item.text,
        scores=data.get("scores") or {},
        metadata=data.get("metadata") or {},
        classification=data.get("classification") or {},
    )


@router.get("/feedback/{feedback_id}", tags=["feedback"], summary="A stored item with its classification")
def get_feedback(feedback_id: str, session: SessionDep, _: ReaderDep) -> FeedbackPublic:
    known = storable_id(feedback_id)
    item = session.get(FeedbackItem, known) if known else None
    if item is None:
        raise Problem(404, "Unknown feedback", f"no stored feedback with id {feedback_id!r}")
    return feedback_public(item)


@router.post("/feedback/{feedback_id}/stage", tags=["feedback"], summary="Relabel an item's stage (a correction)")
def correct_feedback_stage(
    feedback_id: str, body: StageCorrection, runtime: RuntimeDep, session: SessionDep, actor: OperatorDep
) -> CorrectionResult:
    if body.stage not in runtime.journey.stage_ids:
        raise Problem(
            422, "Unknown stage", f"{body.stage!r} is not a stage; known: {', '.join(runtime.journey.stage_ids)}"
        )
    by = body.by or actor
    if storable_id(feedback_id) is None:
        raise Problem(404, "Unknown feedback", "no stored feedback has such an id")
    correction = relabel(
        session=session,
        feedback_id=feedback_id,
        stage=body.stage,
        by=by,
        now=runtime.clock(),
        corrections_topic=runtime.topics.corrections,
    )
    if correction is None:
        raise Problem(404, "Unknown feedback", f"no stored feedback with id {feedback_id!r}")
    ownership.audit(
        session=session,
        actor=actor,
        action="feedback.relabel",
        subject=f"feedback:{feedback_id}",
        before={"stage": correction.previous_stage},
        after={"stage": correction.stage, "by": by},
        at=correction.at,
    )
    session.commit()
    runtime.dispatcher.notify()
    return CorrectionResult(
        id=correction.id, stage=correction.stage, previous_stage=correction.previous_stage, by=by, at=correction.at
    )


def _team_public(team: Team) -> TeamPublic:
    return TeamPublic(
        id=team.id,
        name=team.name,
        escalation=team.escalation,
        receivers=ownership.redact_receivers(team.receivers),
        members=ownership.redact_members(team.members),
        chain=list(team.chain),
        updated_at=team.updated_at,
    )


@router.get("/teams", tags=["teams"], summary="Teams with their receivers (secrets hidden)")
def list_teams(session: SessionDep, _: ReaderDep) -> list[TeamPublic]:
    return [_team_public(t) for t in ownership.teams(session=session).values()]


@router.put("/teams/{team_id}", tags=["teams"], summary="Create a team or change its receivers / escalation (audited)")
def put_team(team_id: str, body: TeamUpdate, runtime: RuntimeDep, session: SessionDep, actor: AdminDep) -> TeamPublic:
    if not team_id.replace("-", "").replace("_", "").isalnum() or len(team_id) > 100:
        raise Problem(422, "Invalid team id", "a team id is letters, digits, '-' and '_' (at most 100)")
    policy = runtime.settings.receiver_policy()
    for receiver in body.receivers or []:
        if receiver.url and receiver.type in ("webhook", "slack"):
            try:
                check_receiver(receiver.url, policy)
            except UnsafeReceiver as exc:
                raise Problem(422, "Receiver refused", f"{receiver.type} receiver: {exc}") from None
    for member in body.members or []:  # a member's webhook or Slack contact is checked like a receiver
        if member.contact.startswith(("http://", "https://")):
            try:
                check_receiver(member.contact, policy)
            except UnsafeReceiver as exc:
                raise Problem(422, "Contact refused", f"member {member.name!r}: {exc}") from None
    known = session.get(Team, team_id)
    names = (
        [m.name for m in body.members]
        if body.members is not None
        else [m.get("name") for m in (known.members if known else [])]
    )
    if len(set(names)) != len(names):
        raise Problem(422, "Invalid members", "member names must be unique within a team")
    team_ids = set(ownership.teams(session=session)) | {team_id}
    for index, step in enumerate(body.chain or []):
        if step.notify.member is not None and step.notify.member not in names:
            raise Problem(
                422, "Invalid chain", f"step {index + 1}: team {team_id!r} has no member {step.notify.member!r}"
            )
        if step.notify.team is not None and step.notify.team not in team_ids:
            raise Problem(422, "Invalid chain", f"step {index + 1}: no team {step.notify.team!r}")
    receivers = [r.model_dump(exclude_none=True) for r in body.receivers] if body.receivers is not None else None
    team = ownership.upsert_team(
        session=session,
        team_id=team_id,
        name=body.name,
        escalation=body.escalation,
        receivers=receivers,
        by=actor,
        at=runtime.clock(),
        members=[m.model_dump() for m in body.members] if body.members is not None else None,
        chain=(
            [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in body.chain]
            if body.chain is not None
            else None
        ),
    )
    session.commit()
    return _team_public(team)


class TeamAccountability(BaseModel):
    team: str
    window: str
    accountable_for: list[str] = Field(description="The stages this team is accountable for")
    resolutions: Resolutions


@router.get(
    "/teams/{team_id}/accountability",
    tags=["teams"],
    summary="How a team's alerts were worked: reopen and verified rates",
)
def team_accountability(
    team_id: str, runtime: RuntimeDep, session: SessionDep, _: ReaderDep, window: Annotated[Window, Query()] = "30d"
) -> TeamAccountability:
    """Over the alerts that opened in the window on the stages the team is accountable for: resolutions verified
    or reopened by the stage's figures, median time to acknowledge and to a verified fix, and the share of
    customers who answered "is it fixed for you?" with yes."""
    if storable_id(team_id, longest=100) is None or team_id not in ownership.teams(session=session):
        raise Problem(404, "Unknown team", f"no team {team_id[:100]!r}")
    stages, figures = scorecard.team_resolutions(
        session=session, journey=runtime.journey, team=team_id, window=window, now=runtime.clock()
    )
    return TeamAccountability(team=team_id, window=window, accountable_for=stages, resolutions=figures)


@router.get("/audit", tags=["teams"], summary="The audit log of ownership and team changes, newest first")
def get_audit(
    session: SessionDep,
    _: OperatorDep,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditPublic]:
    return [
        AuditPublic.model_validate(e, from_attributes=True)
        for e in ownership.audit_log(session=session, subject=subject, limit=limit)
    ]


@router.delete("/customers/{customer_id}", tags=["customers"], summary="Erase a customer everywhere (audited)")
def erase(customer_id: str, runtime: RuntimeDep, session: SessionDep, actor: AdminDep) -> ErasureReceipt:
    """Every item, moment and moment-of-truth state of the customer is deleted and the figures are recounted
    without them; classify is told to drop them from its training rows. The answer is the receipt."""
    if storable_id(customer_id, longest=200) is None:
        raise Problem(404, "Unknown customer", "no customer has such an id")
    receipt = erase_customer(
        session=session, customer_id=customer_id, now=runtime.clock(), corrections_topic=runtime.topics.corrections
    )
    ownership.audit(
        session=session, actor=actor, action="customer.erase", subject=f"customer:{customer_id}"[:200],
        before={}, after=receipt.model_dump(mode="json"), at=runtime.clock(),
    )  # fmt: skip
    session.commit()
    runtime.dispatcher.notify()
    return receipt


@router.post("/digests/send", tags=["teams"], summary="Queue the weekly digests now (audited)")
def send_digests(
    runtime: RuntimeDep,
    session: SessionDep,
    actor: AdminDep,
    audience: Annotated[str | None, Query(max_length=100, description="One team id, or `leadership`")] = None,
) -> dict[str, Any]:
    """The week's digests (every team's and the leadership one, or one `audience`) go to the outbox now, even if
    this week's were already sent. The answer says how many deliveries were queued per audience."""
    s, now = runtime.settings, runtime.clock()
    if audience is not None and audience != digest.LEADERSHIP and session.get(Team, audience) is None:
        raise Problem(404, "Unknown team", f"no team {audience!r}")
    queued = digest.enqueue_digests(
        session=session, journey=runtime.journey, now=now, leadership_emails=s.digest_leadership_emails,
        leadership_slack=s.digest_leadership_slack, tz=s.digest_timezone, only=audience, force=True,
    )  # fmt: skip
    ownership.audit(
        session=session, actor=actor, action="digest.send", subject=f"digest:{audience or '*'}"[:200],
        before={}, after={"queued": queued}, at=now,
    )  # fmt: skip
    session.commit()
    runtime.dispatcher.notify()
    return {"queued": queued}
