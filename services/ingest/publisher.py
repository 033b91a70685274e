"""The producer side: send a request's records, wait for the broker's acks, never longer than a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.ingest import metrics
from services.ingest.intake import Record
from shared.kafka import broker_reachable, ensure_topics, make_producer
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker did not acknowledge every record in time; `acked` of them did."""

    def __init__(self, acked: list[str]) -> None:
        super().__init__("the broker did not acknowledge in time")
        self.acked = acked


class Publisher:
    """Owns the producer; a watcher probes the broker so a dead one is answered 503 at once and a returning
    one is used again without a restart.

    A publish that is not acknowledged in time does not by itself mark the broker down: under one source's flood
    the acknowledgements of a busy broker come late, and marking it down would answer 503 to every source until
    the next probe. It makes the watcher probe at once instead; only a broker that does not answer is down.

    Batching follows the load, not a clock: with `linger_ms=0` (INGEST_LINGER_MS, the default) aiokafka sends a
    partition's records as soon as no produce request is in flight to that broker; records that arrive while one is
    in flight wait for it and leave together in the next request. A lone event is sent at once; under load each
    request to the broker carries everything that arrived during the previous round trip."""

    def __init__(
        self, kafka: KafkaSettings, *, topic: str, timeout: float, linger_ms: int, probe_interval: float
    ) -> None:
        self.kafka, self.topic, self.timeout = kafka, topic, timeout
        self.linger_ms, self.probe_interval = linger_ms, probe_interval
        self.producer: AIOKafkaProducer | None = None
        self.up = False
        self._task: asyncio.Task[None] | None = None
        self._probe_now = asyncio.Event()

    async def start(self) -> None:
        self._set_up(await self._connect())
        self._task = asyncio.create_task(self._watch(), name="ingest-broker-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.producer is not None:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(self.producer.stop(), 10)
            self.producer = None

    async def publish(self, records: Sequence[Record]) -> None:
        """Send every record and wait for all acks; raise BrokerUnavailable if any is not acked in time."""
        producer = self.producer
        if producer is None or not self.up:
            raise BrokerUnavailable([])
        started = time.perf_counter()
        if len(records) == 1:
            await self._publish_one(producer, records[0])
        else:
            await self._publish_many(producer, records, started)
        metrics.HOT.observe(metrics.PRODUCE_DURATION, time.perf_counter() - started)

    async def _publish_one(self, producer: AIOKafkaProducer, record: Record) -> None:
        """The single-event path: one deadline over the send and the ack, as `asyncio.timeout` over a shielded
        wait gives, at less cost: a timer and a future instead of a context manager, a shield and their callbacks
        (docs/performance.md: 4 µs less of a single event's ~60 µs of ingest's own work, measured in-process)."""
        loop = asyncio.get_running_loop()
        deadline = _Deadline(loop, self.timeout)
        try:
            future = await producer.send(self.topic, value=record.value, key=record.key, headers=record.headers)
            # The deadline cancels this wait, not the send: the record may still be acknowledged.
            waiter: asyncio.Future[None] = loop.create_future()
            future.add_done_callback(functools.partial(_settle, waiter))
            await waiter
        except asyncio.CancelledError:
            if not deadline.expired():
                raise
            self._lost(TimeoutError("no acknowledgement in time"))
            raise BrokerUnavailable([]) from None
        except (TimeoutError, KafkaError) as exc:
            self._lost(exc)
            raise BrokerUnavailable([]) from None
        finally:
            deadline.cancel()

    async def _publish_many(self, producer: AIOKafkaProducer, records: Sequence[Record], started: float) -> None:
        deadline = started + self.timeout
        futures: list[asyncio.Future[object]] = []
        try:
            async with asyncio.timeout(self.timeout):
                for record in records:
                    futures.append(
                        await producer.send(self.topic, value=record.value, key=record.key, headers=record.headers)
                    )
        except (TimeoutError, KafkaError) as exc:
            self._lost(exc)
            raise BrokerUnavailable([]) from None
        # asyncio.wait (not gather): a timeout must not cancel futures that may still be acknowledged.
        done, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - time.perf_counter()))
        acked = [r.id for r, f in zip(records, futures, strict=True) if f in done and f.exception() is None]
        if pending or len(acked) < len(records):
            error = next((f.exception() for f in done if f.exception() is not None), None)
            self._lost(error or TimeoutError("no acknowledgement in time"))
            raise BrokerUnavailable(acked)

    def _lost(self, exc: BaseException | None) -> None:
        log.warning("broker did not acknowledge", extra={"error": type(exc).__name__ if exc else "timeout"})
        self._probe_now.set()  # the watcher decides whether the broker is down

    def _set_up(self, up: bool) -> None:
        self.up = up
        metrics.BROKER_UP.set(1 if up else 0)

    async def _connect(self) -> bool:
        producer = make_producer(self.kafka, client_id="journeyline-ingest", linger_ms=self.linger_ms)
        try:
            await asyncio.wait_for(producer.start(), max(self.timeout, 3.0))
            # Apache Kafka in production does not create topics on first use: make sure ours is there.
            await asyncio.wait_for(ensure_topics(self.kafka, [self.topic]), max(self.timeout, 10.0))
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("broker not reachable at start", extra={"error": type(exc).__name__})
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(producer.stop(), 3)
            return False
        self.producer = producer
        return True

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_now.wait(), self.probe_interval)
            self._probe_now.clear()
            try:
                if self.producer is None:
                    up = await self._connect()
                else:
                    up = await broker_reachable(self.producer, timeout=max(1.0, self.probe_interval))
                if up != self.up:
                    log.info("broker is %s", "back" if up else "unreachable")
                self._set_up(up)
            except Exception:  # the watcher must survive anything the client throws
                log.exception("broker probe failed")
                self._set_up(False)


class _Deadline:
    """Cancels the current task `seconds` from now, unless cancelled first; `expired` tells that cancellation apart
    from any other (which it takes back, as `asyncio.timeout` does, so the task is not left marked cancelled)."""

    __slots__ = ("_handle", "_task", "_fired")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        task = asyncio.current_task()
        assert task is not None, "a deadline needs a task"
        self._task, self._fired = task, False
        self._handle = loop.call_later(seconds, self._fire)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def expired(self) -> bool:
        """Whether this deadline cancelled the task; if so, the cancellation is taken back."""
        return self._fired and self._task.uncancel() == 0

    def cancel(self) -> None:
        self._handle.cancel()


def _settle(waiter: asyncio.Future[None], acked: asyncio.Future[object]) -> None:
    """Pass the broker's answer on to the request waiting for it (unless its deadline came first)."""
    if waiter.done():
        return
    if acked.cancelled():
        waiter.cancel()
    elif (error := acked.exception()) is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(None)
