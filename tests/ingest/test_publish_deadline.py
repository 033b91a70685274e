"""The single-event publish keeps its deadline: acknowledged in time, or BrokerUnavailable once `timeout` has passed
(over the send and the ack together), and the late acknowledgement is neither cancelled nor lost. Only the deadline
logic is under test here, so the producer is a stand-in; every path through a real broker is in test_batching.py,
test_durability.py and the fault suites."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from services.ingest.intake import Record
from services.ingest.publisher import BrokerUnavailable, Publisher
from shared.settings import KafkaSettings

TIMEOUT = 0.2


class Producer:
    """`send` returns the record's acknowledgement future, after `send_delay` (a full buffer, missing metadata)."""

    def __init__(self, send_delay: float = 0.0) -> None:
        self.send_delay = send_delay
        self.acks: list[asyncio.Future[object]] = []

    async def send(self, topic: str, **record: Any) -> asyncio.Future[object]:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


def _publisher(producer: Producer) -> Publisher:
    publisher = Publisher(KafkaSettings(), topic="t", timeout=TIMEOUT, linger_ms=0, probe_interval=60)
    publisher.producer, publisher.up = producer, True  # type: ignore[assignment]
    return publisher


RECORD = Record(index=0, part=None, id="e1", channel="chat", key=b"k", headers=[], value=b"{}")


async def test_acknowledged_in_time_returns() -> None:
    producer = Producer()
    publish = asyncio.create_task(_publisher(producer).publish([RECORD]))
    while not producer.acks:
        await asyncio.sleep(0)
    producer.acks[0].set_result(object())
    await asyncio.wait_for(publish, 1)


async def test_no_acknowledgement_in_time_is_503_and_the_late_one_is_not_cancelled() -> None:
    producer = Producer()
    started = time.perf_counter()
    with pytest.raises(BrokerUnavailable):
        await _publisher(producer).publish([RECORD])
    assert TIMEOUT <= time.perf_counter() - started < TIMEOUT + 0.5
    ack = producer.acks[0]
    assert not ack.cancelled()  # the broker may still acknowledge it: that is not ours to stop
    ack.set_result(object())  # and when it does, nothing breaks
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_send_that_waits_past_the_deadline_is_503() -> None:
    started = time.perf_counter()
    with pytest.raises(BrokerUnavailable):
        await _publisher(Producer(send_delay=10)).publish([RECORD])
    assert time.perf_counter() - started < TIMEOUT + 0.5


async def test_a_broker_error_is_503() -> None:
    producer = Producer()
    publish = asyncio.create_task(_publisher(producer).publish([RECORD]))
    while not producer.acks:
        await asyncio.sleep(0)
    producer.acks[0].set_exception(KafkaConnectionError("gone"))
    with pytest.raises(BrokerUnavailable):
        await asyncio.wait_for(publish, 1)


async def test_a_cancelled_request_is_cancelled_not_503() -> None:
    """A client that goes away cancels its request: that is not the broker's fault, and not a timeout."""
    producer = Producer()
    publish = asyncio.create_task(_publisher(producer).publish([RECORD]))
    while not producer.acks:
        await asyncio.sleep(0)
    publish.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publish
    assert not producer.acks[0].cancelled()
