"""The sources admin API: list, add, rotate a key, revoke (`Authorization: Bearer <INGEST_ADMIN_TOKEN>`)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from services.ingest.deps import AdminDep, RuntimeDep, SessionDep
from services.ingest.models import (
    SourceCreate,
    SourcePublic,
    SourceWithKey,
    source_public,
)
from services.ingest.sources import InvalidMapping, SourceError, add_source, list_sources, revoke_source, rotate_key
from shared.http import Problem, problem_responses

admin = APIRouter(prefix="/v1/sources", tags=["sources (admin)"])

ADMIN_RESPONSES = problem_responses(
    {
        401: "Missing or wrong admin token (Authorization: Bearer <INGEST_ADMIN_TOKEN>)",
        403: "The admin API is disabled (no INGEST_ADMIN_TOKEN)",
        422: "The request is not valid (`errors` says where)",
    }
)
NOT_FOUND = problem_responses({404: "No source of that name"})


@admin.get(
    "", response_model=list[SourcePublic], responses=ADMIN_RESPONSES, summary="List sources (keys are never shown)"
)
def get_sources(_: AdminDep, session: SessionDep) -> list[SourcePublic]:
    return [source_public(s) for s in list_sources(session=session)]


@admin.post(
    "",
    status_code=201,
    response_model=SourceWithKey,
    responses=ADMIN_RESPONSES
    | problem_responses({409: "A source of that name exists", 422: "Not a valid source, or an unusable mapping"}),
    summary="Add a source; its key is shown once",
)
def create_source(_: AdminDep, session: SessionDep, runtime: RuntimeDep, source: SourceCreate) -> SourceWithKey:
    try:
        row, key = add_source(session=session, source=source)
    except InvalidMapping as exc:
        raise Problem(422, "Invalid mapping", str(exc)) from None
    except (SourceError, IntegrityError) as exc:
        raise Problem(409, "Conflict", str(exc) if isinstance(exc, SourceError) else "the source exists") from None
    runtime.sources.put(row)
    return SourceWithKey(**source_public(row).model_dump(), api_key=key)


@admin.post(
    "/{name}/rotate",
    response_model=SourceWithKey,
    responses=ADMIN_RESPONSES | NOT_FOUND,
    summary="Issue a new key; the old one stops working",
)
def rotate_source(_: AdminDep, session: SessionDep, runtime: RuntimeDep, name: str) -> SourceWithKey:
    try:
        row, key = rotate_key(session=session, name=name)
    except SourceError as exc:
        raise Problem(404, "Not found", str(exc)) from None
    runtime.sources.put(row)
    return SourceWithKey(**source_public(row).model_dump(), api_key=key)


@admin.post(
    "/{name}/revoke",
    response_model=SourcePublic,
    responses=ADMIN_RESPONSES | NOT_FOUND,
    summary="Stop accepting the source's key",
)
def revoke(_: AdminDep, session: SessionDep, runtime: RuntimeDep, name: str) -> SourcePublic:
    try:
        row = revoke_source(session=session, name=name)
    except SourceError as exc:
        raise Problem(404, "Not found", str(exc)) from None
    runtime.sources.put(row)
    return source_public(row)
