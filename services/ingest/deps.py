"""FastAPI dependencies as `Annotated` aliases: the running service's parts and the admin check."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.ingest.admission import Admission
from services.ingest.auth import RateLimiter, SourceCache
from services.ingest.publisher import Publisher
from services.ingest.settings import IngestSettings
from shared.http import Problem


@dataclass
class Runtime:
    """Everything a request needs, built once in the lifespan."""

    settings: IngestSettings
    engine: Engine
    sources: SourceCache
    limiter: RateLimiter
    publisher: Publisher
    # Events each source has handed to the broker and not yet had acknowledged: one source's flood may fill at
    # most INGEST_MAX_INFLIGHT_PER_SOURCE of the producer, and at most its fair share of a budget that follows
    # the broker's acknowledgement time (admission.py), so other sources' events are not held up behind it.
    admission: Admission | None = None

    def __post_init__(self) -> None:
        if self.admission is None:
            settings = self.settings
            self.admission = Admission(
                ceiling=settings.max_inflight_per_source,
                floor=max(1, settings.max_batch_items // 10),
                target=settings.produce_timeout_seconds / 4,
                max_wait=settings.produce_timeout_seconds,
            )

    @property
    def in_flight(self) -> dict[str, int]:
        """Events waiting for the broker, per source."""
        assert self.admission is not None
        return self.admission.in_flight


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
