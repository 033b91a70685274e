"""Thin routers: POST /v1/events (one event, a JSON array or NDJSON) and the sources admin API."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError

from services.ingest import metrics
from services.ingest.adapters.generic import GenericEvent
from services.ingest.admission import Admission
from services.ingest.auth import SourceInfo
from services.ingest.deps import AdminDep, Runtime, RuntimeDep, SessionDep
from services.ingest.examples import EXAMPLES, FORM_EXAMPLE, NDJSON_EXAMPLE
from services.ingest.intake import Record, Rejection, adapter_for, count_by, media_type, parse_body, prepare
from services.ingest.models import (
    Accepted,
    Adapter,
    BatchResult,
    SourceCreate,
    SourcePublic,
    SourceWithKey,
    source_public,
)
from services.ingest.publisher import BrokerUnavailable
from services.ingest.service import InvalidMapping, SourceError, add_source, list_sources, revoke_source, rotate_key
from shared.http import PROBLEM_JSON, Problem
from shared.models import utcnow

router = APIRouter(prefix="/v1", tags=["events"])
admin = APIRouter(prefix="/v1/sources", tags=["sources (admin)"])


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `$defs` references inlined: they would resolve against the OpenAPI document's root."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"type": "object"}}}}
_EVENTS_OPENAPI: dict[str, Any] = {
    "security": [{"APIKeyHeader": []}],
    "parameters": [
        {
            "name": "adapter",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": [a.value for a in Adapter]},
            "description": "Payload shape; defaults to the source's adapter",
        },
        {
            "name": "X-Journeyline-Adapter",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": [a.value for a in Adapter]},
            "description": "The same as ?adapter=",
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        _inline(GenericEvent.model_json_schema()),
                        {"type": "object", "description": "A payload of the chosen adapter (see the examples)"},
                        {"type": "array", "items": {"type": "object"}, "description": "A batch"},
                    ]
                },
                "examples": EXAMPLES,
            },
            "application/x-ndjson": {"schema": {"type": "string"}, "example": NDJSON_EXAMPLE},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}},
                "example": FORM_EXAMPLE,
            },
        },
    },
}
_EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Every event is on the broker (acks=all). One event: `Accepted`; a batch: `BatchResult`."},
    207: {"description": "Some events of the batch were accepted; see `results`", "model": BatchResult},
    400: {"description": "Malformed JSON, invalid UTF-8 or unknown adapter", **_PROBLEM},
    401: {"description": "Missing, unknown or revoked API key", **_PROBLEM},
    403: {"description": "An event names another source", **_PROBLEM},
    413: {"description": "Body or batch too large", **_PROBLEM},
    415: {"description": "Not JSON, NDJSON or a form (x-www-form-urlencoded), or not UTF-8", **_PROBLEM},
    422: {"description": "No event was valid (`reason` per item)", **_PROBLEM},
    429: {
        "description": "The source's rate limit (`rate_limited`), or too many of its events waiting for the broker "
        "(`source_busy`); see Retry-After",
        **_PROBLEM,
    },
    503: {"description": "The broker did not acknowledge in time; retry after Retry-After", **_PROBLEM},
}


def _json(body: Any, status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.post(
    "/events",
    status_code=202,
    response_model=Accepted,
    responses=_EVENTS_RESPONSES,
    openapi_extra=_EVENTS_OPENAPI,
    summary="Send one event, a JSON array of events, or NDJSON",
)
async def post_events(request: Request) -> Response:
    # The hot path reads the key, the adapter and the runtime straight from the request: FastAPI's dependency
    # resolution cost ~20% of a single event's CPU. They are documented in the OpenAPI operation instead.
    started = time.perf_counter()
    try:
        runtime: Runtime = request.app.state.runtime
        requested = request.query_params.get("adapter") or request.headers.get("x-journeyline-adapter")
        return await _ingest(request, runtime, request.headers.get("x-api-key"), requested)
    finally:
        metrics.REQUEST_DURATION.labels("/v1/events").observe(time.perf_counter() - started)


async def _ingest(request: Request, runtime: Runtime, api_key: str | None, requested: str | None) -> Response:
    source = await runtime.sources.lookup_or_reload(api_key)
    if source is None:
        detail = "send the source's key in X-API-Key" if not api_key else "the API key is unknown or revoked"
        raise Problem(401, "Unauthorized", detail)
    chosen = adapter_for(source, requested)
    # The body's size limit is BodyLimit's (shared/http.py): over it, reading raises a 413 problem.
    return await accept(request, runtime, source, chosen, await request.body())


async def accept(request: Request, runtime: Runtime, source: SourceInfo, chosen: Adapter, raw: bytes) -> Response:
    """An authenticated source's body: parse, limit, adapt, validate, publish; the answer says what was accepted."""
    settings = runtime.settings
    fmt = media_type(request.headers.get("content-type"))
    channel = source.channel.value
    try:
        body = parse_body(raw, fmt, channel=channel)
    except Problem as problem:
        if problem.extra.get("reason"):
            metrics.EVENTS.labels(source.name, channel, "rejected", problem.extra["reason"]).inc()
        raise
    if body.count > settings.max_batch_items:
        raise Problem(413, "Batch too large", f"{body.count} events; at most {settings.max_batch_items} per request")
    metrics.BATCH_SIZE.observe(body.count)
    wait = runtime.limiter.take(source, body.count)
    if wait:
        metrics.EVENTS.labels(source.name, channel, "rejected", "rate_limited").inc(body.count)
        raise Problem(
            429, "Too many requests", f"source {source.name!r} is over its rate limit; retry in {wait:.0f}s",
            headers={"Retry-After": f"{wait:.0f}"}, reason="rate_limited",
        )  # fmt: skip
    admission = runtime.admission
    assert admission is not None
    # Checked before adapting and validating (most of a request's CPU): a flood's refused or waiting requests
    # must not starve the event loop that serves every other source's acknowledgements.
    waits_until = asyncio.get_running_loop().time() + admission.max_wait
    if not await admission.room(source.name, body.count, deadline=waits_until):
        raise _source_busy(source, channel, admission, body.count)
    now = utcnow()
    try:
        records, rejections = prepare(
            body, source=source, adapter=chosen, received_at=now,
            max_future=timedelta(seconds=settings.max_future_skew_seconds),
        )  # fmt: skip
    except Problem as problem:  # a foreign source refuses the whole request
        metrics.EVENTS.labels(source.name, channel, "rejected", "forbidden_source").inc(body.count)
        raise problem
    _charge_envelopes(runtime, source, channel, body.count, len(records) + len(rejections))
    _count(source.name, rejections)
    if not records:
        raise _none_accepted(body.batch, rejections)
    # An envelope may expand to more than the pre-check counted. `room` answers True only when there is room now,
    # and nothing is awaited between it and `take`.
    if not await admission.room(source.name, len(records), deadline=waits_until):
        raise _source_busy(source, channel, admission, len(records))
    admission.take(source.name, len(records))
    publishing = time.perf_counter()
    try:
        await runtime.publisher.publish(records)
    except BrokerUnavailable as exc:
        metrics.EVENTS.labels(source.name, channel, "rejected", "broker_unavailable").inc(len(records) - len(exc.acked))
        acked = set(exc.acked)
        _count(source.name, [r for r in records if r.id in acked])
        retry = str(settings.retry_after_seconds)
        raise Problem(
            503, "Broker unavailable", "the events were not acknowledged by the broker; send the same request again",
            headers={"Retry-After": retry}, reason="broker_unavailable", acknowledged=exc.acked,
        ) from None  # fmt: skip
    finally:
        admission.release(source.name, len(records))
        admission.observe(time.perf_counter() - publishing, len(records))
    _count(source.name, records)
    if not body.batch and len(records) == 1 and not rejections:
        return _json({"status": "accepted", "id": records[0].id}, 202)
    return _batch_response(records, rejections)


def _source_busy(source: SourceInfo, channel: str, admission: Admission, events: int) -> Problem:
    waiting = admission.in_flight.get(source.name, 0)
    metrics.EVENTS.labels(source.name, channel, "rejected", "source_busy").inc(events)
    return Problem(
        429, "Too many events in flight", f"source {source.name!r} has {waiting} events waiting for the broker; "
        "retry shortly", headers={"Retry-After": "1"}, reason="source_busy",
    )  # fmt: skip


def _charge_envelopes(runtime: Runtime, source: SourceInfo, channel: str, posted: int, expanded: int) -> None:
    """An envelope (a Meta webhook with many changes, a page of reviews) counts as the records it expands to:
    against the batch limit, and against the source's rate limit for the records beyond the ones posted."""
    limit = runtime.settings.max_batch_items
    if expanded > limit:
        metrics.EVENTS.labels(source.name, channel, "rejected", "batch_too_large").inc(expanded)
        raise Problem(
            413, "Batch too large", f"the request expands to {expanded} events; at most {limit} per request",
            reason="batch_too_large",
        )  # fmt: skip
    if expanded > posted and (wait := runtime.limiter.take(source, expanded - posted)):
        metrics.EVENTS.labels(source.name, channel, "rejected", "rate_limited").inc(expanded)
        raise Problem(
            429, "Too many requests", f"source {source.name!r} is over its rate limit; retry in {wait:.0f}s",
            headers={"Retry-After": f"{wait:.0f}"}, reason="rate_limited",
        )  # fmt: skip


def _count(source: str, items: list[Record] | list[Rejection]) -> None:
    for (channel, reason), n in count_by(items).items():
        metrics.EVENTS.labels(source, channel, "rejected" if reason else "accepted", reason).inc(n)


def _results(records: list[Record], rejections: list[Rejection]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"index": r.index, **({"part": r.part} if r.part is not None else {}), "status": "accepted", "id": r.id}
        for r in records
    ]
    rows += [
        {"index": r.index, **({"part": r.part} if r.part is not None else {}), "status": "rejected",
         "reason": r.reason, "detail": r.detail}
        for r in rejections
    ]  # fmt: skip
    rows.sort(key=lambda row: (row["index"], row.get("part", 0)))
    return rows


def _batch_response(records: list[Record], rejections: list[Rejection]) -> Response:
    status = "partial" if rejections else "accepted"
    body = {"status": status, "accepted": len(records), "rejected": len(rejections)}
    body["results"] = _results(records, rejections)  # type: ignore[assignment]
    return _json(body, 207 if rejections else 202)


def _none_accepted(batch: bool, rejections: list[Rejection]) -> Problem:
    if not batch and len(rejections) == 1:
        first = rejections[0]
        return Problem(422, "Invalid event", first.detail, reason=first.reason)
    return Problem(
        422, "No event accepted", f"all {len(rejections)} events were rejected; see results",
        outcome="rejected", accepted=0, rejected=len(rejections), results=_results([], rejections),
    )  # fmt: skip


@admin.get("", response_model=list[SourcePublic], summary="List sources (keys are never shown)")
def get_sources(_: AdminDep, session: SessionDep) -> list[SourcePublic]:
    return [source_public(s) for s in list_sources(session=session)]


@admin.post("", status_code=201, response_model=SourceWithKey, summary="Add a source; its key is shown once")
def create_source(_: AdminDep, session: SessionDep, runtime: RuntimeDep, source: SourceCreate) -> SourceWithKey:
    try:
        row, key = add_source(session=session, source=source)
    except InvalidMapping as exc:
        raise Problem(422, "Invalid mapping", str(exc)) from None
    except (SourceError, IntegrityError) as exc:
        raise Problem(409, "Conflict", str(exc) if isinstance(exc, SourceError) else "the source exists") from None
    runtime.sources.put(row)
    return SourceWithKey(**source_public(row).model_dump(), api_key=key)


@admin.post("/{name}/rotate", response_model=SourceWithKey, summary="Issue a new key; the old one stops working")
def rotate_source(_: AdminDep, session: SessionDep, runtime: RuntimeDep, name: str) -> SourceWithKey:
    try:
        row, key = rotate_key(session=session, name=name)
    except SourceError as exc:
        raise Problem(404, "Not found", str(exc)) from None
    runtime.sources.put(row)
    return SourceWithKey(**source_public(row).model_dump(), api_key=key)


@admin.post("/{name}/revoke", response_model=SourcePublic, summary="Stop accepting the source's key")
def revoke(_: AdminDep, session: SessionDep, runtime: RuntimeDep, name: str) -> SourcePublic:
    try:
        row = revoke_source(session=session, name=name)
    except SourceError as exc:
        raise Problem(404, "Not found", str(exc)) from None
    runtime.sources.put(row)
    return source_public(row)
