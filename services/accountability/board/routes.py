"""The journey board's pages: board, stage, alert, triage, team, customer, audit; sign-in and the forms' actions.

Every read goes through the domain modules with a database session; every action calls the same functions the
API's routes call (so it is audited, published and counted the same way). Query strings and forms are read and
checked here, by hand, so that bad input is a message on the page, never a JSON error or a stack trace.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from services.accountability import (
    alerts,
    alerts_api,
    api,
    evidence,
    feedback_api,
    ownership,
    scorecard,
    search,
    silences,
)
from services.accountability.board import auth, chart
from services.accountability.board.auth import Viewer
from services.accountability.deps import Role, storable_id
from services.accountability.models import Alert, FeedbackItem
from services.accountability.runtime import Runtime
from services.accountability.schemas import AlertAction, OwnersUpdate, Scorecard, SilenceCreate, TeamUpdate
from services.accountability.settings import AccountabilitySettings
from shared.http import Problem
from shared.journey import UNASSIGNED

log = logging.getLogger(__name__)
router = APIRouter(prefix="/board", include_in_schema=False)
HERE = Path(__file__).parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
STATIC: dict[str, tuple[bytes, str]] = {
    "board.css": ((HERE / "static" / "board.css").read_bytes(), "text/css; charset=utf-8"),
    "board.js": ((HERE / "static" / "board.js").read_bytes(), "text/javascript; charset=utf-8"),
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HEALTH = {  # never colour alone: every colour has an icon and words
    "green": ("✔", "Healthy"),
    "yellow": ("▲", "Watch"),
    "red": ("✖", "At risk"),
}
TREND = {
    "worsening": ("↗", "worsening"),
    "improving": ("↘", "improving"),
    "steady": ("→", "steady"),
    "unknown": ("·", "no earlier data"),
}
EVIDENCE_FILTERS = ("q", "sentiment", "severity", "channel", "kind", "customer")
PAGE = 25
MAX_FORM_FIELDS = 600
T = TypeVar("T")


class BoardError(Exception):
    """Something the person asked that cannot be done: shown on the page with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# -- plumbing -------------------------------------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _viewer(request: Request) -> Viewer | None:
    return auth.read(_runtime(request).settings, request.cookies.get(auth.COOKIE))


def _fmt_time(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        when = value
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


TEMPLATES.filters.update(when=_fmt_time, pct=_pct, num=_num)


def _html(name: str, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
    body = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def _render(request: Request, viewer: Viewer | None, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    runtime = _runtime(request)
    notice = request.query_params.get("done", "")[:300]
    if notice and not auth.check_csrf(auth.notice_mac(runtime.settings, notice), request.query_params.get("sig")):
        notice = ""  # only the board's own notices are shown: a crafted link cannot put words on the page
    return _html(
        name,
        status,
        viewer=viewer,
        Role=Role,
        stages=[(s, runtime.journey.stage(s)) for s in runtime.journey.stage_ids if s != UNASSIGNED],
        codes=resolution_codes(runtime),
        notice=notice,
        health=HEALTH,
        trend=TREND,
        path=request.url.path,
        **context,
    )


def _error(request: Request, viewer: Viewer | None, status: int, message: str) -> HTMLResponse:
    return _render(request, viewer, "error.html", status=status, message=message)


def _session(runtime: Runtime) -> Session:
    return Session(runtime.engine, expire_on_commit=False)


def _page(request: Request, need: Role, build: Callable[[Viewer], Response]) -> Response:
    """Run a page for a signed-in viewer of at least `need`: a person not signed in goes to the sign-in page;
    bad input and unknown things are a message; an unexpected failure is a short message, logged in full."""
    viewer = _viewer(request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/board/login?{urlencode({'next': target})}", status_code=303)
    if not viewer.can(need):
        return _error(
            request, viewer, 403, f"This page needs {_a(need.name)} sign-in; you are signed in as {viewer.role.name}."
        )
    try:
        return build(viewer)
    except BoardError as exc:
        return _error(request, viewer, exc.status, exc.message)
    except Problem as exc:
        return _error(request, viewer, exc.status, f"{exc.title}: {exc.detail}")
    except Exception:
        log.exception("board page %s failed", request.url.path)
        return _error(
            request,
            viewer,
            503,
            "The page could not be built just now (is the database reachable?). Try again shortly.",
        )


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


async def _form(request: Request) -> dict[str, list[str]]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BoardError(415, "Send the form from the page (application/x-www-form-urlencoded).")
    try:
        raw = (await request.body()).decode("utf-8")
        form = parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BoardError(400, "The form could not be read.") from exc
    return form


def _one(form: Mapping[str, list[str]], name: str, default: str = "", longest: int = 1000) -> str:
    value = (form.get(name) or [default])[0]
    if len(value) > longest:
        raise BoardError(400, f"{name}: at most {longest} characters.")
    if "\x00" in value:
        raise BoardError(400, f"{name}: must not contain a NUL character.")
    return value.strip()


def _back(form: Mapping[str, list[str]], fallback: str) -> str:
    """Where to go after an action: a path on this board only (never another site)."""
    target = _one(form, "back", fallback, longest=500)
    if not target.startswith("/board") or "//" in target or "\\" in target:
        return fallback
    return target


def _with_notice(settings: AccountabilitySettings, target: str, notice: str) -> str:
    base = target.split("#", 1)[0]
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'done': notice, 'sig': auth.notice_mac(settings, notice)})}"


async def _action(
    request: Request, need: Role, work: Callable[[Viewer, dict[str, list[str]]], str], fallback: str
) -> Response:
    """A form's POST: signed in with at least `need`, the CSRF token checked, then `work` (in a thread) returns
    the notice to show back on the page the form came from."""
    viewer = _viewer(request)
    if viewer is None:
        return _error(request, None, 401, "Your sign-in has ended; sign in again and repeat the action.")
    try:
        form = await _form(request)
        if not auth.check_csrf(viewer.csrf, _one(form, "csrf", longest=200)):
            return _error(
                request,
                viewer,
                403,
                "The form was stale or not sent from this board (CSRF check failed). Reload the page and try again.",
            )
        if not viewer.can(need):
            return _error(
                request,
                viewer,
                403,
                f"This action needs {_a(need.name)} sign-in; you are signed in as {viewer.role.name}.",
            )
        notice = await run_in_threadpool(work, viewer, form)
        target = _with_notice(_runtime(request).settings, _back(form, fallback), notice)
        return RedirectResponse(target, status_code=303)
    except BoardError as exc:
        return _error(request, viewer, exc.status, exc.message)
    except Problem as exc:
        return _error(request, viewer, exc.status, f"{exc.title}: {exc.detail}")
    except Exception:
        log.exception("board action %s failed", request.url.path)
        return _error(
            request, viewer, 503, "The action could not be completed just now; nothing was changed. Try again shortly."
        )


def _window(request: Request) -> str:
    window = request.query_params.get("window", "24h")
    if window not in scorecard.WINDOWS:
        raise BoardError(400, f"window: choose one of {', '.join(scorecard.WINDOWS)} (got {window[:20]!r}).")
    return window


def _known_stage(runtime: Runtime, stage: str, *, triage: bool = False) -> str:
    ids = [s for s in runtime.journey.stage_ids if triage or s != UNASSIGNED]
    if stage not in ids:
        raise BoardError(404, f"There is no stage {stage[:64]!r}; the stages are {', '.join(ids)}.")
    return stage


def resolution_codes(runtime: Runtime) -> list[str]:
    """The journey map's resolution codes (what a person may give as the reason an alert is resolved)."""
    return list(getattr(runtime.journey, "resolution_codes", None) or [])


def themes_of(
    session: Session, runtime: Runtime, stage: str, window: str, limit: int = 10
) -> list[dict[str, Any]] | None:
    """Adapter over `theme_reads.stage_themes`: the stage's ranked themes, or None when themes cannot be read."""
    try:
        from services.accountability import theme_reads

        found = theme_reads.stage_themes(
            session=session, journey=runtime.journey, stage=stage, window=window, sort="volume", limit=limit
        )
        return list(found.get("themes") or [])
    except Exception:  # the theme module is young: a failure there must not take the board down
        log.warning("themes of %s could not be read", stage, exc_info=True)
        session.rollback()
        return None


# -- static files, sign-in -------------------------------------------------------------------------------------------


@router.get("/static/{name}")
def static(name: str) -> Response:
    found = STATIC.get(name)
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
    settings = _runtime(request).settings
    pre = secrets.token_urlsafe(24)
    response = _render(
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
    settings = _runtime(request).settings
    try:
        form = await _form(request)
        next_ = _one(form, "next", "/board", longest=500)
        token = _one(form, "token", longest=500)
        name = _one(form, "name", longest=100)
        csrf = _one(form, "csrf", longest=200)
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
    viewer = _viewer(request)
    try:
        form = await _form(request)
    except BoardError:
        form = {}
    if viewer is not None and not auth.check_csrf(viewer.csrf, _one(form, "csrf", longest=200)):
        return _error(request, viewer, 403, "The form was stale (CSRF check failed). Reload the page and try again.")
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
        runtime = _runtime(request)
        window = _window(request)
        with _session(runtime) as session:
            tiles, triage = _tiles(runtime, session, window)
        return _render(
            request, viewer, "board.html", window=window, windows=list(scorecard.WINDOWS), tiles=tiles, triage=triage,
            now=runtime.clock(),
        )  # fmt: skip

    return _page(request, Role.read, build)


@router.get("/fragment", response_class=HTMLResponse)
def board_fragment(request: Request) -> Response:
    """The stage tiles alone, for the board's live refresh (polled every few seconds)."""

    def build(viewer: Viewer) -> Response:
        runtime = _runtime(request)
        window = _window(request)
        with _session(runtime) as session:
            tiles, triage = _tiles(runtime, session, window)
        return _render(request, viewer, "tiles.html", window=window, tiles=tiles, triage=triage)

    viewer = _viewer(request)
    if viewer is None:
        return Response("signed out", status_code=401, media_type="text/plain")
    return _page(request, Role.read, build)


# -- a stage ---------------------------------------------------------------------------------------------------------


def _evidence_query(request: Request, stage: str) -> tuple[search.FeedbackQuery | None, dict[str, str], str | None]:
    given = {k: request.query_params.get(k, "").strip() for k in EVIDENCE_FILTERS}
    given = {k: v for k, v in given.items() if v}
    try:
        return search.FeedbackQuery(stage=stage, **given), given, None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return None, given, f"The filters could not be used — {problems}."


def _cursor(request: Request) -> str | None:
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > 200:
        raise BoardError(400, "cursor: not a page this list gave out; start again from the first page.")
    return cursor


def _evidence_page(
    session: Session, query: search.FeedbackQuery, cursor: str | None, extra: list[Any] | None = None
) -> tuple[list[FeedbackItem], str | None, str | None]:
    try:
        rows, nxt = search.page(session=session, query=query, limit=PAGE, cursor=cursor, order="newest", extra=extra)
    except search.SearchError as exc:
        return [], None, str(exc)
    return rows, nxt, None


@router.get("/stages/{stage}", response_class=HTMLResponse)
def stage_page(stage: str, request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = _runtime(request)
        _known_stage(runtime, stage)
        window = _window(request)
        cursor = _cursor(request)
        query, filters, filter_error = _evidence_query(request, stage)
        now = runtime.clock()
        with _session(runtime) as session:
            card = scorecard.scorecard(session=session, journey=runtime.journey, stage=stage, window=window, now=now)
            assert card is not None
            points = chart.series(session=session, stage=stage, window=window, now=now)
            themes = themes_of(session, runtime, stage, window, 10)
            stage_alerts = alerts.list_alerts(
                session=session, status=None, stage=stage, rule_id=None, since=None, limit=20
            )
            muted = [s for s in silences.list_silences(session=session, active_at=now) if s.stage in (None, stage)]
            rows, nxt, page_error = _evidence_page(session, query, cursor) if query else ([], None, None)
            team_ids = list(ownership.teams(session=session)) if viewer.can(Role.admin) else []
        rules = [r for r in runtime.journey.alert_rules if r.stage in (None, stage)]
        keep = {"window": window, **filters}
        return _render(
            request, viewer, "stage.html", card=card, window=window, windows=list(scorecard.WINDOWS),
            chart=chart.svg(points, title=f"{card.name}: volume and negative share over the last {window}"),
            points=points, themes=themes, alerts=stage_alerts, silences=muted, rules=rules, items=rows,
            next_link=(f"?{urlencode({**keep, 'cursor': nxt})}" if nxt else None), filters=filters,
            filter_error=filter_error or page_error, now=now, back=request.url.path + "?" + urlencode(keep),
            team_ids=team_ids,
        )  # fmt: skip

    return _page(request, Role.read, build)


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
        runtime = _runtime(request)
        cursor = _cursor(request)
        with _session(runtime) as session:
            alert = _alert_or_404(session, alert_id)
            public = alerts_api.alert_public(session, alert, deliveries=True)
            start, end, _ids = evidence.scope(alert)
            query = search.FeedbackQuery(stage=alert.stage, since=start, until=end)
            rows, nxt, page_error = _evidence_page(session, query, cursor, evidence.clauses(alert))
            from services.accountability import outbox

            history = [outbox.record_public(r) for r in outbox.history(session=session, alert_id=alert.id, limit=500)]
            notes = ownership.audit_log(session=session, subject=f"alert:{alert.id}", limit=100)
        return _render(
            request, viewer, "alert.html", alert=public, items=rows, page_error=page_error, history=history,
            notes=list(reversed(notes)), next_link=(f"?{urlencode({'cursor': nxt})}" if nxt else None),
            back=request.url.path,
        )  # fmt: skip

    return _page(request, Role.read, build)


def _alert_action(action: str) -> Callable[[Request, str], Any]:
    async def act(request: Request, alert_id: str) -> Response:
        runtime = _runtime(request)

        def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
            note = _one(form, "note", longest=1000)
            code = _one(form, "code", longest=100) if action == "resolve" else ""
            codes = resolution_codes(runtime)
            if action == "resolve" and codes and code not in codes:
                raise BoardError(400, f"Choose how it was resolved: one of {', '.join(codes)}.")
            body = AlertAction.model_validate({"note": note, **({"code": code} if code else {})})
            with _session(runtime) as session:
                _alert_or_404(session, alert_id)
                public = alerts_api._act(action, alert_id, body, runtime, session, viewer.actor)
            if action == "ack":
                return "Alert acknowledged."
            return "Alert resolved." + (" It waits for verification." if "verification" in public.status else "")

        return await _action(request, Role.operator, work, f"/board/alerts/{quote(alert_id, safe='')}")

    return act


router.add_api_route("/alerts/{alert_id}/ack", _alert_action("ack"), methods=["POST"])
router.add_api_route("/alerts/{alert_id}/resolve", _alert_action("resolve"), methods=["POST"])


@router.post("/silences")
async def create_silence(request: Request) -> Response:
    runtime = _runtime(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        stage = _one(form, "stage", longest=64) or None
        rule = _one(form, "rule", longest=100) or None
        hours_text = _one(form, "hours", "1", longest=20)
        try:
            hours = float(hours_text)
        except ValueError:
            raise BoardError(400, f"Silence for how many hours? {hours_text[:20]!r} is not a number.") from None
        if not 0 < hours <= 90 * 24:
            raise BoardError(400, "A silence lasts more than 0 and at most 2160 hours (90 days).")
        try:
            body = SilenceCreate(
                stage=stage, rule_id=rule, duration_s=hours * 3600, reason=_one(form, "reason", longest=500)
            )
        except ValidationError as exc:
            raise BoardError(
                400, "The silence could not be made: " + "; ".join(e["msg"] for e in exc.errors())
            ) from None
        with _session(runtime) as session:
            alerts_api.create_silence(body, runtime, session, viewer.actor)
        return "Silence created."

    return await _action(request, Role.operator, work, "/board")


@router.post("/silences/{silence_id}/delete")
async def delete_silence(request: Request, silence_id: str) -> Response:
    runtime = _runtime(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        with _session(runtime) as session:
            alerts_api.delete_silence(silence_id, runtime, session, viewer.actor)
        return "Silence removed."

    return await _action(request, Role.operator, work, "/board")


# -- triage ----------------------------------------------------------------------------------------------------------


@router.get("/triage", response_class=HTMLResponse)
def triage_page(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = _runtime(request)
        cursor = _cursor(request)
        threshold = runtime.settings.triage_below_confidence
        with _session(runtime) as session:
            try:
                rows, nxt = search.page(
                    session=session, query=search.FeedbackQuery(), limit=50, cursor=cursor, order="least_confident",
                    extra=[search.triage_clause(threshold)],
                )  # fmt: skip
            except search.SearchError as exc:
                raise BoardError(400, str(exc)) from None
        return _render(
            request, viewer, "triage.html", items=rows, threshold=threshold,
            next_link=(f"?{urlencode({'cursor': nxt})}" if nxt else None), back=request.url.path,
        )  # fmt: skip

    return _page(request, Role.read, build)


@router.post("/triage/relabel")
async def relabel(request: Request) -> Response:
    runtime = _runtime(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        only = _one(form, "only", longest=64)
        if only:
            ids, stage = [only], _one(form, f"to:{only}", longest=64)
        else:
            ids, stage = [i for i in form.get("ids", []) if i], _one(form, "stage", longest=64)
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
        with _session(runtime) as session:
            result = feedback_api.relabel_many(body, runtime, session, viewer.actor)
        done = f"Moved {len(result.relabelled)} item(s) to {stage}."
        return done + (f" {len(result.unknown)} unknown item(s) skipped." if result.unknown else "")

    return await _action(request, Role.operator, work, "/board/triage")


# -- teams, customers, audit -----------------------------------------------------------------------------------------


@router.get("/teams/{team_id}", response_class=HTMLResponse)
def team_page(team_id: str, request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = _runtime(request)
        with _session(runtime) as session:
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
        return _render(
            request, viewer, "team.html", team=team, owns=owns, contributes=contributes, alerts=mine,
            receivers=receivers, journey=runtime.journey, figures=figures,
        )  # fmt: skip

    return _page(request, Role.read, build)


@router.get("/customers", response_class=HTMLResponse)
def customer_page(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = _runtime(request)
        customer = request.query_params.get("id", "").strip()
        cursor = _cursor(request)
        timeline, message = None, None
        if len(customer) > 200 or "\x00" in customer:
            message = "A customer id has at most 200 characters."
        elif customer:
            with _session(runtime) as session:
                try:
                    timeline = feedback_api.timeline(customer, session, viewer.actor, limit=100, cursor=cursor)
                except Problem as exc:
                    message = f"{exc.title}: {exc.detail}"
        nxt = f"?{urlencode({'id': customer, 'cursor': timeline.next})}" if timeline and timeline.next else None
        return _render(
            request, viewer, "customer.html", customer=customer[:200], timeline=timeline, message=message,
            next_link=nxt, status=400 if message else 200,
        )  # fmt: skip

    return _page(request, Role.read, build)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        runtime = _runtime(request)
        subject = request.query_params.get("subject", "").strip()
        if len(subject) > 200:
            raise BoardError(400, "subject: at most 200 characters.")
        with _session(runtime) as session:
            entries = ownership.audit_log(session=session, subject=subject or None, limit=200)
        return _render(request, viewer, "audit.html", entries=entries, subject=subject)

    return _page(request, Role.operator, build)


# -- admin: ownership and team details -------------------------------------------------------------------------------


@router.post("/stages/{stage}/owners")
async def set_owners(request: Request, stage: str) -> Response:
    runtime = _runtime(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        _known_stage(runtime, stage)
        accountable = _one(form, "accountable", longest=100)
        contributing = [t.strip() for t in form.get("contributing", []) if t.strip()]
        if not accountable:
            raise BoardError(400, "Choose the accountable team.")
        try:
            body = OwnersUpdate(accountable=accountable, contributing=contributing)
        except ValidationError:
            raise BoardError(
                400, "Team ids have at most 100 characters, and a stage at most 50 contributors."
            ) from None
        with _session(runtime) as session:
            api.set_owners(stage, body, runtime, session, viewer.actor)
        return f"Owners of {stage} changed."

    return await _action(request, Role.admin, work, f"/board/stages/{quote(stage, safe='')}")


@router.post("/teams/{team_id}")
async def edit_team(request: Request, team_id: str) -> Response:
    runtime = _runtime(request)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> str:
        name = _one(form, "name", longest=200)
        escalation = _one(form, "escalation", longest=200)
        if not name:
            raise BoardError(400, "A team needs a name.")
        with _session(runtime) as session:
            if team_id not in ownership.teams(session=session):
                raise BoardError(404, f"There is no team {team_id[:100]!r}.")
            api.put_team(team_id, TeamUpdate(name=name, escalation=escalation), runtime, session, viewer.actor)
        return "Team changed."

    return await _action(request, Role.admin, work, f"/board/teams/{quote(team_id, safe='')}")
