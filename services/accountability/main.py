"""Wiring: the FastAPI app, its lifespan (runtime start/stop), routers, and the operations routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from services.accountability import alerts_api, api, feedback_api, themes_api
from services.accountability.board import routes as board_routes
from services.accountability.runtime import Runtime
from services.accountability.service import Clock
from services.accountability.settings import AccountabilitySettings
from shared.http import BodyLimit, install_problem_handlers, ops_router, problem_response
from shared.logging import configure_logging


def create_app(
    settings: AccountabilitySettings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> FastAPI:
    """The accountability service; settings come from the environment unless given (tests pass their own)."""
    holder: dict[str, Runtime] = {}
    static = settings or AccountabilitySettings()  # what the app's shape needs before start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conf = settings or AccountabilitySettings()
        configure_logging("accountability", conf.log_level)
        runtime = Runtime(conf, clock=clock, engine=engine)
        holder["runtime"] = runtime
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Journeyline accountability",
        version="0.1.0",
        description="Stores classified feedback; stage owners, shared scorecards, moments of truth and alerts.",
        lifespan=lifespan,
        **static.docs_urls(),
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, default=static.max_body_bytes)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_: Request, __: Exception) -> JSONResponse:
        return problem_response(
            503,
            "Database unavailable",
            "the database is not reachable; try again shortly",
            headers={"Retry-After": "5"},
        )

    async def broker() -> bool:
        return await holder["runtime"].broker_ready()

    async def database() -> bool:
        return await holder["runtime"].database_ready()

    async def consumer() -> bool:
        return await holder["runtime"].consumer_ready()

    app.include_router(
        ops_router({"broker": broker, "database": database, "consumer": consumer}, metrics_token=static.metrics_token)
    )
    app.include_router(api.router)
    app.include_router(feedback_api.router)
    app.include_router(alerts_api.router)
    app.include_router(themes_api.router)
    app.include_router(board_routes.router)
    return app


app = create_app()
