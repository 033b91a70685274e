"""The events route: POST /v1/events (one event, a JSON array or NDJSON), and what webhooks share with it
(`accept`). How it is documented: `events_openapi`; the sources admin API: `sources_api`."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from services.ingest import metrics
from services.ingest.admission import Admission
from services.ingest.auth import SourceInfo
from services.ingest.events_openapi import EVENTS_OPENAPI, EVENTS_RESPONSES
from services.ingest.intake import (
    IntakeError,
    Record,
    Rejection,
    adapter_for,
    count_by,
    media_type,
    parse_body,
    prepare,
)
from services.ingest.models import (
    Adapter,
)
from services.ingest.publisher import BrokerUnavailable
from services.ingest.runtime import Runtime
from shared.http import Problem, scope_header
from shared.models import utcnow

router = APIRouter(prefix="/v1", tags=["events"])


# How a request refused as a whole (intake.IntakeError) is answered: status, title, and the reason shown in the body
# and counted in the metrics (None: neither, as for a request that never got as far as its events).
REFUSALS: dict[str, tuple[int, str, str | None]] = {
    "unsupported_media_type": (415, "Unsupported media type", None),
    "invalid_utf8": (400, "Invalid UTF-8", "invalid_utf8"),
    "invalid_form": (400, "Malformed form", "invalid_form"),
    "invalid_json": (400, "Malformed JSON", "invalid_json"),
    "empty_batch": (422, "Empty batch", "missing_field"),
    "unknown_adapter": (400, "Unknown adapter", None),
    "no_mapping": (400, "No mapping", None),
    "forbidden_source": (403, "Forbidden source", "forbidden_source"),
}


def refusal(exc: IntakeError) -> Problem:
    """The problem+json answer to a request intake refused."""
    status, title, reason = REFUSALS[exc.reason]
    extra: dict[str, Any] = {"reason": reason} if reason else {}
    if exc.index is not None:
        extra["index"] = exc.index
    return Problem(status, title, exc.detail, **extra)


def _json(body: Any, status: int) -> Response:
    return _JsonResponse(orjson.dumps(body), status)


class _JsonResponse(Response):
    """Starlette's Response with the same two headers, set at once: its `init_headers` works out a media type's
    charset and whether a length is needed on every answer (docs/performance.md: with `_body`, 35.7-37.8 -> 32.5-34.0
    µs per single event in-process)."""

    media_type = "application/json"

    def __init__(self, content: bytes, status_code: int) -> None:
        self.status_code, self.body, self.background = status_code, content, None
        self.raw_headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json")]


async def _body(request: Request) -> bytes:
    """The whole body, as `await request.body()` reads it, without its async generator (a single event's body
    comes in one message); the size limit is enforced by the `receive` it reads from (shared.http.BodyLimit)."""
    chunks: list[bytes] = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@router.post(
    "/events",
    status_code=202,
    response_model=None,
    responses=EVENTS_RESPONSES,
    openapi_extra=EVENTS_OPENAPI,
    summary="Send one event, a JSON array of events, or NDJSON",
)
async def post_events(request: Request) -> Response:
    # The hot path reads the key, the adapter and the runtime straight from the request: FastAPI's dependency
    # resolution cost ~20% of a single event's CPU. They are documented in the OpenAPI operation instead.
    started = time.perf_counter()
    try:
        runtime: Runtime = request.app.state.runtime
        adapter = request.query_params.get("adapter") if request.scope["query_string"] else None
        requested = adapter or _header(request, b"x-journeyline-adapter")
        return await _ingest(request, runtime, _header(request, b"x-api-key"), requested)
    finally:
        metrics.HOT.observe(metrics.REQUEST_DURATION, time.perf_counter() - started, ("/v1/events",))


def _header(request: Request, name: bytes) -> str | None:
    """`request.headers.get(name)` without building the Headers mapping and lower-casing the name every call."""
    value = scope_header(request.scope, name)
    return None if value is None else value.decode("latin-1")


async def _ingest(request: Request, runtime: Runtime, api_key: str | None, requested: str | None) -> Response:
    source = await runtime.sources.lookup_or_reload(api_key)
    if source is None:
        detail = "send the source's key in X-API-Key" if not api_key else "the API key is unknown or revoked"
        raise Problem(401, "Unauthorized", detail)
    try:
        chosen = adapter_for(source, requested)
    except IntakeError as exc:
        raise refusal(exc) from None
    # The body's size limit is BodyLimit's (shared/http.py): over it, reading raises a 413 problem.
    return await accept(request, runtime, source, chosen, await _body(request))


async def accept(request: Request, runtime: Runtime, source: SourceInfo, chosen: Adapter, raw: bytes) -> Response:
    """An authenticated source's body: parse, limit, adapt, validate, publish; the answer says what was accepted."""
    settings = runtime.settings
    channel = source.channel.value
    try:
        body = parse_body(raw, media_type(_header(request, b"content-type")), channel=channel)
    except IntakeError as exc:
        problem = refusal(exc)
        if problem.extra.get("reason"):
            metrics.EVENTS.labels(source.name, channel, "rejected", problem.extra["reason"]).inc()
        raise problem from None
    if body.count > settings.max_batch_items:
        raise Problem(413, "Batch too large", f"{body.count} events; at most {settings.max_batch_items} per request")
    metrics.HOT.observe(metrics.BATCH_SIZE, body.count)
    wait = runtime.limiter.take(source, body.count)
    if wait:
        metrics.EVENTS.labels(source.name, channel, "rejected", "rate_limited").inc(body.count)
        raise Problem(
            429, "Too many requests", f"source {source.name!r} is over its rate limit; retry in {wait:.0f}s",
            headers={"Retry-After": f"{wait:.0f}"}, reason="rate_limited",
        )  # fmt: skip
    admission = runtime.admission
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
    except IntakeError as exc:  # a foreign source (or a missing mapping) refuses the whole request
        problem = refusal(exc)
        if problem.extra.get("reason"):
            metrics.EVENTS.labels(source.name, channel, "rejected", problem.extra["reason"]).inc(body.count)
        raise problem from None
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
        metrics.HOT.add(metrics.EVENTS, (source, channel, "rejected" if reason else "accepted", reason), n)


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
