"""What every board page and form shares: templates, formatting, rendering with the viewer, the role a page
needs, reading forms by hand, and running an action as the API would."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from services.accountability import (
    scorecard,
    search,
)
from services.accountability.board import auth
from services.accountability.board.auth import Viewer
from services.accountability.deps import Role
from services.accountability.models import FeedbackItem
from services.accountability.runtime import Runtime
from services.accountability.settings import AccountabilitySettings
from shared.http import Problem
from shared.journey import UNASSIGNED

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
STATIC_TYPES = {"board.css": "text/css; charset=utf-8", "board.js": "text/javascript; charset=utf-8"}
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


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def viewer_of(request: Request) -> Viewer | None:
    return auth.read(runtime_of(request).settings, request.cookies.get(auth.COOKIE))


def fmt_time(value: datetime | str | None) -> str:
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


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


TEMPLATES.filters.update(when=fmt_time, pct=fmt_pct, num=fmt_num)


def html_page(name: str, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
    body = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def render_page(request: Request, viewer: Viewer | None, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    runtime = runtime_of(request)
    notice = request.query_params.get("done", "")[:300]
    if notice and not auth.check_csrf(auth.notice_mac(runtime.settings, notice), request.query_params.get("sig")):
        notice = ""  # only the board's own notices are shown: a crafted link cannot put words on the page
    return html_page(
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


def error_page(request: Request, viewer: Viewer | None, status: int, message: str) -> HTMLResponse:
    return render_page(request, viewer, "error.html", status=status, message=message)


def session_of(runtime: Runtime) -> Session:
    return Session(runtime.engine, expire_on_commit=False)


def guarded_page(request: Request, need: Role, build: Callable[[Viewer], Response]) -> Response:
    """Run a page for a signed-in viewer of at least `need`: a person not signed in goes to the sign-in page;
    bad input and unknown things are a message; an unexpected failure is a short message, logged in full."""
    viewer = viewer_of(request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/board/login?{urlencode({'next': target})}", status_code=303)
    if not viewer.can(need):
        return error_page(
            request,
            viewer,
            403,
            f"This page needs {article(need.name)} sign-in; you are signed in as {viewer.role.name}.",
        )
    try:
        return build(viewer)
    except BoardError as exc:
        return error_page(request, viewer, exc.status, exc.message)
    except Problem as exc:
        return error_page(request, viewer, exc.status, f"{exc.title}: {exc.detail}")
    except Exception:
        log.exception("board page %s failed", request.url.path)
        return error_page(
            request,
            viewer,
            503,
            "The page could not be built just now (is the database reachable?). Try again shortly.",
        )


def article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


async def read_form(request: Request) -> dict[str, list[str]]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BoardError(415, "Send the form from the page (application/x-www-form-urlencoded).")
    try:
        raw = (await request.body()).decode("utf-8")
        form = parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BoardError(400, "The form could not be read.") from exc
    return form


def form_field(form: Mapping[str, list[str]], name: str, default: str = "", longest: int = 1000) -> str:
    value = (form.get(name) or [default])[0]
    if len(value) > longest:
        raise BoardError(400, f"{name}: at most {longest} characters.")
    if "\x00" in value:
        raise BoardError(400, f"{name}: must not contain a NUL character.")
    return value.strip()


def back_target(form: Mapping[str, list[str]], fallback: str) -> str:
    """Where to go after an action: a path on this board only (never another site)."""
    target = form_field(form, "back", fallback, longest=500)
    if not target.startswith("/board") or "//" in target or "\\" in target:
        return fallback
    return target


def with_notice(settings: AccountabilitySettings, target: str, notice: str) -> str:
    base = target.split("#", 1)[0]
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'done': notice, 'sig': auth.notice_mac(settings, notice)})}"


async def form_action(
    request: Request, need: Role, work: Callable[[Viewer, dict[str, list[str]]], str], fallback: str
) -> Response:
    """A form's POST: signed in with at least `need`, the CSRF token checked, then `work` (in a thread) returns
    the notice to show back on the page the form came from."""
    viewer = viewer_of(request)
    if viewer is None:
        return error_page(request, None, 401, "Your sign-in has ended; sign in again and repeat the action.")
    try:
        form = await read_form(request)
        if not auth.check_csrf(viewer.csrf, form_field(form, "csrf", longest=200)):
            return error_page(
                request,
                viewer,
                403,
                "The form was stale or not sent from this board (CSRF check failed). Reload the page and try again.",
            )
        if not viewer.can(need):
            return error_page(
                request,
                viewer,
                403,
                f"This action needs {article(need.name)} sign-in; you are signed in as {viewer.role.name}.",
            )
        notice = await run_in_threadpool(work, viewer, form)
        target = with_notice(runtime_of(request).settings, back_target(form, fallback), notice)
        return RedirectResponse(target, status_code=303)
    except BoardError as exc:
        return error_page(request, viewer, exc.status, exc.message)
    except Problem as exc:
        return error_page(request, viewer, exc.status, f"{exc.title}: {exc.detail}")
    except Exception:
        log.exception("board action %s failed", request.url.path)
        return error_page(
            request, viewer, 503, "The action could not be completed just now; nothing was changed. Try again shortly."
        )


def window_of(request: Request) -> str:
    window = request.query_params.get("window", "24h")
    if window not in scorecard.WINDOWS:
        raise BoardError(400, f"window: choose one of {', '.join(scorecard.WINDOWS)} (got {window[:20]!r}).")
    return window


def known_stage(runtime: Runtime, stage: str, *, triage: bool = False) -> str:
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


def cursor_of(request: Request) -> str | None:
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > 200:
        raise BoardError(400, "cursor: not a page this list gave out; start again from the first page.")
    return cursor


def evidence_page(
    session: Session, query: search.FeedbackQuery, cursor: str | None, extra: list[Any] | None = None
) -> tuple[list[FeedbackItem], str | None, str | None]:
    try:
        rows, nxt = search.page(session=session, query=query, limit=PAGE, cursor=cursor, order="newest", extra=extra)
    except search.SearchError as exc:
        return [], None, str(exc)
    return rows, nxt, None


@functools.cache
def static_file(name: str) -> tuple[bytes, str] | None:
    """A static file's bytes and type, read on its first request (importing the board reads nothing)."""
    media = STATIC_TYPES.get(name)
    return None if media is None else ((HERE / "static" / name).read_bytes(), media)
