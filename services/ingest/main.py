"""Wiring of the ingest service: `uvicorn services.ingest.main:app`. The Runtime (database, API-key cache,
producer) is built and started in the lifespan; importing this module builds only the app's shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from services.ingest import fastpath, hooks
from services.ingest.adapters.generic import GenericEvent
from services.ingest.api import router
from services.ingest.events_openapi import batch_schema
from services.ingest.models import Accepted, BatchResult
from services.ingest.runtime import Runtime
from services.ingest.settings import IngestSettings
from services.ingest.sources_api import admin
from shared.wiring import service_app

DESCRIPTION = """The front door for call-centre, social, review and survey tools.

Send one event, a JSON array or NDJSON to `POST /v1/events` with your source's `X-API-Key`.
`202` means every accepted event is on the broker (acks=all). Errors are `application/problem+json`.
The same `external_id` from the same source always gives the same event id, so retries are safe.
See docs/ingest.md for the integrator's guide."""


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """The ingest service; settings come from the environment unless given (tests pass their own). Only the app's
    shape is built here: the Runtime (database, key cache, producer) is built and started in the lifespan."""
    conf = settings or IngestSettings()
    app = service_app(
        name="ingest",
        settings=conf,
        runtime=lambda: Runtime(conf),
        checks=("broker", "database"),
        routers=[router, admin, hooks.router, hooks.admin],
        body_limit=conf.max_admin_body_bytes,
        body_limits={"/v1/events": conf.max_body_bytes, "/v1/hooks/": conf.max_body_bytes},
        title="Journeyline ingest",
        version="1.0",
        description=DESCRIPTION,
    )
    _complete_openapi(app, conf)
    fastpath.install(app, body_limit=conf.max_body_bytes)  # POST /v1/events past the framework's routing
    return app


def _complete_openapi(app: FastAPI, settings: IngestSettings) -> None:
    """What the routes cannot say themselves: POST /v1/events reads X-API-Key itself (no dependency on the hot path),
    its schemas name models no route returns as such, its batch limit is a setting (the problem answers are
    documented by `service_app`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {})["APIKeyHeader"] = {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
            }
            _, defs = models_json_schema(
                [(m, "validation") for m in (GenericEvent, Accepted, BatchResult)],
                ref_template="#/components/schemas/{model}",
            )
            for name, definition in defs.get("$defs", {}).items():
                components.setdefault("schemas", {}).setdefault(name, definition)
            batch = batch_schema(settings.max_batch_items)
            content = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]
            content["application/json"]["schema"]["anyOf"][1] = batch
            content["application/x-ndjson"]["schema"] = batch
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


app = create_app()
