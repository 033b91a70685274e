"""Ingest settings: the shared Kafka/database fields plus the front door's own limits (env prefix INGEST_)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.http import MULTIPROC_ENV
from shared.settings import CommonSettings


class IngestSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore", populate_by_name=True)

    admin_token: str | None = Field(default=None, description="Bearer token for the /v1/sources admin API")
    pseudonym_key: str = Field(
        default="change-me-pseudonym-key",
        description="Key of the HMAC that turns phone numbers and e-mail addresses into customer pseudonyms",
    )
    max_batch_items: int = Field(default=1000, ge=1, description="Most events one request may carry")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest body of POST /v1/events")
    max_admin_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest body of every other route (the /v1/sources admin API)"
    )
    rate_limit_per_second: float = Field(
        default=2000.0, ge=0, description="Default events/s per source (0 = unlimited); a source may override it"
    )
    produce_timeout_seconds: float = Field(
        default=1.5, gt=0, description="Longest wait for the broker's acknowledgement before answering 503"
    )
    retry_after_seconds: int = Field(default=2, ge=1, description="Retry-After sent with 503 when the broker is down")
    key_refresh_seconds: float = Field(
        default=2.0, gt=0, description="How often the in-memory API-key cache reloads sources (revocation delay)"
    )
    health_interval_seconds: float = Field(default=1.0, gt=0, description="How often the broker is probed")
    max_inflight_per_source: int = Field(
        default=10_000, ge=1, description="Events one source may have waiting for the broker's acknowledgement"
    )
    max_future_skew_seconds: int = Field(default=600, ge=0, description="How far in the future occurred_at may be")
    linger_ms: int = Field(
        default=0,
        ge=0,
        description="Producer linger. 0 (the default) batches by load instead of by time: a record is sent at once "
        "when no produce request is in flight to its broker, and records arriving meanwhile fill the next batch",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes (unset: one per core). `journeyline dev` and the benches start this many "
        "workers with `python -m shared.serve` (connections handed to them in turn) and pass it on; each worker "
        "enforces 1/INGEST_WORKERS of every source's rate limit and in-flight cap, so a hand-written launch with "
        "`--workers N` must set INGEST_WORKERS=N as well",
    )

    @property
    def launch_workers(self) -> int:
        """How many worker processes a launcher starts."""
        return self.workers or os.cpu_count() or 1

    @property
    def worker_share(self) -> int:
        """How many processes share each source's limits (a process started without INGEST_WORKERS is alone)."""
        return self.workers or 1


def worker_launch(env: Mapping[str, str], run_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The launcher arguments and environment that start ingest as INGEST_WORKERS processes (unset: one per core)
    with `python -m shared.serve services.ingest.main:app` (the workers share the connections evenly): `--workers N`, INGEST_WORKERS=N so that each worker knows its share of every source's limits, and with more
    than one worker PROMETHEUS_MULTIPROC_DIR, a fresh directory under `run_dir` where every worker keeps its
    metrics, so that a scrape, whichever worker answers it, counts the events of all of them."""
    workers = int(env.get("INGEST_WORKERS") or 0) or os.cpu_count() or 1
    if workers == 1:
        return [], {"INGEST_WORKERS": "1"}
    metrics = run_dir / "ingest-metrics"
    shutil.rmtree(metrics, ignore_errors=True)  # counters start at zero with the processes, as in one process
    metrics.mkdir(parents=True)
    return ["--workers", str(workers)], {"INGEST_WORKERS": str(workers), MULTIPROC_ENV: str(metrics.resolve())}
