"""Wiring of the classify service: `uvicorn services.classify.main:app`. The Runtime (model, producers, consumer
loops) is built and started in the lifespan; importing this module builds only the app's shape."""

from __future__ import annotations

from fastapi import FastAPI

from services.classify.api import router
from services.classify.runtime import Runtime
from services.classify.settings import ClassifySettings
from shared.wiring import service_app


def create_app(settings: ClassifySettings | None = None) -> FastAPI:
    """The classify service; settings come from the environment unless given (tests pass their own)."""
    conf = settings or ClassifySettings()
    return service_app(
        name="classify",
        settings=conf,
        runtime=lambda: Runtime(conf),
        checks=("broker", "consumer"),
        routers=[router],
        body_limit=conf.max_body_bytes,
        title="Journeyline classify",
        version="0.1.0",
        description="Gives every feedback item a journey stage, sentiment and severity, with confidence and why.",
    )


app = create_app()
