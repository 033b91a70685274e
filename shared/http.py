"""HTTP pieces every service shares: problem+json errors and the /healthz, /readyz, /metrics routes."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tally

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
ReadinessCheck = Callable[[], Awaitable[bool]]
Responses = dict[int | str, dict[str, Any]]


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 problem details (`application/problem+json`). Routes add members of their own:
    `reason` (a bounded code), `errors` (per field), `checks`, `results`..."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(default="about:blank", description="A URI naming the kind of problem; about:blank for most")
    title: str = Field(description="A short summary of the kind of problem")
    status: int = Field(ge=400, le=599, description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request, for a person")
    reason: str | None = Field(default=None, description="A bounded code for programs, where the route gives one")


# Inline (not a $ref): a route's `responses=` then needs nothing else from the app's document.
def _without_nulls(node: Any) -> Any:
    """As FastAPI writes a schema into the document (`"default": null` left out)."""
    if isinstance(node, dict):
        return {key: _without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_without_nulls(value) for value in node]
    return node


PROBLEM_SCHEMA: dict[str, Any] = _without_nulls(ProblemDetails.model_json_schema())
PROBLEM_CONTENT: dict[str, Any] = {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}
# What every route may answer whatever it does: its body over the limit (BodyLimit), and a failure of its own.
COMMON_PROBLEMS: dict[int, str] = {
    400: "The body cannot be read (not valid JSON)",
    413: "The body is over this route's limit",
    500: "The service failed to handle the request (it was logged)",
}


def problem_responses(descriptions: Mapping[int, str]) -> Responses:
    """`responses=` for a route: each status answered with problem+json (the `ProblemDetails` schema)."""
    return {status: {"description": text, "content": dict(PROBLEM_CONTENT)} for status, text in descriptions.items()}


def document_problems(app: FastAPI) -> None:
    """Make the app's OpenAPI document say what the problem handlers do: every 422 (request validation) is
    problem+json, not FastAPI's JSON `HTTPValidationError`; every operation may answer 500, and 400 and 413 when
    it takes a body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """`document_problems` on an OpenAPI document already built. The problem schema becomes one component,
    `Problem`, that every answer refers to (so a client generator makes one model of it)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            invalid = responses.get("422")
            if invalid is not None and PROBLEM_JSON not in invalid.get("content", {}):
                invalid["content"] = dict(PROBLEM_CONTENT)
                if invalid.get("description") == "Validation Error":
                    invalid["description"] = "The request is not valid (`errors` says where)"
            for status, text in COMMON_PROBLEMS.items():
                if status in (400, 413) and "requestBody" not in operation:
                    continue
                responses.setdefault(str(status), {"description": text, "content": dict(PROBLEM_CONTENT)})
    schema["paths"] = _refer_to_problem(schema.get("paths", {}))
    components["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(schema):
            components.pop(unused, None)
    return schema


def _refer_to_problem(node: Any) -> Any:
    if node == PROBLEM_SCHEMA:
        return {"$ref": "#/components/schemas/Problem"}
    if isinstance(node, dict):
        return {key: _refer_to_problem(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_refer_to_problem(value) for value in node]
    return node


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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only those of the first route that matched it
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(exc.status_code, _title(exc.status_code), detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, "Internal error", "the service failed to handle this request; it was logged")


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


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

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Its dependencies answer",
        response_class=JSONResponse,
        responses={
            200: {"description": "Ready: every check answers", "content": {"application/json": {"schema": _READY}}},
            503: {
                "description": "Not ready: `checks` says which dependency fails",
                "content": {PROBLEM_JSON: {"schema": _NOT_READY}},
            },
        },
    )
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(_safe(checks[n]) for n in names))
        status = dict(zip(names, ("ok" if r else "failing" for r in results), strict=True))
        ready = all(results)
        if ready:
            return JSONResponse({"status": "ready", "checks": status})
        return problem_response(503, "Not ready", "a dependency is not reachable", checks=status)

    metrics_responses: Responses = {
        200: {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
    }
    if metrics_token:
        metrics_responses |= problem_responses({401: "Missing or wrong metrics token"})

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses=metrics_responses,
        description="With a metrics token set, only for `Authorization: Bearer <token>`." if metrics_token else None,
    )
    async def metrics(request: Request) -> Response:
        if metrics_token:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), metrics_token.encode()):
                return problem_response(
                    401, "Unauthorized", "send the metrics token as 'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


# Set by the launcher of several worker processes (ingest's INGEST_WORKERS): each worker's metrics live in files in
# this directory (prometheus_client's multiprocess mode), and every scrape adds up all of them.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def scope_header(scope: Scope, name: bytes) -> bytes | None:
    """A request header's raw value by its lower-case name (ASGI servers lower-case the names): the first one, as
    Starlette's `Headers` would give it, without building that mapping."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value
    return None


def exposition() -> bytes:
    """The metrics in Prometheus' text format: this process's, or with MULTIPROC_ENV set, every worker's together
    (counters and histograms summed; gauges as each declares: see `multiprocess_mode`). What this process's
    tallies hold is added first (shared/tally.py)."""
    tally.flush_all()
    if not os.environ.get(MULTIPROC_ENV):
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


_CHECKS = {"type": "object", "additionalProperties": {"type": "string", "enum": ["ok", "failing"]}}
_READY = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {"status": {"type": "string", "const": "ready"}, "checks": _CHECKS},
}
_NOT_READY = {"allOf": [PROBLEM_SCHEMA, {"type": "object", "properties": {"checks": _CHECKS}}]}


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
        declared = scope_header(scope, b"content-length")
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
