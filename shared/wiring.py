"""One wiring pattern for the three services.

`service_app` builds a service's FastAPI app: its shape only (routes, problem handlers, body limits and the
operations routes), so importing `services.<name>.main` touches neither disk nor network. Its lifespan configures
logging once, builds the service's `Runtime` from the settings, starts it, keeps it on `app.state.runtime`, and
stops it on the way out. `/readyz` asks the running Runtime's checks; before it runs, every check is failing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI

from shared import gil, heap
from shared.http import BodyLimit, ReadinessCheck, document_problems, install_problem_handlers, ops_router
from shared.logging import configure_logging
from shared.settings import CommonSettings


class Runtime(Protocol):
    """What a service runs: built from its settings in the lifespan, started, asked for readiness, stopped."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def checks(self) -> Mapping[str, ReadinessCheck]:
        """What must answer for the service to be ready, by name (`/readyz` reports each)."""
        ...

    async def ready(self) -> bool: ...


async def all_ready(checks: Mapping[str, ReadinessCheck]) -> bool:
    """Every check answers True within 3 s; a check that raises is not ready."""
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), 3.0) for check in checks.values()), return_exceptions=True
    )
    return all(result is True for result in results)


def service_app(
    *,
    name: str,
    settings: CommonSettings,
    runtime: Callable[[], Runtime],
    checks: Sequence[str],
    routers: Sequence[APIRouter],
    body_limit: int,
    body_limits: dict[str, int] | None = None,
    title: str,
    version: str,
    description: str,
) -> FastAPI:
    """The app of service `name`. `runtime` builds its Runtime at start-up (not before); `checks` names what
    its `/readyz` reports."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(name, settings.log_level)
        if settings.malloc_arenas:
            heap.limit_arenas(settings.malloc_arenas)  # before the runtime starts its threads
        running = runtime()
        app.state.runtime = running
        await running.start()
        if settings.gc_young_objects:
            heap.settle(settings.gc_young_objects)  # what start-up built is never walked again
        if settings.switch_interval_ms:
            gil.share(settings.switch_interval_ms)  # the event loop waits less for its worker threads
        try:
            yield
        finally:
            await running.stop()

    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan, **settings.docs_urls())
    install_problem_handlers(app)
    document_problems(app)  # the OpenAPI document says what those handlers answer
    app.add_middleware(BodyLimit, default=body_limit, limits=body_limits)

    def check(check_name: str) -> ReadinessCheck:
        async def answer() -> bool:
            running: Runtime | None = getattr(app.state, "runtime", None)
            return running is not None and await running.checks()[check_name]()

        return answer

    ops = ops_router({n: check(n) for n in checks}, metrics_token=settings.metrics_token)
    for router in (ops, *routers):
        app.include_router(router)
    return app
