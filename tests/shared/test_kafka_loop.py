"""The commit-after-work loop, on the real embedded broker."""

import asyncio

import pytest
from aiokafka import TopicPartition

from shared.kafka import ConsumerLoop, RetryableError, make_consumer, make_producer
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def _produce(kafka: KafkaSettings, count: int) -> None:
    producer = make_producer(kafka, client_id="test")
    await producer.start()
    try:
        for i in range(count):
            await producer.send(kafka.topics.received, f"v{i}".encode(), key=f"k{i % 3}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _committed_total(kafka: KafkaSettings, group: str) -> int:
    consumer = make_consumer(kafka, group=group, topics=[], client_id="probe")
    await consumer.start()
    try:
        total = 0
        for partition in range(kafka.partitions):
            offset = await consumer.committed(TopicPartition(kafka.topics.received, partition))
            total += offset or 0
        return total
    finally:
        await consumer.stop()


async def _until(predicate, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_offsets_are_committed_only_after_the_handler_finished(kafka: KafkaSettings) -> None:
    await _produce(kafka, 30)
    seen: list[bytes] = []
    failures = {"left": 2}

    async def handle(records) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RetryableError("database unavailable")
        seen.extend(r.value for r in records)

    group = kafka.topics.group("loop")
    consumer = make_consumer(kafka, group=group, topics=[kafka.topics.received], client_id="loop")
    await consumer.start()
    loop = ConsumerLoop(consumer, handle, group=group)
    loop.start()
    try:
        await _until(lambda: len(set(seen)) == 30)
    finally:
        await loop.stop()
    # The failed batches were re-read from the last commit, not skipped; nothing was lost.
    assert sorted(set(seen)) == sorted(f"v{i}".encode() for i in range(30))
    assert await _committed_total(kafka, group) == 30


async def test_a_failing_handler_commits_nothing_and_the_next_member_resumes(kafka: KafkaSettings) -> None:
    await _produce(kafka, 12)

    async def broken(records) -> None:
        raise RetryableError("always down")

    group = kafka.topics.group("stuck")
    consumer = make_consumer(kafka, group=group, topics=[kafka.topics.received], client_id="stuck")
    await consumer.start()
    loop = ConsumerLoop(consumer, broken, group=group)
    loop.start()
    await _until(lambda: not loop.healthy)
    await loop.stop()
    assert loop.last_error is not None and "always down" in loop.last_error
    assert await _committed_total(kafka, group) == 0

    got: list[bytes] = []

    async def works(records) -> None:
        got.extend(r.value for r in records)

    consumer = make_consumer(kafka, group=group, topics=[kafka.topics.received], client_id="ok")
    await consumer.start()
    loop = ConsumerLoop(consumer, works, group=group)
    loop.start()
    try:
        await _until(lambda: len(got) >= 12)
    finally:
        await loop.stop()
    assert len(got) == 12
