"""FastAPI dependencies: the runtime, a database session, and the token a route requires."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from enum import IntEnum
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel import Session

from services.accountability.runtime import Runtime
from shared.http import Problem

ACTOR_HEADER = "X-Journeyline-Actor"


class Role(IntEnum):
    """Read < operator < admin: a stronger token may do everything a weaker one may."""

    read = 1
    operator = 2
    admin = 3


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _role_of(token: str, runtime: Runtime) -> Role | None:
    s = runtime.settings
    for role, expected in ((Role.admin, s.admin_token), (Role.operator, s.operator_token), (Role.read, s.read_token)):
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return role
    return None


def require(role: Role) -> Callable[..., str]:
    """A dependency that admits a bearer token of at least `role` and returns the actor's name."""

    def check(
        runtime: RuntimeDep,
        authorization: Annotated[str | None, Header()] = None,
        # 180: with " (operator)" appended it still fits the 200-character actor columns.
        actor: Annotated[str | None, Header(alias=ACTOR_HEADER, max_length=180)] = None,
    ) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                401,
                "Unauthorized",
                f"send 'Authorization: Bearer <token>' with {_a(role.name)} token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        have = _role_of(token.strip(), runtime)
        if have is None:
            raise Problem(401, "Unauthorized", "the token is not valid", headers={"WWW-Authenticate": "Bearer"})
        if have < role:
            raise Problem(403, "Forbidden", f"this needs {_a(role.name)} token; yours is {_a(have.name)} token")
        return f"{actor.strip()} ({have.name})" if actor and actor.strip() else have.name

    return check


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


ReaderDep = Annotated[str, Depends(require(Role.read))]
OperatorDep = Annotated[str, Depends(require(Role.operator))]
AdminDep = Annotated[str, Depends(require(Role.admin))]


def storable_id(value: str, *, longest: int = 64) -> str | None:
    """The id as given when a row could have it; None for one no row can have (too long, or a NUL character,
    which PostgreSQL refuses in any text): the caller answers 404 instead of asking the database."""
    return None if len(value) > longest or "\x00" in value else value
