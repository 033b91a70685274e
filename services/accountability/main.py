"""Wiring of the accountability service: `uvicorn services.accountability.main:app`. The Runtime (database,
consumer loop, outbox dispatcher, evaluator, theme and digest jobs) is built and started in the lifespan;
importing this module builds only the app's shape."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from services.accountability import alerts_api, api, feedback_api, themes_api
from services.accountability.board import routes as board_routes
from services.accountability.runtime import Runtime
from services.accountability.service import Clock
from services.accountability.settings import AccountabilitySettings
from shared.http import problem_response
from shared.wiring import service_app


def create_app(
    settings: AccountabilitySettings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> FastAPI:
    """The accountability service; settings come from the environment unless given (tests pass their own)."""
    conf = settings or AccountabilitySettings()
    app = service_app(
        name="accountability",
        settings=conf,
        runtime=lambda: Runtime(conf, clock=clock, engine=engine),
        checks=("broker", "database", "consumer"),
        routers=[api.router, feedback_api.router, alerts_api.router, themes_api.router, board_routes.router],
        body_limit=conf.max_body_bytes,
        title="Journeyline accountability",
        version="0.1.0",
        description="Stores classified feedback; stage owners, shared scorecards, moments of truth and alerts.",
    )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_: Request, __: Exception) -> JSONResponse:
        return problem_response(
            503,
            "Database unavailable",
            "the database is not reachable; try again shortly",
            headers={"Retry-After": "5"},
        )

    return app


app = create_app()
