"""The board's pages where people work: an alert and its actions, silences, the triage queue, a team, a
customer, the audit log, and the admin forms (stage owners, team details)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from services.accountability import (
    alerts,
    alerts_api,
    api,
    evidence,
    feedback_api,
    ownership,
    scorecard,
    search,
)
from services.accountability.board.auth import Viewer
from services.accountability.board.page import (
    BoardError,
    cursor_of,
    evidence_page,
    form_action,
    form_field,
    guarded_page,
    known_stage,
    render_page,
    resolution_codes,
    runtime_of,
    session_of,
)
from services.accountability.deps import Role, storable_id
from services.accountability.models import Alert
from services.accountability.schemas import AlertAction, OwnersUpdate, SilenceCreate, TeamUpdate
from shared.http import Problem

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


# -- alerts ----------------------------------------------------------------------------------------------------------


def _alert_or_404(session: Session, alert_id: str) -> Alert:
    known = storable_id(alert_id, longest=36)
    alert = session.get(Alert, known) if known else None
    if alert is None:
        raise BoardError(404, f"There is no alert {alert_id[:40]!r}.")
    return alert


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: str, request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        cursor = cursor_of(request)
        with session_of(runtime) as session:
            alert = _alert_or_404(session, alert_id)
            public = alerts_api.alert_public(session, alert, deliveries=True)
            start, end, _ids = evidence.scope(alert)
            query = search.FeedbackQuery(since=start, until=end)  # the stage, if any, is in evidence.clauses
            rows, nxt, page_error = evidence_page(session, query, cursor, evidence.clauses(alert))
            from services.accountability import outbox

            history = [outbox.record_public(r) for r in outbox.history(session=session, alert_id=alert.id, limit=500)]
            notes = ownership.audit_log(session=session, subject=f"alert:{alert.id}", limit=100)
        return render_page(
            request, viewer, "alert.html", alert=public, items=rows, page_error=page_error, history=history,
            notes=list(reversed(notes)), next_link=(f"?{urlencode({'cursor': nxt})}" if nxt else None),
            back=request.url.path,
        )  # fmt: skip

    return guarded_page(request, Role.read, build)


def _alert_action(action: str) -> Callable[[Request, str], Any]:
    async def act(request: Request, alert_id: str) -> Response:
        runtime = runtime_of(request)

        def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
            note = form_field(form, "note", longest=1000)
            code = form_field(form, "code", longest=100) if action == "resolve" else ""
            codes = resolution_codes(runtime)
            if action == "resolve" and codes and code not in codes:
                raise BoardError(400, f"Choose how it was resolved: one of {', '.join(codes)}.")
            body = AlertAction.model_validate({"note": note, **({"code": code} if code else {})})
            with session_of(runtime) as session:
                _alert_or_404(session, alert_id)
                public = alerts_api._act(action, alert_id, body, runtime, session, viewer.actor)
            if action == "ack":
                return "Alert acknowledged."
            return "Alert resolved." + (" It waits for verification." if "verification" in public.status else "")

        return await form_action(request, Role.operator, work, f"/board/alerts/{quote(alert_id, safe='')}")

    return act


router.add_api_route("/alerts/{alert_id}/ack", _alert_action("ack"), methods=["POST"])
router.add_api_route("/alerts/{alert_id}/resolve", _alert_action("resolve"), methods=["POST"])


@router.post("/silences")
async def create_silence(request: Request) -> Response:
    runtime = runtime_of(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        stage = form_field(form, "stage", longest=64) or None
        rule = form_field(form, "rule", longest=100) or None
        hours_text = form_field(form, "hours", "1", longest=20)
        try:
            hours = float(hours_text)
        except ValueError:
            raise BoardError(400, f"Silence for how many hours? {hours_text[:20]!r} is not a number.") from None
        if not 0 < hours <= 90 * 24:
            raise BoardError(400, "A silence lasts more than 0 and at most 2160 hours (90 days).")
        try:
            body = SilenceCreate(
                stage=stage, rule_id=rule, duration_s=hours * 3600, reason=form_field(form, "reason", longest=500)
            )
        except ValidationError as exc:
            raise BoardError(
                400, "The silence could not be made: " + "; ".join(e["msg"] for e in exc.errors())
            ) from None
        with session_of(runtime) as session:
            alerts_api.create_silence(body, runtime, session, viewer.actor)
        return "Silence created."

    return await form_action(request, Role.operator, work, "/board")


@router.post("/silences/{silence_id}/delete")
async def delete_silence(request: Request, silence_id: str) -> Response:
    runtime = runtime_of(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        with session_of(runtime) as session:
            alerts_api.delete_silence(silence_id, runtime, session, viewer.actor)
        return "Silence removed."

    return await form_action(request, Role.operator, work, "/board")


# -- triage ----------------------------------------------------------------------------------------------------------


@router.get("/triage", response_class=HTMLResponse)
def triage_page(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        cursor = cursor_of(request)
        threshold = runtime.settings.triage_below_confidence
        with session_of(runtime) as session:
            try:
                rows, nxt = search.page(
                    session=session, query=search.FeedbackQuery(), limit=50, cursor=cursor, order="least_confident",
                    extra=[search.triage_clause(threshold)],
                )  # fmt: skip
            except search.SearchError as exc:
                raise BoardError(400, str(exc)) from None
        return render_page(
            request, viewer, "triage.html", items=rows, threshold=threshold,
            next_link=(f"?{urlencode({'cursor': nxt})}" if nxt else None), back=request.url.path,
        )  # fmt: skip

    return guarded_page(request, Role.read, build)


@router.post("/triage/relabel")
async def relabel(request: Request) -> Response:
    runtime = runtime_of(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        only = form_field(form, "only", longest=64)
        if only:
            ids, stage = [only], form_field(form, f"to:{only}", longest=64)
        else:
            ids, stage = [i for i in form.get("ids", []) if i], form_field(form, "stage", longest=64)
        if not ids:
            raise BoardError(400, "Tick at least one item to relabel.")
        if not stage:
            raise BoardError(400, "Choose the stage to move the items to.")
        if stage not in runtime.journey.stage_ids:
            raise BoardError(
                400, f"{stage[:64]!r} is not a stage; choose one of {', '.join(runtime.journey.stage_ids)}."
            )
        try:
            body = feedback_api.BulkRelabel(ids=ids, stage=stage)
        except ValidationError:
            raise BoardError(
                400, "Those items could not be relabelled (at most 500 at once, ids of up to 64 characters)."
            ) from None
        with session_of(runtime) as session:
            result = feedback_api.relabel_many(body, runtime, session, viewer.actor)
        done = f"Moved {len(result.relabelled)} item(s) to {stage}."
        return done + (f" {len(result.unknown)} unknown item(s) skipped." if result.unknown else "")

    return await form_action(request, Role.operator, work, "/board/triage")


# -- teams, customers, audit -----------------------------------------------------------------------------------------


@router.get("/teams/{team_id}", response_class=HTMLResponse)
def team_page(team_id: str, request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        with session_of(runtime) as session:
            team = ownership.teams(session=session).get(team_id[:100])
            if team is None:
                raise BoardError(404, f"There is no team {team_id[:100]!r}.")
            owners = ownership.all_owners(session=session)
            owns = [s for s in runtime.journey.stage_ids if owners.get(s) and owners[s].accountable == team.id]
            contributes = [s for s in runtime.journey.stage_ids if owners.get(s) and team.id in owners[s].contributing]
            active = alerts.list_alerts(
                session=session, status="active", stage=None, rule_id=None, since=None, limit=500
            )
            mine = [a for a in active if a.stage in owns or a.stage in contributes]
            receivers = ownership.redact_receivers(team.receivers)
            _, figures = scorecard.team_resolutions(
                session=session, journey=runtime.journey, team=team.id, window="30d", now=runtime.clock()
            )
        return render_page(
            request, viewer, "team.html", team=team, owns=owns, contributes=contributes, alerts=mine,
            receivers=receivers, journey=runtime.journey, figures=figures,
        )  # fmt: skip

    return guarded_page(request, Role.read, build)


@router.get("/customers", response_class=HTMLResponse)
def customer_page(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        customer = request.query_params.get("id", "").strip()
        cursor = cursor_of(request)
        timeline, message = None, None
        if len(customer) > 200 or "\x00" in customer:
            message = "A customer id has at most 200 characters."
        elif customer:
            with session_of(runtime) as session:
                try:
                    timeline = feedback_api.timeline(customer, session, viewer.actor, limit=100, cursor=cursor)
                except Problem as exc:
                    message = f"{exc.title}: {exc.detail}"
        nxt = f"?{urlencode({'id': customer, 'cursor': timeline.next})}" if timeline and timeline.next else None
        return render_page(
            request, viewer, "customer.html", customer=customer[:200], timeline=timeline, message=message,
            next_link=nxt, status=400 if message else 200,
        )  # fmt: skip

    return guarded_page(request, Role.read, build)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        subject = request.query_params.get("subject", "").strip()
        if len(subject) > 200:
            raise BoardError(400, "subject: at most 200 characters.")
        with session_of(runtime) as session:
            entries = ownership.audit_log(session=session, subject=subject or None, limit=200)
        return render_page(request, viewer, "audit.html", entries=entries, subject=subject)

    return guarded_page(request, Role.operator, build)


# -- admin: ownership and team details -------------------------------------------------------------------------------


@router.post("/stages/{stage}/owners")
async def set_owners(request: Request, stage: str) -> Response:
    runtime = runtime_of(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        known_stage(runtime, stage)
        accountable = form_field(form, "accountable", longest=100)
        contributing = [t.strip() for t in form.get("contributing", []) if t.strip()]
        if not accountable:
            raise BoardError(400, "Choose the accountable team.")
        try:
            body = OwnersUpdate(accountable=accountable, contributing=contributing)
        except ValidationError:
            raise BoardError(
                400, "Team ids have at most 100 characters, and a stage at most 50 contributors."
            ) from None
        with session_of(runtime) as session:
            api.set_owners(stage, body, runtime, session, viewer.actor)
        return f"Owners of {stage} changed."

    return await form_action(request, Role.admin, work, f"/board/stages/{quote(stage, safe='')}")


@router.post("/teams/{team_id}")
async def edit_team(request: Request, team_id: str) -> Response:
    runtime = runtime_of(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        name = form_field(form, "name", longest=200)
        escalation = form_field(form, "escalation", longest=200)
        if not name:
            raise BoardError(400, "A team needs a name.")
        with session_of(runtime) as session:
            if team_id not in ownership.teams(session=session):
                raise BoardError(404, f"There is no team {team_id[:100]!r}.")
            api.put_team(team_id, TeamUpdate(name=name, escalation=escalation), runtime, session, viewer.actor)
        return "Team changed."

    return await form_action(request, Role.admin, work, f"/board/teams/{quote(team_id, safe='')}")
