"""Native vendor webhooks: `POST /v1/hooks/{source}` authenticated by the vendor's own signature on the raw bytes
(no X-API-Key), `GET /v1/hooks/{source}` for Meta's and X's subscription checks, and the admin route that sets a
source's signing secrets (two at once during a rotation)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from services.ingest import metrics
from services.ingest.api import accept
from services.ingest.auth import SourceInfo
from services.ingest.deps import AdminDep, RuntimeDep, SessionDep
from services.ingest.events_openapi import EVENTS_RESPONSES
from services.ingest.models import Adapter, HookSecrets, SourcePublic, source_public
from services.ingest.runtime import Runtime
from services.ingest.signatures import BadSignature, handshake, verify
from services.ingest.sources import SourceError, set_hook_secrets
from services.ingest.sources_api import ADMIN_RESPONSES, NOT_FOUND
from shared.http import Problem, Responses, problem_responses
from shared.models import utcnow

router = APIRouter(prefix="/v1/hooks", tags=["webhooks"])
admin = APIRouter(prefix="/v1/sources", tags=["sources (admin)"])

# Which adapter family reads each vendor's payloads.
ADAPTER_OF_VENDOR = {
    "zendesk": Adapter.call_centre,
    "intercom": Adapter.call_centre,
    "twilio": Adapter.call_centre,
    "meta": Adapter.social,
    "x": Adapter.social,
    "typeform": Adapter.survey,
    "delighted": Adapter.survey,
}
_NO_HOOK = problem_responses({404: "No active source of that name takes signed webhooks"})
_POST_RESPONSES: Responses = {
    **{status: response for status, response in EVENTS_RESPONSES.items() if status != 401},
    **problem_responses({401: "No valid vendor signature (or a stale timestamp)"}),
    **_NO_HOOK,
}
_GET_RESPONSES: Responses = {
    200: {
        "description": "The vendor's expected answer: Meta's hub.challenge as text, X's response_token as JSON",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object", "properties": {"response_token": {"type": "string"}}}},
        },
    },
    **problem_responses({401: "The handshake's token or signature is wrong"}),
    **_NO_HOOK,
}
_HOOK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The vendor's webhook payload, byte for byte as the vendor signed it",
        "content": {
            "application/json": {"schema": {}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        },
    }
}


def _hook_source(runtime: Runtime, name: str) -> SourceInfo:
    source = runtime.sources.by_name(name)
    if source is None or not source.hook_vendor:
        raise Problem(404, "Not found", f"no active source {name[:64]!r} takes signed webhooks")
    return source


@router.post(
    "/{source}",
    status_code=202,
    response_model=None,
    responses=_POST_RESPONSES,
    openapi_extra=_HOOK_BODY,
    summary="A vendor's webhook, authenticated by its signature",
)
async def post_hook(source: str, request: Request) -> Response:
    started = time.perf_counter()
    try:
        runtime: Runtime = request.app.state.runtime
        found = _hook_source(runtime, source)
        raw = await request.body()  # within BodyLimit's limit for /v1/hooks/, like /v1/events
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verify(
                str(found.hook_vendor), secrets=found.hook_secrets, headers=headers, body=raw,
                url=str(request.url), now=utcnow(),
            )  # fmt: skip
        except BadSignature as exc:
            metrics.EVENTS.labels(found.name, found.channel.value, "rejected", "bad_signature").inc()
            raise Problem(401, "Bad signature", exc.reason, reason="bad_signature") from None
        return await accept(request, runtime, found, ADAPTER_OF_VENDOR[str(found.hook_vendor)], raw)
    finally:
        metrics.REQUEST_DURATION.labels("/v1/hooks").observe(time.perf_counter() - started)


@router.get(
    "/{source}",
    response_model=None,
    response_class=PlainTextResponse,
    responses=_GET_RESPONSES,
    summary="Meta's hub.challenge handshake, X's CRC check",
)
async def get_hook(source: str, request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    found = _hook_source(runtime, source)
    try:
        answer = handshake(
            str(found.hook_vendor), secrets=found.hook_secrets, verify_token=found.hook_verify_token,
            query=dict(request.query_params),
        )  # fmt: skip
    except BadSignature as exc:
        raise Problem(401, "Handshake refused", exc.reason) from None
    return PlainTextResponse(answer) if isinstance(answer, str) else JSONResponse(answer)


@admin.put(
    "/{name}/hook",
    response_model=SourcePublic,
    responses=ADMIN_RESPONSES | NOT_FOUND,
    summary="Set the vendor and webhook signing secrets",
)
def put_hook(name: str, hook: HookSecrets, _: AdminDep, session: SessionDep, runtime: RuntimeDep) -> SourcePublic:
    try:
        row = set_hook_secrets(session=session, name=name, hook=hook)
    except SourceError as exc:
        raise Problem(404, "Not found", str(exc)) from None
    runtime.sources.put(row)
    return source_public(row)
