"""The board against a real SQLite store without a broker: a runtime with what the board's routes read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability.board.routes import router
from services.accountability.migrate import upgrade
from services.accountability.ownership import seed
from services.accountability.service import process_batch
from services.accountability.settings import AccountabilitySettings
from shared.db import make_engine
from shared.journey import JourneyMap, load_journey_map
from shared.models import ClassifiedFeedback
from tests.accountability.factories import MovableClock

TOKENS = {"read": "r-token", "operator": "o-token", "admin": "a-token"}


class _Dispatcher:
    def __init__(self) -> None:
        self.notified = 0

    def notify(self) -> None:
        self.notified += 1


@dataclass
class BoardRuntime:
    """What `services.accountability.runtime.Runtime` offers the board, minus the broker."""

    settings: AccountabilitySettings
    clock: MovableClock
    engine: Engine
    journey: JourneyMap
    dispatcher: _Dispatcher = field(default_factory=_Dispatcher)

    @property
    def topics(self) -> Any:
        return self.settings.topics

    def store(self, items: list[ClassifiedFeedback]) -> None:
        with Session(self.engine) as session:
            process_batch(
                session=session, journey=self.journey, items=items, now=self.clock(), alerts_topic=self.topics.alerts
            )
            session.commit()


def settings(tmp_path: Path, **overrides: Any) -> AccountabilitySettings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'board.db'}",
        "read_token": TOKENS["read"],
        "operator_token": TOKENS["operator"],
        "admin_token": TOKENS["admin"],
        "session_secret": "test-session-secret",
        **overrides,
    }
    return AccountabilitySettings(**values)


def runtime(tmp_path: Path, clock: MovableClock, **overrides: Any) -> BoardRuntime:
    conf = settings(tmp_path, **overrides)
    engine = make_engine(conf.database_url)
    upgrade(engine)
    journey = load_journey_map(conf.journey_map)
    with Session(engine) as session:
        seed(session=session, journey=journey, now=clock())
        session.commit()
    return BoardRuntime(settings=conf, clock=clock, engine=engine, journey=journey)


def app_for(rt: BoardRuntime) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.runtime = rt
    return app


@contextmanager
def client(rt: BoardRuntime) -> Iterator[httpx.Client]:
    transport = httpx.ASGITransport(app=app_for(rt))  # type: ignore[arg-type]
    # httpx's ASGI transport is async-only: drive it from a sync client through a small adapter
    with httpx.Client(transport=_SyncASGI(transport), base_url="http://board.test") as c:
        yield c


class _SyncASGI(httpx.BaseTransport):
    def __init__(self, inner: httpx.ASGITransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import anyio

        async def go() -> httpx.Response:
            body = await request.aread()
            req = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            response = await self.inner.handle_async_request(req)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return anyio.run(go)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(c: httpx.Client, role: str, name: str = "ann") -> httpx.Response:
    page = c.get("/board/login")
    return c.post(
        "/board/login",
        data={"csrf": csrf_of(page.text), "token": TOKENS[role], "name": name, "next": "/board"},
    )
