"""The evidence routes: feedback search, the triage queue, bulk relabelling and a customer's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String, and_, cast, select, tuple_

from services.accountability import ownership, search
from services.accountability.api import feedback_public
from services.accountability.deps import OperatorDep, ReaderDep, RuntimeDep, SessionDep, storable_id
from services.accountability.models import FeedbackItem, MomentOccurrence, columns
from services.accountability.schemas import CorrectionResult, FeedbackPublic
from services.accountability.service import relabel
from shared.http import Problem

router = APIRouter(prefix="/v1")
_F = columns(FeedbackItem)
_M = columns(MomentOccurrence)


class ListParams(search.FeedbackQuery):
    """A list's filters plus its page: `limit` rows after `cursor` (the `next` of the previous page)."""

    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)
    order: Literal["newest", "oldest"] = "newest"


class TriageParams(search.FeedbackQuery):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)


class FeedbackList(BaseModel):
    items: list[FeedbackPublic]
    next: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class BulkRelabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]] = Field(
        min_length=1, max_length=500
    )
    stage: str = Field(min_length=1, max_length=64)
    by: str | None = Field(default=None, max_length=200, description="Who relabels (defaults to the actor header)")


class BulkRelabelResult(BaseModel):
    relabelled: list[CorrectionResult]
    unknown: list[str] = Field(description="Ids no stored item has; nothing was done for them")


class TimelineEntry(BaseModel):
    type: Literal["feedback", "moment"]
    at: datetime
    id: str = Field(description="The feedback id, or the moment occurrence's id")
    stage: str
    channel: str | None = None
    kind: str | None = None
    sentiment: str | None = None
    severity: str | None = None
    text: str | None = Field(default=None, description="The first 280 characters")
    moment_id: str | None = None
    count: int | None = Field(default=None, description="For a moment: the customer's count when it occurred")
    feedback_id: str | None = Field(default=None, description="For a moment: the item that completed it")


class Timeline(BaseModel):
    customer: str
    entries: list[TimelineEntry]
    next: str | None


def _page(runtime: RuntimeDep, session: SessionDep, params: search.FeedbackQuery, **kw: Any) -> FeedbackList:
    query = search.FeedbackQuery.model_validate(params.model_dump(include=set(search.FeedbackQuery.model_fields)))
    if query.stage is not None and query.stage not in runtime.journey.stage_ids and query.stage != "unassigned":
        raise Problem(422, "Unknown stage", f"no stage {query.stage!r}; known: {', '.join(runtime.journey.stage_ids)}")
    try:
        rows, nxt = search.page(session=session, query=query, **kw)
    except search.SearchError as exc:
        raise Problem(422, "Invalid search", str(exc)) from None
    return FeedbackList(items=[feedback_public(r) for r in rows], next=nxt)


@router.get("/feedback", tags=["feedback"], summary="Search stored feedback: filters, full text, newest first")
def list_feedback(
    params: Annotated[ListParams, Query()], runtime: RuntimeDep, session: SessionDep, _: ReaderDep
) -> FeedbackList:
    """Every filter is optional and they combine; `q` finds items whose text holds every word given.
    Pages: pass the answer's `next` as `cursor` until it is null."""
    return _page(runtime, session, params, limit=params.limit, cursor=params.cursor, order=params.order)


@router.get("/triage", tags=["feedback"], summary="The triage queue: unassigned and least confident items first")
def triage(
    params: Annotated[TriageParams, Query()], runtime: RuntimeDep, session: SessionDep, _: ReaderDep
) -> FeedbackList:
    """Items in `unassigned`, and items of any stage classified with less confidence than
    ACCOUNTABILITY_TRIAGE_BELOW_CONFIDENCE, that no person relabelled yet; least confident first."""
    clause = search.triage_clause(runtime.settings.triage_below_confidence)
    return _page(
        runtime, session, params, limit=params.limit, cursor=params.cursor, order="least_confident", extra=[clause]
    )


@router.post("/feedback/relabel", tags=["feedback"], summary="Relabel many items at once (each audited)")
def relabel_many(body: BulkRelabel, runtime: RuntimeDep, session: SessionDep, actor: OperatorDep) -> BulkRelabelResult:
    """Each item is moved to `stage`, audited, and emitted as a `feedback.corrected` event so training learns
    from it; all of them in one transaction."""
    if body.stage not in runtime.journey.stage_ids:
        raise Problem(
            422, "Unknown stage", f"{body.stage!r} is not a stage; known: {', '.join(runtime.journey.stage_ids)}"
        )
    by = body.by or actor
    now = runtime.clock()
    done: list[CorrectionResult] = []
    unknown: list[str] = []
    for feedback_id in dict.fromkeys(body.ids):  # each once, in the order given
        correction = relabel(
            session=session,
            feedback_id=feedback_id,
            stage=body.stage,
            by=by,
            now=now,
            corrections_topic=runtime.topics.corrections,
        )
        if correction is None:
            unknown.append(feedback_id)
            continue
        ownership.audit(
            session=session,
            actor=actor,
            action="feedback.relabel",
            subject=f"feedback:{feedback_id}",
            before={"stage": correction.previous_stage},
            after={"stage": correction.stage, "by": by, "bulk": True},
            at=now,
        )
        done.append(
            CorrectionResult(
                id=correction.id, stage=correction.stage, previous_stage=correction.previous_stage, by=by, at=now
            )
        )
    session.commit()
    runtime.dispatcher.notify()
    return BulkRelabelResult(relabelled=done, unknown=unknown)


def _short(value: str | None) -> str | None:
    return value if value is None or len(value) <= 280 else value[:279] + "…"


@router.get("/customers/{customer_id}/timeline", tags=["customers"], summary="One customer's items and moments")
def timeline(
    customer_id: str,
    session: SessionDep,
    _: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Timeline:
    """Every item and moment of truth of the customer, oldest first, with stage, sentiment and severity."""
    known = storable_id(customer_id, longest=200)
    if known is None:
        return Timeline(customer=customer_id[:200], entries=[], next=None)
    after: tuple[datetime, str] | None = None
    if cursor:
        try:
            when, last = search.decode_cursor(cursor, "oldest")
        except search.SearchError as exc:
            raise Problem(422, "Invalid cursor", str(exc)) from None
        after = (when, last)
    entries = _items(session, known, after, limit) + _moments(session, known, after, limit)
    entries.sort(key=lambda e: (e.at, _sort_id(e)))
    more = len(entries) > limit
    entries = entries[:limit]
    nxt = search.encode_cursor(["oldest", entries[-1].at.isoformat(), _sort_id(entries[-1])]) if more else None
    return Timeline(customer=known, entries=entries, next=nxt)


def _sort_id(entry: TimelineEntry) -> str:
    # Items and moments share one order: at a tie in time, a moment ("m:...") after the item ("f:...") it follows.
    return ("f:" if entry.type == "feedback" else "m:") + entry.id


def _items(session: SessionDep, customer: str, after: tuple[datetime, str] | None, limit: int) -> list[TimelineEntry]:
    where = [_F.customer_id == customer]
    if after is not None:
        when, last = after
        where.append(tuple_(_F.occurred_at, "f:" + _F.id) > tuple_(when, last))
    statement = select(FeedbackItem).where(and_(*where)).order_by(_F.occurred_at, "f:" + _F.id).limit(limit + 1)
    return [
        TimelineEntry(
            type="feedback",
            at=row.occurred_at,
            id=row.id,
            stage=row.stage,
            channel=row.channel,
            kind=row.kind,
            sentiment=row.sentiment_label,
            severity=row.severity,
            text=_short(row.text),
        )
        for row in session.execute(statement).scalars()
    ]


def _moments(session: SessionDep, customer: str, after: tuple[datetime, str] | None, limit: int) -> list[TimelineEntry]:
    key = "m:" + cast(_M.id, String)
    statement = select(MomentOccurrence).where(_M.customer_id == customer)
    if after is not None:
        statement = statement.where(tuple_(_M.occurred_at, key) > tuple_(*after))
    rows = session.execute(statement.order_by(_M.occurred_at, key).limit(limit + 1)).scalars()
    return [
        TimelineEntry(
            type="moment",
            at=row.occurred_at,
            id=str(row.id),
            stage=row.stage,
            moment_id=row.moment_id,
            count=row.count,
            feedback_id=row.feedback_id,
        )
        for row in rows
    ]
