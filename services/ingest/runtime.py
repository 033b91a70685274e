"""The running ingest service: database engine, API-key cache, rate limiter, admission and the producer - built
from the settings in the lifespan, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from services.ingest import metrics
from services.ingest.adapters.common import set_pseudonym_key
from services.ingest.admission import Admission
from services.ingest.auth import RateLimiter, SourceCache
from services.ingest.publisher import Publisher
from services.ingest.settings import IngestSettings
from shared.db import database_reachable, make_engine
from shared.http import ReadinessCheck
from shared.settings import refuse_placeholder_secrets
from shared.wiring import all_ready

log = logging.getLogger(__name__)


class Runtime:
    """Everything a request needs. Building it opens nothing (the engine connects, and makes a SQLite file's
    folder, on first use); `start` loads the sources and connects the producer. Tests may pass their own parts."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        engine: Engine | None = None,
        sources: SourceCache | None = None,
        limiter: RateLimiter | None = None,
        publisher: Publisher | None = None,
        admission: Admission | None = None,
    ) -> None:
        refuse_placeholder_secrets(
            settings, INGEST_ADMIN_TOKEN=settings.admin_token, INGEST_PSEUDONYM_KEY=settings.pseudonym_key
        )
        self.settings = settings
        self.engine = engine if engine is not None else make_engine(settings.database_url)
        self.sources = sources or SourceCache(self.engine, refresh_seconds=settings.key_refresh_seconds)
        # With INGEST_WORKERS processes, each enforces its share of a source's rate and in-flight cap.
        self.limiter = limiter or RateLimiter(
            default_rate=settings.rate_limit_per_second,
            min_burst=settings.max_batch_items,
            workers=settings.worker_share,
        )
        kafka = settings.kafka
        self.topic = kafka.topics.received
        self.publisher = publisher or Publisher(
            kafka,
            topic=self.topic,
            timeout=settings.produce_timeout_seconds,
            linger_ms=settings.linger_ms,
            probe_interval=settings.health_interval_seconds,
        )
        # Events each source has handed to the broker and not yet had acknowledged: one source's flood may fill at
        # most INGEST_MAX_INFLIGHT_PER_SOURCE of the producer, and at most its fair share of a budget that follows
        # the broker's acknowledgement time (admission.py), so other sources' events are not held up behind it.
        self.admission = admission or Admission(
            ceiling=max(1, settings.max_inflight_per_source // settings.worker_share),
            floor=max(1, settings.max_batch_items // 10),
            target=settings.produce_timeout_seconds / 4,
            max_wait=settings.produce_timeout_seconds,
        )
        self._flusher: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> dict[str, int]:
        """Events waiting for the broker, per source."""
        return self.admission.in_flight

    async def start(self) -> None:
        set_pseudonym_key(self.settings.pseudonym_key)
        try:
            await self.sources.refresh()  # creates ingest's tables first
        except Exception as exc:  # the database may come later; /readyz says so meanwhile
            log.warning("database not ready at start", extra={"error": type(exc).__name__})
        self.sources.start()
        await self.publisher.start()
        self._flusher = asyncio.create_task(metrics.HOT.run(), name="ingest-metrics-flush")
        log.info("ingest ready", extra={"topic": self.topic})

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()  # flushes once more as it ends
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.publisher.stop()
        await self.sources.stop()
        self.engine.dispose()

    def checks(self) -> Mapping[str, ReadinessCheck]:
        return {"broker": self.broker_ready, "database": self.database_ready}

    async def ready(self) -> bool:
        return await all_ready(self.checks())

    async def broker_ready(self) -> bool:
        return self.publisher.up

    async def database_ready(self) -> bool:
        return self.sources.loaded and await asyncio.to_thread(database_reachable, self.engine)
