"""Batching follows the load (services/ingest/publisher.py): a lone event goes to the broker at once, without a
fixed linger; events arriving together leave in shared produce requests. The broker is real; the test only
counts the produce requests the client sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.protocol.produce import ProduceRequest

from services.ingest.intake import Record
from services.ingest.publisher import Publisher
from services.ingest.settings import IngestSettings
from shared.settings import KafkaSettings


def _record(i: int) -> Record:
    return Record(
        index=i, part=None, id=f"id-{i}", channel="chat", key=f"customer-{i % 7}".encode(), headers=[], value=b"{}"
    )


class ProduceSpy:
    """Wraps the producer's client.send: counts produce requests (and their records) and when each was sent."""

    def __init__(self, publisher: Publisher) -> None:
        assert publisher.producer is not None
        client: Any = publisher.producer.client
        self.requests: list[float] = []
        real_send = client.send
        loop = asyncio.get_running_loop()

        async def send(node_id: int, request: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(request, ProduceRequest):
                self.requests.append(loop.time())
            return await real_send(node_id, request, *args, **kwargs)

        client.send = send


@pytest.fixture
async def publisher(kafka: KafkaSettings) -> AsyncIterator[Publisher]:
    settings = IngestSettings()
    running = Publisher(
        kafka, topic=kafka.topics.received, timeout=10.0, linger_ms=settings.linger_ms, probe_interval=30.0
    )
    await running.start()
    assert running.up
    await running.publish([_record(-1)])  # metadata and the connection to the leader, before anything is counted
    try:
        yield running
    finally:
        await running.stop()


def test_default_linger_is_zero() -> None:
    assert IngestSettings().linger_ms == 0


async def test_a_lone_event_is_sent_before_any_linger_would_end(publisher: Publisher) -> None:
    spy = ProduceSpy(publisher)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.05)  # nothing in flight
    sent = loop.time()
    await publisher.publish([_record(1)])
    assert len(spy.requests) == 1
    # The record is handed to the broker as soon as the sender runs, not after a wait: a 25 ms linger (the old
    # default) would put at least 25 ms between the send and the produce request.
    assert spy.requests[0] - sent < 0.02


async def test_events_arriving_together_share_produce_requests(publisher: Publisher) -> None:
    spy = ProduceSpy(publisher)
    n = 300
    # Single-event publishes from many concurrent requests, as the HTTP path makes them.
    await asyncio.gather(*(publisher.publish([_record(i)]) for i in range(n)))
    # Every one acknowledged (publish raises otherwise), in far fewer round trips than events: while one produce
    # request is in flight the next events wait for it and leave together.
    assert 1 <= len(spy.requests) <= n // 5


async def test_a_batch_is_acknowledged_as_a_whole(publisher: Publisher) -> None:
    spy = ProduceSpy(publisher)
    await publisher.publish([_record(i) for i in range(500)])
    assert len(spy.requests) <= 50
