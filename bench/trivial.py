"""The HTTP ceiling `journeyline bench ingest` compares ingest with: FastAPI, one POST route that reads nothing and
answers 202 (`uvicorn bench.trivial:app`)."""

from __future__ import annotations

from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/readyz")
async def ready() -> Response:
    return Response(b"{}", media_type="application/json")


@app.post("/v1/events")
async def events() -> Response:
    return Response(b'{"status":"accepted"}', status_code=202, media_type="application/json")
