"""The HTTP pieces every service shares: the body limit, the metrics token, the API docs switch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from services.ingest.main import create_app as create_ingest
from services.ingest.settings import IngestSettings
from shared.http import BodyLimit, install_problem_handlers, ops_router


def _app(reads: list[int]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, default=1000, limits={"/big": 100_000})

    @app.post("/small")
    @app.post("/big")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        reads.append(len(body))
        return {"bytes": len(body)}

    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def _chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 500):
        yield b"x" * 500


async def test_a_declared_body_over_the_route_limit_is_refused_before_the_route_runs() -> None:
    reads: list[int] = []
    async with await _client(_app(reads)) as client:
        refused = await client.post("/small", content=b"x" * 1001)
        fits = await client.post("/small", content=b"x" * 1000)
        bigger_route = await client.post("/big", content=b"x" * 50_000)
    assert refused.status_code == 413 and refused.headers["content-type"] == "application/problem+json"
    assert "at most 1000" in refused.json()["detail"]
    assert fits.status_code == 200 and bigger_route.status_code == 200
    assert reads == [1000, 50_000]  # the refused body never reached the route


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit() -> None:
    reads: list[int] = []
    async with await _client(_app(reads)) as client:
        refused = await client.post("/small", content=_chunks(10_000))
    assert refused.status_code == 413 and "exceeds the 1000-byte limit" in refused.json()["detail"]
    assert reads == []


@pytest.mark.parametrize("token", [None, "s3cret-metrics"])
async def test_metrics_can_require_a_token(token: str | None) -> None:
    app = FastAPI()
    app.include_router(ops_router({}, metrics_token=token))
    async with await _client(app) as client:
        bare = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    if token is None:
        assert bare.status_code == 200
    else:
        assert bare.status_code == 401 and wrong.status_code == 401 and right.status_code == 200
        assert "journeyline" in right.text or "python_gc" in right.text


async def test_the_api_docs_can_be_switched_off(tmp_path: object) -> None:
    on = create_ingest(IngestSettings(database_url="sqlite://"))
    off = create_ingest(IngestSettings(database_url="sqlite://", api_docs=False))
    async with await _client(on) as client:
        assert (await client.get("/openapi.json")).status_code == 200
    async with await _client(off) as client:
        assert (await client.get("/openapi.json")).status_code == 404
        assert (await client.get("/docs")).status_code == 404
