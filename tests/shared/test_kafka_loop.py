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


async def test_short_polls_are_paced_so_records_gather_into_fewer_batches(kafka: KafkaSettings) -> None:
    group = kafka.topics.group("paced")
    calls: list[tuple[float, int]] = []

    async def handle(records) -> None:
        calls.append((asyncio.get_running_loop().time(), len(records)))

    consumer = make_consumer(kafka, group=group, topics=[kafka.topics.received], client_id="paced")
    await consumer.start()
    loop = ConsumerLoop(consumer, handle, group=group, min_poll_interval_ms=400)
    loop.start()
    producer = make_producer(kafka, client_id="trickle")
    await producer.start()
    try:
        await asyncio.sleep(1.0)  # joined and polling
        for i in range(40):  # one record every 25 ms: an unpaced loop would handle them one or two at a time
            await (await producer.send(kafka.topics.received, f"t{i}".encode(), key=f"k{i % 3}".encode()))
            await asyncio.sleep(0.025)
        await _until(lambda: sum(n for _, n in calls) >= 40)
    finally:
        await producer.stop()
        await loop.stop()
    assert sum(n for _, n in calls) == 40
    gaps = [later - earlier for (earlier, _), (later, _) in zip(calls, calls[1:], strict=False)]
    # Polls start at least 400 ms apart; a handler call may come up to one poll timeout (200 ms) after its poll
    # started, so two calls are at least 200 ms apart (an unpaced loop: about 25 ms, a record at a time).
    assert min(gaps) >= 0.19, gaps
    assert len(calls) < 20, calls


async def test_a_full_poll_is_not_paced(kafka: KafkaSettings) -> None:
    await _produce(kafka, 30)
    sizes: list[int] = []

    async def handle(records) -> None:
        sizes.append(len(records))

    group = kafka.topics.group("full")
    consumer = make_consumer(kafka, group=group, topics=[kafka.topics.received], client_id="full")
    await consumer.start()
    # A 5 s interval: if full polls were paced too, 30 records in polls of 5 would take 25 s, not seconds.
    loop = ConsumerLoop(consumer, handle, group=group, max_records=5, min_poll_interval_ms=5000)
    loop.start()
    try:
        await _until(lambda: sum(sizes) >= 30, timeout=15)
    finally:
        await loop.stop()
    assert sum(sizes) == 30 and max(sizes) == 5
