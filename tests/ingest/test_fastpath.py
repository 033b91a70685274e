"""The fast path (services/ingest/fastpath.py) answers POST /v1/events exactly as the router would: every request
is sent to an app with it and to the same app without it, and the answers must be the same."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp

from services.ingest.fastpath import install
from shared.http import BodyLimit, Problem, install_problem_handlers

LIMIT = 2048
calls: list[str] = []


async def endpoint(request: Request) -> Response:
    calls.append(request.url.path)
    body = await request.body()
    if body == b"problem":
        raise Problem(429, "Too many requests", "slow down", headers={"Retry-After": "3"}, reason="rate_limited")
    if body == b"crash":
        raise RuntimeError("a bug")
    runtime = request.app.state.runtime  # the endpoint reaches the app's state through request.app
    return Response(b'{"status":"accepted","runtime":"' + runtime.encode() + b'"}', 202, media_type="application/json")


def make_app(*, fast: bool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, default=1024, limits={"/v1/events": LIMIT})
    app.add_api_route("/v1/events", endpoint, methods=["POST"], status_code=202)
    app.add_api_route("/v1/other", endpoint, methods=["POST"])
    app.state.runtime = "the-runtime"
    if fast:
        install(app, body_limit=LIMIT, endpoint=endpoint)
    return app


@pytest.fixture
async def clients() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    plain = httpx.AsyncClient(transport=httpx.ASGITransport(make_app(fast=False)), base_url="http://t")
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(make_app(fast=True)), base_url="http://t")
    async with plain, fast:
        yield plain, fast


async def _chunks(n: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * 512


REQUESTS = [
    ("POST", "/v1/events", b"{}"),
    ("POST", "/v1/events?adapter=generic", b"{}"),
    ("POST", "/v1/events", b"problem"),
    ("POST", "/v1/events", b"x" * (LIMIT + 1)),  # a declared Content-Length over the route's limit
    ("GET", "/v1/events", b""),
    ("POST", "/v1/events/", b"{}"),
    ("POST", "/v1/other", b"{}"),
    ("POST", "/v1/other", b"x" * 1500),  # another route's limit still applies
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
async def test_same_answer_with_and_without_the_fast_path(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], method: str, path: str, body: bytes
) -> None:
    plain, fast = clients
    expected = await plain.request(method, path, content=body or None)
    got = await fast.request(method, path, content=body or None)
    assert (got.status_code, got.content) == (expected.status_code, expected.content)
    for header in ("content-type", "retry-after", "connection", "allow"):
        assert got.headers.get(header) == expected.headers.get(header)


async def test_a_streamed_body_over_the_limit_is_cut_off_with_413(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    plain, fast = clients
    expected = await plain.post("/v1/events", content=_chunks(6))
    got = await fast.post("/v1/events", content=_chunks(6))
    assert expected.status_code == got.status_code == 413
    assert got.headers["content-type"] == "application/problem+json"
    assert got.json() == expected.json()


async def test_an_unexpected_error_is_a_500_problem_without_the_exception() -> None:
    app = make_app(fast=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        response = await client.post("/v1/events", content=b"crash")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "a bug" not in response.text and "RuntimeError" not in response.text


async def test_the_route_is_answered_by_the_fast_path_and_the_app_is_unchanged() -> None:
    app = make_app(fast=True)
    schema = make_app(fast=False).openapi()
    assert isinstance(app, FastAPI)
    assert app.openapi() == schema
    built: list[bool] = []
    build = app.build_middleware_stack

    def spy() -> ASGIApp:
        built.append(True)
        return build()

    app.build_middleware_stack = spy  # type: ignore[method-assign]
    calls.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        accepted = await client.post("/v1/events", content=b"{}")
        assert accepted.status_code == 202 and accepted.json()["runtime"] == "the-runtime"
        assert built == []  # the framework's stack was not even built: the fast path answered
        assert (await client.post("/v1/other", content=b"{}")).status_code == 202
        assert built == [True]
    assert calls == ["/v1/events", "/v1/other"]
