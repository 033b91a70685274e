"""Settings shared by every service: Kafka, topics, database. Built once by each service and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypedDict

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import gil, heap

DEFAULT_JOURNEY_MAP = Path(__file__).with_name("journey_default.yaml")
DEFAULT_DATABASE_URL = "sqlite:///var/journeyline.db"


class Topics(BaseModel):
    """Topic names; a prefix lets tests and tenants run side by side on one broker."""

    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def received(self) -> str:
        return self._name("cx.feedback.received")

    @property
    def classified(self) -> str:
        return self._name("cx.feedback.classified")

    @property
    def dlq(self) -> str:
        return self._name("cx.feedback.dlq")

    @property
    def alerts(self) -> str:
        return self._name("cx.alerts")

    @property
    def corrections(self) -> str:
        return self._name("cx.feedback.corrections")

    @property
    def followups(self) -> str:
        return self._name("cx.followups")

    def all(self) -> list[str]:
        return [self.received, self.classified, self.dlq, self.alerts, self.corrections, self.followups]

    def group(self, name: str) -> str:
        return f"{self.prefix}{name}"


class KafkaSettings(BaseModel):
    """Client settings for one broker. `engine` says which: Apache Kafka (production) or the embedded Tansu;
    the settings left unset take that engine's defaults (`_ENGINE_DEFAULTS`)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    engine: Literal["kafka", "tansu"] = "kafka"
    # Tansu rejects aiokafka's InitProducerId v0, so the idempotent producer is on for Apache Kafka only.
    enable_idempotence: bool | None = None
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1500
    request_timeout_ms: int = 5000
    max_request_size: int = 2 * 1024 * 1024
    # Kafka answers a waiting fetch as soon as a record arrives, Tansu only when the wait is over.
    fetch_max_wait_ms: int | None = None
    # Pacing short polls (ConsumerLoop._pace) keeps Tansu's per-fetch cost down and, on both brokers, batches
    # a busy stream's records into fewer transactions and commits.
    min_poll_interval_ms: int | None = None
    # 3, not Kafka's usual 6+: the embedded broker's fetch cost grows with the record batches a partition
    # retains, and fewer partitions mean fuller batches (docs/performance.md). docker-compose sets 6 for Kafka.
    partitions: int = 3
    topics: Topics = Field(default_factory=Topics)

    @model_validator(mode="after")
    def _engine_defaults(self) -> KafkaSettings:
        for name, value in _ENGINE_DEFAULTS[self.engine].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        return self

    @property
    def idempotent(self) -> bool:
        return bool(self.enable_idempotence)

    @property
    def fetch_wait_ms(self) -> int:
        return int(self.fetch_max_wait_ms or 0)

    @property
    def poll_interval_ms(self) -> int:
        return int(self.min_poll_interval_ms or 0)

    @property
    def isolation_level(self) -> str:
        """`read_committed` on Kafka, so a consumer never sees an aborted transaction's records."""
        return "read_committed" if self.engine == "kafka" else "read_uncommitted"


_ENGINE_DEFAULTS: dict[str, dict[str, object]] = {
    # Kafka consumers pace short polls too: not for the broker's sake, but so that at thousands of events a
    # second each poll's records are handled (one transaction, one database commit) together (docs/performance.md).
    "kafka": {"enable_idempotence": True, "fetch_max_wait_ms": 500, "min_poll_interval_ms": 50},
    "tansu": {"enable_idempotence": False, "fetch_max_wait_ms": 50, "min_poll_interval_ms": 50},
}


class DocsUrls(TypedDict):
    docs_url: str | None
    redoc_url: str | None
    openapi_url: str | None


class CommonSettings(BaseSettings):
    """Fields every service reads under the same, unprefixed environment names."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: str = Field(default="development", validation_alias="JOURNEYLINE_ENV")
    log_level: str = Field(default="INFO", validation_alias="JOURNEYLINE_LOG_LEVEL")
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_engine: Literal["kafka", "tansu"] = Field(default="kafka", validation_alias="KAFKA_ENGINE")
    kafka_enable_idempotence: bool | None = Field(default=None, validation_alias="KAFKA_ENABLE_IDEMPOTENCE")
    kafka_partitions: int = Field(default=3, ge=1, validation_alias="KAFKA_PARTITIONS")
    kafka_session_timeout_ms: int = Field(default=6000, validation_alias="KAFKA_SESSION_TIMEOUT_MS")
    kafka_fetch_max_wait_ms: int | None = Field(default=None, ge=0, validation_alias="KAFKA_FETCH_MAX_WAIT_MS")
    kafka_min_poll_interval_ms: int | None = Field(default=None, ge=0, validation_alias="KAFKA_MIN_POLL_INTERVAL_MS")
    topic_prefix: str = Field(default="", validation_alias="JOURNEYLINE_TOPIC_PREFIX")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    journey_map: Path = Field(default=DEFAULT_JOURNEY_MAP, validation_alias="JOURNEYLINE_JOURNEY_MAP")
    # /metrics answers only with `Authorization: Bearer <token>` when set (Prometheus: `authorization:` in the
    # scrape config); /docs, /redoc and /openapi.json are served only when api_docs is on.
    metrics_token: str | None = Field(default=None, validation_alias="JOURNEYLINE_METRICS_TOKEN")
    api_docs: bool = Field(default=True, validation_alias="JOURNEYLINE_API_DOCS")
    # After start-up: the start-up heap is frozen and the collector's young generation is this large (0: Python's
    # defaults, nothing frozen). See shared/heap.py.
    gc_young_objects: int = Field(default=heap.DEFAULT_YOUNG, ge=0, validation_alias="JOURNEYLINE_GC_YOUNG_OBJECTS")
    # Before start-up: the process's threads share at most this many C heap arenas (glibc; 0: glibc's default, 8 per
    # core). See shared/heap.py.
    malloc_arenas: int = Field(default=heap.DEFAULT_ARENAS, ge=0, le=64, validation_alias="JOURNEYLINE_MALLOC_ARENAS")
    # After start-up: a thread waiting for the interpreter gets it after this many milliseconds (Python: 5; 0 leaves
    # Python's). See shared/gil.py.
    switch_interval_ms: float = Field(
        default=gil.DEFAULT_MS, ge=0, le=100, validation_alias="JOURNEYLINE_SWITCH_INTERVAL_MS"
    )

    def docs_urls(self) -> DocsUrls:
        """FastAPI's docs_url / redoc_url / openapi_url: None each when the API docs are switched off."""
        on = self.api_docs
        return DocsUrls(
            docs_url="/docs" if on else None,
            redoc_url="/redoc" if on else None,
            openapi_url="/openapi.json" if on else None,
        )

    @property
    def is_production(self) -> bool:
        return self.environment.lower() in {"production", "prod"}

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.kafka_bootstrap_servers,
            engine=self.kafka_engine,
            enable_idempotence=self.kafka_enable_idempotence,
            session_timeout_ms=self.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(500, self.kafka_session_timeout_ms // 4),
            partitions=self.kafka_partitions,
            fetch_max_wait_ms=self.kafka_fetch_max_wait_ms,
            min_poll_interval_ms=self.kafka_min_poll_interval_ms,
            topics=self.topics,
        )


def refuse_placeholder_secrets(settings: CommonSettings, **secrets: str | None) -> None:
    """Outside development, refuse to start with an empty or placeholder secret."""
    if not settings.is_production:
        return
    weak = [name for name, value in secrets.items() if not value or value.startswith("change-me")]
    if weak:
        raise ValueError(f"set real values for {', '.join(weak)} before running in production")
