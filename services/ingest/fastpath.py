"""The hot path's shortcut through the framework: `POST /v1/events` goes straight to its endpoint.

Measured (docs/performance.md, "The front door at full speed"): of a single event's CPU in ingest, about 40% was
FastAPI and Starlette between the server and the endpoint (the middleware stack, router matching over every route,
the request-response wrapper, dependency solving for an endpoint that has none, and FastAPI's own telemetry check
on every call). `install` makes the app hand that route to EventsFastPath before any of it runs, which answers that one route itself, with the same endpoint, the same body
limit (shared.http.BodyLimit, the route's limit) and the app's own exception handlers, so a `Problem`, a too-large
body or an unexpected error come out as the same problem+json as through the router. Every other request (another
method or path, `/v1/events/`, the lifespan) goes to the app as before. The route stays registered, so OpenAPI and
/docs are unchanged."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shared.http import BodyLimit

Endpoint = Callable[[Request], Awaitable[Response]]


def install(app: FastAPI, *, body_limit: int, path: str = "/v1/events", endpoint: Endpoint | None = None) -> None:
    """From now on `app` answers `POST <path>` by EventsFastPath before anything of the framework runs. `app`
    stays the same FastAPI object (its class becomes a subclass whose `__call__` checks the route first)."""
    fast = EventsFastPath(app, path=path, body_limit=body_limit, endpoint=endpoint)
    app.__dict__["_events_fast_path"] = fast
    app.__class__ = _with_fast_path(type(app))


_SUBCLASSES: dict[type[FastAPI], type[FastAPI]] = {}


def _with_fast_path(base: type[FastAPI]) -> type[FastAPI]:
    if base in _SUBCLASSES or base in _SUBCLASSES.values():
        return _SUBCLASSES.get(base, base)

    class WithFastPath(base):  # type: ignore[valid-type,misc]
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            fast: EventsFastPath = self.__dict__["_events_fast_path"]
            if scope["type"] == "http" and scope["path"] == fast.path and scope["method"] == "POST":
                await fast(scope, receive, send)
                return
            await super().__call__(scope, receive, send)

    WithFastPath.__name__ = WithFastPath.__qualname__ = f"{base.__name__}WithFastPath"
    _SUBCLASSES[base] = WithFastPath
    return WithFastPath


class EventsFastPath:
    """ASGI app for one route: `POST <path>` answered by `endpoint` (default: the ingest route's) with the route's
    body limit and `fastapi`'s exception handlers, without the framework's middleware stack and router."""

    def __init__(self, fastapi: FastAPI, *, path: str, body_limit: int, endpoint: Endpoint | None = None) -> None:
        self.fastapi, self.path = fastapi, path
        if endpoint is None:
            from services.ingest.api import post_events  # late: api imports the service's parts

            endpoint = post_events
        self.endpoint = endpoint
        self.limited = BodyLimit(self._answer, default=body_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.fastapi  # what Starlette sets: the endpoint reads app.state.runtime through it
        await self.limited(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = _handler_for(self.fastapi, exc)
            if handler is None:
                raise
            result = handler(request, exc)
            response = await result if inspect.isawaitable(result) else result
        await response(scope, receive, send)


def _handler_for(app: Any, exc: Exception) -> Callable[[Request, Exception], Any] | None:
    """The app's own handler for `exc`, as Starlette would pick it (a status code's, else the nearest class's,
    down to the catch-all `Exception` handler that answers 500)."""
    handlers: dict[Any, Any] = getattr(app, "exception_handlers", {})
    if isinstance(exc, StarletteHTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]  # type: ignore[no-any-return]
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]  # type: ignore[no-any-return]
    return None
