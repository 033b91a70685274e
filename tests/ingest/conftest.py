"""Ingest fixtures: a real ingest process on the session broker, with its own topics and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import Session

from services.cli.brokers import Broker
from services.ingest.models import Adapter, SourceCreate
from services.ingest.sources import add_source, create_tables
from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.models import Channel
from shared.settings import KafkaSettings, Topics
from tests.support import ENGINE, ServiceProcess

ADMIN_TOKEN = "test-admin-token-0123456789"


@dataclass
class Ingest:
    process: ServiceProcess
    kafka: KafkaSettings
    database_url: str
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url


def start_ingest(bootstrap: str, workdir: Path, **env: str) -> Ingest:
    """Topics, a database with three sources, and `uvicorn services.ingest.main:app` on a free port."""
    return _start(bootstrap, workdir, create_topics=True, **env)


def start_ingest_without_broker(bootstrap: str, workdir: Path, **env: str) -> Ingest:
    """The same, for a broker that is not there yet: no topics, and no wait for /readyz."""
    return _start(bootstrap, workdir, create_topics=False, **env)


def _start(bootstrap: str, workdir: Path, *, create_topics: bool, **env: str) -> Ingest:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    kafka = KafkaSettings(engine=ENGINE, bootstrap_servers=bootstrap, topics=Topics(prefix=prefix))
    if create_topics:
        asyncio.run(ensure_topics(kafka))
    database_url = f"sqlite:///{workdir / 'ingest.db'}"
    engine = make_engine(database_url)
    create_tables(engine)
    keys = {}
    with Session(engine) as session:
        for name, channel, adapter, rate in (
            ("chat-tool", Channel.chat, Adapter.generic, 0.0),
            ("callcentre", Channel.call, Adapter.call_centre, 0.0),
            ("limited", Channel.email, Adapter.generic, 5.0),
        ):
            _, keys[name] = add_source(
                session=session, source=SourceCreate(name=name, channel=channel, adapter=adapter, rate_limit=rate)
            )
    engine.dispose()
    process_env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "JOURNEYLINE_TOPIC_PREFIX": prefix,
        "DATABASE_URL": database_url,
        "INGEST_ADMIN_TOKEN": ADMIN_TOKEN,
        "INGEST_KEY_REFRESH_SECONDS": "0.5",
        "INGEST_MAX_BATCH_ITEMS": "100",
        "INGEST_MAX_BODY_BYTES": "262144",
        **env,
    }
    process = ServiceProcess("ingest", process_env, workdir).start(wait_ready=create_topics)
    return Ingest(process=process, kafka=kafka, database_url=database_url, keys=keys)


@pytest.fixture(scope="module")
def ingest(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    running = start_ingest(broker.bootstrap_servers, tmp_path_factory.mktemp("ingest"))
    try:
        yield running
    finally:
        running.process.stop()
