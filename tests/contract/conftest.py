"""The contract tests' services: ingest and classify as real processes on the session broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.cli.brokers import Broker
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, Topics
from tests.ingest.conftest import ADMIN_TOKEN, Ingest, start_ingest
from tests.support import ENGINE, ServiceProcess


@pytest.fixture(scope="package")
def ingest(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    """`uvicorn services.ingest.main:app` with its own topics and database (sources chat-tool, callcentre, limited)."""
    running = start_ingest(broker.bootstrap_servers, tmp_path_factory.mktemp("contract-ingest"))
    try:
        yield running
    finally:
        running.process.stop()


@pytest.fixture(scope="package")
def classify(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """`uvicorn services.classify.main:app` with its own topics; the model is trained from the journey map at start-up."""
    workdir = tmp_path_factory.mktemp("contract-classify")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    asyncio.run(
        ensure_topics(
            KafkaSettings(engine=ENGINE, bootstrap_servers=broker.bootstrap_servers, topics=Topics(prefix=prefix))
        )
    )
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "JOURNEYLINE_TOPIC_PREFIX": prefix,
        "CLASSIFY_MODEL_DIR": str(workdir / "models"),
        "JOURNEYLINE_ENV": "development",
    }
    service = ServiceProcess("classify", env, workdir).start(timeout=90)
    try:
        yield service
    finally:
        service.stop()


def new_source(ingest: Ingest, name: str, adapter: str = "generic") -> str:
    """A new source of the running ingest, through its admin API; returns its key."""
    created = httpx.post(
        ingest.url + "/v1/sources",
        json={"name": f"{name}-{uuid.uuid4().hex[:8]}", "channel": "chat", "adapter": adapter, "rate_limit": 0},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    return key
