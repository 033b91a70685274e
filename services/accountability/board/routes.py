"""The journey board's router: static files, sign-in, the board and a stage's page; the pages where people work
(alerts, silences, triage, teams, customers, audit, admin) are in `work`, what all pages share in `page`.

Every read goes through the domain modules with a database session; every action calls the same functions the
API's routes call (so it is audited, published and counted the same way). Query strings and forms are read and
checked here, by hand, so that bad input is a message on the page, never a JSON error or a stack trace.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from services.accountability import (
    alerts,
    ownership,
    scorecard,
    search,
    silences,
)
from services.accountability.board import auth, chart, work
from services.accountability.board.auth import Viewer
from services.accountability.board.page import (
    EVIDENCE_FILTERS,
    BoardError,
    cursor_of,
    error_page,
    evidence_page,
    form_field,
    guarded_page,
    known_stage,
    read_form,
    render_page,
    runtime_of,
    session_of,
    static_file,
    themes_of,
    viewer_of,
    window_of,
)
from services.accountability.deps import Role
from services.accountability.models import Alert
from services.accountability.runtime import Runtime
from services.accountability.schemas import Scorecard
from shared.journey import UNASSIGNED

log = logging.getLogger(__name__)
router = APIRouter(prefix="/board", include_in_schema=False)


# -- static files, sign-in -------------------------------------------------------------------------------------------


@router.get("/static/{name}")
def static(name: str) -> Response:
    found = static_file(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body, media = found
    return Response(
        body, media_type=media, headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    )


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/board") or "//" in value or "\\" in value or len(value) > 500:
        return "/board"
    return value


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_form(request, request.query_params.get("next"), None)


def _login_form(request: Request, next_: str | None, message: str | None, status: int = 200) -> Response:
    settings = runtime_of(request).settings
    pre = secrets.token_urlsafe(24)
    response = render_page(
        request,
        None,
        "login.html",
        status=status,
        message=message,
        csrf=auth.pre_token(settings, pre),
        next=_safe_next(next_),
    )
    response.set_cookie(
        auth.PRE_COOKIE, pre, max_age=1800, httponly=True, samesite="strict", secure=settings.is_production,
        path="/board",
    )  # fmt: skip
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    settings = runtime_of(request).settings
    try:
        form = await read_form(request)
        next_ = form_field(form, "next", "/board", longest=500)
        token = form_field(form, "token", longest=500)
        name = form_field(form, "name", longest=100)
        csrf = form_field(form, "csrf", longest=200)
    except BoardError as exc:
        return _login_form(request, None, exc.message, status=exc.status)
    pre = request.cookies.get(auth.PRE_COOKIE, "")
    if not pre or not auth.check_csrf(auth.pre_token(settings, pre), csrf):
        return _login_form(request, next_, "The sign-in form had expired; please try again.", status=403)
    if any(not (c.isprintable()) for c in name):
        return _login_form(request, next_, "Your name may only hold printable characters.", status=400)
    role = auth.role_of(settings, token) if token else None
    if role is None:
        return _login_form(request, next_, "That token is not valid. Use a read, operator or admin token.", status=401)
    cookie, _ = auth.issue(settings, role, name)
    response = RedirectResponse(_safe_next(next_), status_code=303)
    response.set_cookie(
        auth.COOKIE, cookie, max_age=settings.session_max_age_s, httponly=True, samesite="strict",
        secure=settings.is_production, path="/board",
    )  # fmt: skip
    response.delete_cookie(auth.PRE_COOKIE, path="/board")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    viewer = viewer_of(request)
    try:
        form = await read_form(request)
    except BoardError:
        form = {}
    if viewer is not None and not auth.check_csrf(viewer.csrf, form_field(form, "csrf", longest=200)):
        return error_page(
            request, viewer, 403, "The form was stale (CSRF check failed). Reload the page and try again."
        )
    response = RedirectResponse("/board/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/board")
    return response


# -- the board -------------------------------------------------------------------------------------------------------


@dataclass
class Tile:
    card: Scorecard
    alerts: list[Alert]
    themes: list[dict[str, Any]] | None


def _tiles(runtime: Runtime, session: Session, window: str) -> tuple[list[Tile], Scorecard | None]:
    view = scorecard.journey_view(session=session, journey=runtime.journey, window=window, now=runtime.clock())
    active = alerts.list_alerts(session=session, status="active", stage=None, rule_id=None, since=None, limit=500)
    by_stage: dict[str, list[Alert]] = {}
    for alert in active:
        by_stage.setdefault(alert.stage, []).append(alert)
    tiles, triage = [], None
    for card in view.stages:
        if card.stage == UNASSIGNED:
            triage = card
            continue
        tiles.append(Tile(card, by_stage.get(card.stage, []), themes_of(session, runtime, card.stage, window, 3)))
    return tiles, triage


@router.get("", response_class=HTMLResponse)
def board(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        window = window_of(request)
        with session_of(runtime) as session:
            tiles, triage = _tiles(runtime, session, window)
        return render_page(
            request, viewer, "board.html", window=window, windows=list(scorecard.WINDOWS), tiles=tiles, triage=triage,
            now=runtime.clock(),
        )  # fmt: skip

    return guarded_page(request, Role.read, build)


@router.get("/fragment", response_class=HTMLResponse)
def board_fragment(request: Request) -> Response:
    """The stage tiles alone, for the board's live refresh (polled every few seconds)."""

    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        window = window_of(request)
        with session_of(runtime) as session:
            tiles, triage = _tiles(runtime, session, window)
        return render_page(request, viewer, "tiles.html", window=window, tiles=tiles, triage=triage)

    viewer = viewer_of(request)
    if viewer is None:
        return Response("signed out", status_code=401, media_type="text/plain")
    return guarded_page(request, Role.read, build)


# -- a stage ---------------------------------------------------------------------------------------------------------


def _evidence_query(request: Request, stage: str) -> tuple[search.FeedbackQuery | None, dict[str, str], str | None]:
    given = {k: request.query_params.get(k, "").strip() for k in EVIDENCE_FILTERS}
    given = {k: v for k, v in given.items() if v}
    try:
        return search.FeedbackQuery(stage=stage, **given), given, None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return None, given, f"The filters could not be used — {problems}."


@router.get("/stages/{stage}", response_class=HTMLResponse)
def stage_page(stage: str, request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        known_stage(runtime, stage)
        window = window_of(request)
        cursor = cursor_of(request)
        query, filters, filter_error = _evidence_query(request, stage)
        now = runtime.clock()
        with session_of(runtime) as session:
            card = scorecard.scorecard(session=session, journey=runtime.journey, stage=stage, window=window, now=now)
            assert card is not None
            points = chart.series(session=session, stage=stage, window=window, now=now)
            themes = themes_of(session, runtime, stage, window, 10)
            stage_alerts = alerts.list_alerts(
                session=session, status=None, stage=stage, rule_id=None, since=None, limit=20
            )
            muted = [s for s in silences.list_silences(session=session, active_at=now) if s.stage in (None, stage)]
            rows, nxt, page_error = evidence_page(session, query, cursor) if query else ([], None, None)
            team_ids = list(ownership.teams(session=session)) if viewer.can(Role.admin) else []
        rules = [r for r in runtime.journey.alert_rules if r.stage in (None, stage)]
        keep = {"window": window, **filters}
        return render_page(
            request, viewer, "stage.html", card=card, window=window, windows=list(scorecard.WINDOWS),
            chart=chart.svg(points, title=f"{card.name}: volume and negative share over the last {window}"),
            points=points, themes=themes, alerts=stage_alerts, silences=muted, rules=rules, items=rows,
            next_link=(f"?{urlencode({**keep, 'cursor': nxt})}" if nxt else None), filters=filters,
            filter_error=filter_error or page_error, now=now, back=request.url.path + "?" + urlencode(keep),
            team_ids=team_ids,
        )  # fmt: skip

    return guarded_page(request, Role.read, build)


router.include_router(work.router)
