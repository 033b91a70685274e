"""Kafka helpers: producer and consumer factories, topic creation, and the commit-after-work loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ConsumerStoppedError, KafkaError, TopicAlreadyExistsError
from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

CONSUMER_LAG = Gauge(
    "journeyline_consumer_lag",
    "Records between the consumer's position and the partition's high watermark",
    ["group", "topic", "partition"],
)
CONSUMER_RECORDS = Counter(
    "journeyline_consumer_records_total", "Records a consumer group has processed", ["group", "topic"]
)
CONSUMER_ERRORS = Counter(
    "journeyline_consumer_errors_total", "Consumer loop errors that caused a back-off", ["group", "kind"]
)
DLQ_RECORDS = Counter(
    "journeyline_dlq_records_total", "Records sent to the dead-letter topic", ["group", "topic", "reason"]
)

BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[None]]


def make_producer(
    settings: KafkaSettings, *, client_id: str, linger_ms: int = 5, transactional_id: str | None = None
) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas: a send returns only once the broker has it.

    With `transactional_id` (Apache Kafka only) it is transactional: see `ConsumerLoop(transactional=...)`."""
    if transactional_id is not None and settings.engine != "kafka":
        raise ValueError("transactions need Apache Kafka: the embedded broker has no transactional producer")
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.idempotent or transactional_id is not None,
        transactional_id=transactional_id,
        # An instance that dies mid-transaction blocks read_committed readers until the broker aborts it: keep
        # that short. A restart with the same id aborts it at once.
        transaction_timeout_ms=10000,
        linger_ms=linger_ms,
        max_request_size=settings.max_request_size,
        request_timeout_ms=settings.request_timeout_ms,
        retry_backoff_ms=200,
    )


def make_consumer(settings: KafkaSettings, *, group: str, topics: Sequence[str], client_id: str) -> AIOKafkaConsumer:
    """A consumer with manual commits: offsets move only after the work is done."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        request_timeout_ms=max(settings.request_timeout_ms, settings.session_timeout_ms + 5000),
        max_partition_fetch_bytes=settings.max_request_size,
        # Tansu does not answer a waiting fetch early when records arrive: a short wait keeps each hop fast there.
        fetch_max_wait_ms=settings.fetch_wait_ms,
        isolation_level=settings.isolation_level,
        fetch_max_bytes=max(52428800, settings.max_request_size),
    )


async def ensure_topics(settings: KafkaSettings, topics: Sequence[str] | None = None) -> None:
    """Create the topics that do not exist yet (idempotent)."""
    names = list(topics) if topics is not None else settings.topics.all()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=name, num_partitions=settings.partitions, replication_factor=1)
            for name in names
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics", extra={"topics": [t.name for t in wanted]})
    finally:
        await admin.close()


async def broker_reachable(producer: AIOKafkaProducer, *, timeout: float = 1.5) -> bool:
    """True when the broker answers a metadata request within `timeout` seconds."""
    try:
        return bool(await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout))
    except (TimeoutError, KafkaError, OSError):
        return False


def record_ref(record: ConsumerRecord) -> str:
    """`topic[partition]@offset`, for log lines."""
    return f"{record.topic}[{record.partition}]@{record.offset}"


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value is not None:
            decoded: str = bytes(value).decode("utf-8", "replace")
            return decoded
    return None


async def send_to_dlq(
    producer: AIOKafkaProducer, *, dlq_topic: str, record: ConsumerRecord, group: str, reason: str, error: str
) -> None:
    """Copy a record that cannot be processed to the dead-letter topic, with why in its headers."""
    headers = list(record.headers or ())
    headers += [
        ("dlq_reason", reason.encode()),
        ("dlq_error", error[:1000].encode("utf-8", "replace")),
        ("dlq_group", group.encode()),
        ("dlq_source", record_ref(record).encode()),
    ]
    await producer.send_and_wait(dlq_topic, value=record.value, key=record.key, headers=headers)
    DLQ_RECORDS.labels(group, record.topic, reason).inc()
    log.warning("sent to DLQ", extra={"ref": record_ref(record), "reason": reason, "error": error[:200]})


class ConsumerLoop:
    """Reads a poll's records, hands them to `handle` at once, then commits `offset + 1` per partition.

    `handle` must finish the work (produce acknowledged, rows committed) or raise. A raised
    `KafkaError` or `RetryableError` makes the loop back off and re-read from the last commit;
    `handle` itself decides which records are poison and sends them to the DLQ.

    With `transactional` (a transactional producer, Apache Kafka only) every poll is one Kafka transaction:
    what `handle` produces through that producer and the consumer's new offsets commit together or not at all,
    so a crash mid-batch leaves no record visible to `read_committed` readers and the batch is read again.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        handle: BatchHandler,
        *,
        group: str,
        max_records: int = 500,
        poll_timeout_ms: int = 200,
        min_poll_interval_ms: int = 0,
        max_backoff: float = 5.0,
        transactional: AIOKafkaProducer | None = None,
    ) -> None:
        self.consumer = consumer
        self.transactional = transactional
        self.min_poll_interval = min_poll_interval_ms / 1000
        self.handle = handle
        self.group = group
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.max_backoff = max_backoff
        self.running = False
        self.healthy = True
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.running = True
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.group}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to finish its current batch, then stop the consumer."""
        self.running = False
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self._task.cancel()
        await self.consumer.stop()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        backoff = 0.2
        while self.running:
            polled_at = time.monotonic()
            try:
                batches = await self.consumer.getmany(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
                # One handler call and one commit for the whole poll: a transaction per partition would hold
                # only a sixth of the records and pay the fixed cost of a batch six times. Records keep their
                # order within each partition (and so per key, per customer).
                polled = {tp: records for tp, records in batches.items() if records}
                if polled:
                    await self._process(polled)
                    for tp, records in polled.items():
                        CONSUMER_RECORDS.labels(self.group, tp.topic).inc(len(records))
                await self._export_lag()
                self.healthy, self.last_error, backoff = True, None, 0.2
                if polled and sum(map(len, polled.values())) < self.max_records:
                    await self._pace(polled_at)
            except ConsumerStoppedError:
                return
            except (KafkaError, RetryableError, OSError) as exc:
                await self._back_off(exc, backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in a handler: keep the offsets, report unhealthy, retry
                log.exception("consumer handler failed", extra={"group": self.group})
                await self._back_off(exc, backoff, kind="handler")
                backoff = min(backoff * 2, self.max_backoff)

    async def _process(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Hand the poll to `handle`, then commit `offset + 1` per partition (in the transaction, if any)."""
        records = [record for records in polled.values() for record in records]
        offsets = {tp: records[-1].offset + 1 for tp, records in polled.items()}
        if self.transactional is None:
            await self.handle(records)
            await self.consumer.commit(offsets)
            return
        async with self.transactional.transaction():
            await self.handle(records)
            await self.transactional.send_offsets_to_transaction(offsets, self.group)

    async def _pace(self, polled_at: float) -> None:
        """Poll at most once per `min_poll_interval` while the polls come back short of a full batch.

        Every fetch makes the embedded broker walk a partition's record batches from the start (its cost grows
        with what it retains); a consumer that fetches again the moment it has handled a few records fetches
        hundreds of times a second. Waiting lets records gather into fewer, larger batches: fewer fetches,
        commits and transactions for the same records. On Apache Kafka the fetch is cheap, but the handling is
        not: at 2,000 events/s without pacing, polls of a few records each meant a transaction (classify) or a
        database commit (accountability) per few records, and accountability fell behind (docs/performance.md).
        `fetch_min_bytes` would batch too, but holds a lone record for the whole `fetch_max_wait_ms`."""
        rest = self.min_poll_interval - (time.monotonic() - polled_at)
        if rest > 0:
            await asyncio.sleep(rest)

    async def _back_off(self, exc: BaseException, delay: float, kind: str = "") -> None:
        self.healthy = False
        self.last_error = f"{type(exc).__name__}: {exc}"
        CONSUMER_ERRORS.labels(self.group, kind or type(exc).__name__).inc()
        log.warning("consumer backing off", extra={"group": self.group, "error": self.last_error, "delay": delay})
        # Rewind to the last committed offsets so nothing read-but-unfinished is skipped.
        for tp in self.consumer.assignment():
            try:
                committed = await self.consumer.committed(tp)
                if committed is not None:
                    self.consumer.seek(tp, committed)
                else:
                    await self.consumer.seek_to_beginning(tp)
            except (KafkaError, OSError, AssertionError, ValueError):
                break
        await asyncio.sleep(delay)

    async def _export_lag(self) -> None:
        """Lag = high watermark - position, from the last fetch: right on both brokers and free (no request).
        `end_offsets` would cost a ListOffsets request per export, and Tansu answers "latest" wrongly."""
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                continue
            position = await self.consumer.position(tp)
            CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(0, high - position))


class RetryableError(Exception):
    """A handler's way to say: nothing is wrong with the records, try the batch again later."""
