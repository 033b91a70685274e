"""The hot-path side of API keys: an in-memory cache of active sources, and per-source rate limits."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.ingest import metrics
from services.ingest.models import Adapter, Source
from services.ingest.sources import active_sources, create_tables, hash_key
from shared.models import Channel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a request needs to know about the source that sent it."""

    name: str
    channel: Channel
    adapter: Adapter
    rate_limit: float | None
    redact: bool = True
    hook_vendor: str | None = None
    hook_secrets: tuple[str, ...] = ()
    hook_verify_token: str | None = None
    mapping: tuple[tuple[str, str], ...] = ()


class SourceCache:
    """key hash -> source, reloaded from the database every few seconds (so a revoke bites quickly)."""

    def __init__(self, engine: Engine, *, refresh_seconds: float) -> None:
        self.engine, self.refresh_seconds = engine, refresh_seconds
        self._by_hash: dict[str, SourceInfo] = {}
        self._by_name: dict[str, SourceInfo] = {}
        self.loaded = False
        self._series: set[tuple[str, Channel]] = set()
        self._task: asyncio.Task[None] | None = None
        self._miss_refresh: asyncio.Task[None] | None = None
        self._last_miss_refresh = 0.0
        self._changes = 0  # changes applied by `put`: a reload that read the table before one of them is stale

    def lookup(self, key: str | None) -> SourceInfo | None:
        if not key:
            return None
        return self._by_hash.get(hash_key(key))

    def by_name(self, name: str) -> SourceInfo | None:
        """An active source by name (for webhooks that authenticate by the vendor's signature, not a key)."""
        return self._by_name.get(name)

    async def lookup_or_reload(self, key: str | None, *, min_interval: float = 0.5) -> SourceInfo | None:
        """Like `lookup`, but an unknown key triggers one early reload (shared by concurrent misses, at most
        one per `min_interval`), so a key created a moment ago by the CLI or another replica works at once."""
        found = self.lookup(key)
        if found is not None or not key:
            return found
        if self._miss_refresh is None or self._miss_refresh.done():
            if time.monotonic() - self._last_miss_refresh < min_interval:
                return None
            self._last_miss_refresh = time.monotonic()
            self._miss_refresh = asyncio.create_task(self.refresh())
        try:
            await asyncio.shield(self._miss_refresh)
        except Exception as exc:  # database down: answer from the last good table
            log.warning("source cache reload on a miss failed", extra={"error": type(exc).__name__})
        return self.lookup(key)

    def _load(self) -> dict[str, SourceInfo]:
        if not self.loaded:  # the database may have been down at start-up: make sure the table exists
            create_tables(self.engine)
        with Session(self.engine) as session:
            rows = active_sources(session=session)
        return {row.key_hash: _info(row) for row in rows}

    async def refresh(self) -> None:
        while True:  # a `put` while the table was read may have committed after the read: read it again
            changes = self._changes
            table = await asyncio.to_thread(self._load)
            if changes == self._changes:
                break
        for info in table.values():
            self._init_series(info)
        self._by_hash, self.loaded = table, True
        self._by_name = {info.name: info for info in table.values()}

    def _init_series(self, info: SourceInfo) -> None:
        if (info.name, info.channel) not in self._series:
            metrics.init_source_series(info.name, info.channel.value)
            self._series.add((info.name, info.channel))

    def put(self, row: Source) -> None:
        """Apply a change made through this process's admin API at once."""
        table = {h: s for h, s in self._by_hash.items() if s.name != row.name}
        if row.revoked_at is None:
            table[row.key_hash] = info = _info(row)
            self._init_series(info)
        self._by_hash, self._changes = table, self._changes + 1
        self._by_name = {info.name: info for info in table.values()}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-source-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh()
            except Exception as exc:  # database down: keep serving the last good table
                log.warning("source cache refresh failed", extra={"error": type(exc).__name__})


def _info(row: Source) -> SourceInfo:
    return SourceInfo(
        name=row.name,
        channel=Channel(row.channel),
        adapter=Adapter(row.adapter),
        rate_limit=row.rate_limit,
        redact=row.redact is not False,
        hook_vendor=row.hook_vendor,
        hook_secrets=tuple(row.hook_secrets or ()),
        hook_verify_token=row.hook_verify_token,
        mapping=tuple((row.mapping or {}).items()),
    )


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token bucket per source, counted in events; the bucket holds at least one full batch.

    With several worker processes (INGEST_WORKERS) each one enforces `1/workers` of every source's rate, with
    nothing shared between them: the sum over the workers never exceeds the source's limit (plus each worker's
    bucket, at least one full batch). The kernel spreads connections over the workers, so a source posting on
    several connections gets its whole rate; one posting on a single keep-alive connection reaches one worker and
    gets `rate/workers` (its 429 says when to retry)."""

    default_rate: float
    min_burst: int
    workers: int = 1
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")

    def rate_of(self, source: SourceInfo) -> float:
        """This worker's share of the source's events/s (0: unlimited)."""
        rate = self.default_rate if source.rate_limit is None else source.rate_limit
        return rate / self.workers if rate > 0 else 0.0

    def take(self, source: SourceInfo, count: int) -> float:
        """Take `count` tokens; return 0 when allowed, else the seconds to wait before retrying."""
        rate = self.rate_of(source)
        if rate <= 0:
            return 0.0
        burst = max(rate * 2, float(self.min_burst))
        now = self.clock()
        bucket = self._buckets.get(source.name)
        if bucket is None:
            bucket = self._buckets[source.name] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= count:
            bucket.tokens -= count
            return 0.0
        return max(1.0, math.ceil((count - bucket.tokens) / rate))
