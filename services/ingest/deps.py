"""FastAPI dependencies as `Annotated` aliases: the running service's `Runtime` (services/ingest/runtime.py), a
database session and the admin check."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from services.ingest.runtime import Runtime
from shared.http import Problem


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with Session(runtime.engine) as session:
        yield session


admin_bearer = HTTPBearer(auto_error=False, description="INGEST_ADMIN_TOKEN")


def require_admin(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(admin_bearer)],
) -> None:
    expected = runtime.settings.admin_token
    if not expected:
        raise Problem(403, "Admin API disabled", "set INGEST_ADMIN_TOKEN to manage sources over HTTP")
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise Problem(
            401,
            "Unauthorized",
            "send Authorization: Bearer <INGEST_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
AdminDep = Annotated[None, Depends(require_admin)]
