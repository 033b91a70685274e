"""HTTP pieces every service shares: problem+json errors and the /healthz, /readyz, /metrics routes."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
ReadinessCheck = Callable[[], Awaitable[bool]]


class Problem(Exception):
    """An error to show the caller as RFC 9457 problem details."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.type = status, title, detail, type_
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": extra.pop("type_", "about:blank"), "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves the service as problem+json; internal failures never echo the exception."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, type_=exc.type, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _location(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()[:50]]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return problem_response(exc.status_code, _title(exc.status_code), detail, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, "Internal error", "the service failed to handle this request; it was logged")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def ops_router(checks: dict[str, ReadinessCheck], *, metrics_token: str | None = None) -> APIRouter:
    """`/healthz` (the process is alive), `/readyz` (its dependencies answer) and `/metrics` (with `metrics_token`,
    only for `Authorization: Bearer <metrics_token>`)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(_safe(checks[n]) for n in names))
        status = dict(zip(names, ("ok" if r else "failing" for r in results), strict=True))
        ready = all(results)
        if ready:
            return JSONResponse({"status": "ready", "checks": status})
        return problem_response(503, "Not ready", "a dependency is not reachable", checks=status)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        if metrics_token:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), metrics_token.encode()):
                return problem_response(
                    401, "Unauthorized", "send the metrics token as 'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _safe(check: ReadinessCheck) -> bool:
    try:
        return await asyncio.wait_for(check(), 3.0)
    except Exception:  # a failing check is "not ready", whatever it raised
        return False


class BodyTooLarge(StarletteHTTPException):
    """Raised from inside `receive` when a body without a (truthful) Content-Length grows past its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body exceeds the {limit}-byte limit of this route")


class BodyLimit:
    """ASGI middleware: every request body has a limit, the longest matching path prefix's in `limits`, else
    `default`. A declared Content-Length over it is answered `413` problem+json before the application (and so
    before any authentication) runs; a body streamed without one is cut off the moment it passes the limit,
    so no request can make the service hold more than its route's limit."""

    def __init__(self, app: ASGIApp, *, default: int, limits: dict[str, int] | None = None) -> None:
        self.app, self.default = app, default
        self.limits = sorted((limits or {}).items(), key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem_response(
                413, "Payload too large", f"the body is {int(declared)} bytes; this route takes at most {limit}"
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)
