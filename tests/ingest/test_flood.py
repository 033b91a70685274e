"""One source's flood cannot hold up the others: a source may have at most INGEST_MAX_INFLIGHT_PER_SOURCE events
waiting for the broker; past that its requests get 429 at once, while other sources' events go through."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from services.ingest.auth import RateLimiter, SourceCache
from services.ingest.main import create_app
from services.ingest.models import Adapter, SourceCreate
from services.ingest.runtime import Runtime
from services.ingest.settings import IngestSettings
from services.ingest.sources import add_source, create_tables
from shared.db import make_engine
from shared.models import Channel


class SlowBroker:
    """A publisher whose acknowledgements wait until the test releases them."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.published: list[str] = []
        self.up = True

    async def publish(self, records: list[Any]) -> None:
        await self.release.wait()
        self.published += [r.id for r in records]


async def test_a_flooding_source_gets_429_while_another_source_is_served(tmp_path: Path) -> None:
    settings = IngestSettings(database_url=f"sqlite:///{tmp_path / 'ingest.db'}", max_inflight_per_source=10)
    engine = make_engine(settings.database_url)
    create_tables(engine)
    keys = {}
    with Session(engine) as session:
        for name in ("flood", "quiet"):
            _, keys[name] = add_source(
                session=session, source=SourceCreate(name=name, channel=Channel.chat, adapter=Adapter.generic)
            )
    sources = SourceCache(engine, refresh_seconds=60)
    await sources.refresh()
    broker = SlowBroker()
    app = create_app(settings)
    app.state.runtime = Runtime(
        settings=settings, engine=engine, sources=sources, limiter=RateLimiter(default_rate=0, min_burst=1),
        publisher=broker,  # type: ignore[arg-type]
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:

        def post(source: str, n: int) -> Any:
            body = [{"text": f"{source} event {i}"} for i in range(n)]
            return client.post("/v1/events", json=body, headers={"X-API-Key": keys[source]})

        waiting = asyncio.create_task(post("flood", 8))  # 8 events wait for the broker
        while not app.state.runtime.in_flight.get("flood"):
            await asyncio.sleep(0.01)
        refused = await post("flood", 5)  # 8 + 5 > 10
        assert refused.status_code == 429 and refused.json()["reason"] == "source_busy"
        assert refused.headers["Retry-After"] == "1"
        other = asyncio.create_task(post("quiet", 5))  # another source is not refused
        await asyncio.sleep(0.05)
        broker.release.set()
        assert (await waiting).status_code == 202 and (await other).status_code == 202
        assert app.state.runtime.in_flight == {"flood": 0, "quiet": 0}
        assert (await post("flood", 5)).status_code == 202  # once acknowledged, the source may send again
    engine.dispose()
